"""Multicast WS-Discovery on a test LAN of 16 fake cameras in network namespaces.

The discover command and the cameras run as separate processes in their own namespaces;
everything goes over real UDP multicast/unicast and real HTTP.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.contract import KEYS as DISCOVER_CONTRACT_KEYS
from testkit.fake_onvif import DEFAULT_PASSWORD, OTHER_PASSWORD
from testkit.netns import TestLan
from testkit.onvif_fixtures import require_netns

pytestmark = [pytest.mark.netns]

# 16 cameras on the LAN: brands and the field's quirks, and one in another subnet.
LAN_PERSONAS = [
    "generic",
    "hikvision",
    "dahua",
    "zero_addr",
    "port_twice",
    "skewed",
    "hikvision+skewed",
    "reuse_msgid",
    "prefix_only",
    "malformed_probe_match",
    "other_password",
    "generic",
    "dahua+zero_addr",
    "hikvision",
    "generic",
]
FAR_PERSONA = "hikvision"  # behind a router: multicast does not get there


class Lan:
    def __init__(self, lan: TestLan, tmp: Path) -> None:
        self.lan = lan
        self.password_file = tmp / "camera-password"
        self.password_file.write_text(DEFAULT_PASSWORD, encoding="utf-8")
        self.cameras: list[dict[str, Any]] = []

    def start(self) -> None:
        specs = []
        for persona in LAN_PERSONAS:
            host = self.lan.add_camera_address()
            specs.append(
                f"persona={persona},host={host},port=8000,"
                f"rtsp_main=rtsp://{host}:554/main,rtsp_sub=rtsp://{host}:554/sub"
            )
        _, ready = self.lan.start_cameras(self.lan.cams_ns, specs, self.password_file)
        far_host = self.lan.add_far_address()
        _, far_ready = self.lan.start_cameras(
            self.lan.far_ns,
            [
                f"persona={FAR_PERSONA},host={far_host},port=8000,"
                f"rtsp_main=rtsp://{far_host}:554/main,rtsp_sub=rtsp://{far_host}:554/sub"
            ],
            self.password_file,
        )
        self.cameras = ready + far_ready

    def discover(self, *extra: str, timeout_s: float = 60.0) -> tuple[int, dict[str, Any], str]:
        result = self.lan.run(
            self.lan.agent_ns,
            [
                sys.executable,
                "-m",
                "agent",
                "discover",
                "--json",
                "--timeout",
                "2",
                "--password-file",
                str(self.password_file),
                *extra,
            ],
            timeout_s=timeout_s,
        )
        payload = json.loads(result.stdout) if result.stdout.strip() else {}
        return result.returncode, payload, result.stderr


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lan]:
    require_netns()
    test_lan = TestLan().up()
    try:
        kitchen = Lan(test_lan, tmp_path_factory.mktemp("lan"))
        kitchen.start()
        yield kitchen
    finally:
        test_lan.down()


def by_host(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {camera["address"].split(":")[0]: camera for camera in payload["cameras"]}


def test_multicast_and_scan_find_all_sixteen_cameras_and_inventory_them(lan: Lan) -> None:
    started = time.monotonic()
    code, payload, stderr = lan.discover("--scan", "198.51.100.8/29")
    elapsed = time.monotonic() - started
    assert code == 0, stderr
    found = by_host(payload)
    expected = {c["xaddr"].split("//")[1].split(":")[0] for c in lan.cameras}
    assert set(found) == expected, stderr
    assert len(found) == 16
    for camera in payload["cameras"]:
        assert list(camera) == DISCOVER_CONTRACT_KEYS
    wrong_password = [c for c in lan.cameras if c["persona"] == "other_password"]
    for camera in payload["cameras"]:
        host = camera["address"].split(":")[0]
        if any(host in c["xaddr"] for c in wrong_password):
            assert camera["error"]["code"] == "auth_failed"
            assert camera["profiles"] == []
            continue
        assert camera["error"] is None, camera
        assert camera["id"] == "mac-" + next(
            c["mac"] for c in lan.cameras if f"//{host}:" in c["xaddr"]
        ).replace(":", "")
        assert camera["xaddrs"] == [f"http://{host}:8000/onvif/device_service"]
        main, sub = camera["profiles"]
        assert (main["width"], main["height"], main["encoding"]) == (1920, 1080, "H264")
        assert (sub["width"], sub["height"]) == (640, 360)
        assert main["rtsp_uri"] == f"rtsp://{host}:554/main"
    # Skewed clocks are hours off and still authenticate.
    skewed = [c for c in payload["cameras"] if c["clock_skew_s"] and abs(c["clock_skew_s"]) > 3600]
    assert len(skewed) == 2 and all(c["error"] is None for c in skewed)
    # Passwords never appear in the output.
    assert DEFAULT_PASSWORD not in json.dumps(payload) + stderr
    assert OTHER_PASSWORD not in json.dumps(payload) + stderr
    assert elapsed < 20


def test_camera_behind_a_router_is_found_only_by_scan(lan: Lan) -> None:
    far = next(c for c in lan.cameras if "198.51.100." in c["xaddr"])
    far_host = far["xaddr"].split("//")[1].split(":")[0]
    code, payload, stderr = lan.discover()
    assert code == 0, stderr
    assert far_host not in by_host(payload)
    assert len(payload["cameras"]) == 15
    code, payload, stderr = lan.discover("--no-multicast", "--scan", "198.51.100.0/28")
    assert code == 0, stderr
    assert list(by_host(payload)) == [far_host]
    assert by_host(payload)[far_host]["manufacturer"] == "HIKVISION"
