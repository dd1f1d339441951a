"""``kitchen-agent discover`` as people and scripts use it (real processes, real sockets)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.contract import KEYS, PROFILE_KEYS
from testkit.fake_onvif import DEFAULT_PASSWORD, OTHER_PASSWORD
from testkit.netns import REPO, _env
from testkit.onvif_fixtures import FakeCameraFactory, require_netns


def discover(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "agent", "discover", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=_env(None),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def write_config(tmp_path: Path, static: list[str], password: str = DEFAULT_PASSWORD) -> Path:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "camera-password").write_text(password + "\n")
    config: dict[str, Any] = {
        "store": {
            "id": "store-1",
            "name": "老王面馆",
            "licence_number": "JY23101040012345",
            "district": "xuhui",
            "address": "上海市徐汇区漕溪北路 1 号",
            "kcps": ["cooking"],
        },
        "broker": {"url": "mqtt://127.0.0.1:1883"},
        "cameras": {
            "username": "admin",
            "static": static,
            "discovery": {"multicast": False, "timeout_s": 1.0},
        },
        "paths": {"state_dir": str(tmp_path / "state"), "credentials_dir": str(credentials)},
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_static_cameras_json_shape_errors_and_no_secrets(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    cameras = {
        p: fake_camera_factory(
            p,
            rtsp_main="rtsp://127.0.0.1:8554/main",
            rtsp_sub="rtsp://admin:leak@127.0.0.1:8554/sub",
        )
        for p in ("generic", "skewed", "other_password", "hang", "dahua")
    }
    config = write_config(tmp_path, [f"127.0.0.1:{c.port}" for c in cameras.values()])
    result = discover("--json", "--config", str(config), "--timeout", "1")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == ["cameras"]
    by_port = {int(c["address"].rsplit(":", 1)[1]): c for c in payload["cameras"]}
    assert set(by_port) == {c.port for c in cameras.values()}
    for camera in payload["cameras"]:
        assert list(camera) == KEYS
        for profile in camera["profiles"]:
            assert list(profile) == PROFILE_KEYS
    ok = by_port[cameras["generic"].port]
    assert ok["error"] is None and ok["id"] == "mac-" + cameras["generic"].mac.replace(":", "")
    assert ok["profiles"][1]["rtsp_uri"] == "rtsp://127.0.0.1:8554/sub"  # credentials stripped
    assert by_port[cameras["skewed"].port]["error"] is None
    assert by_port[cameras["skewed"].port]["clock_skew_s"] < -3600
    assert by_port[cameras["dahua"].port]["manufacturer"] == "Dahua"
    wrong = by_port[cameras["other_password"].port]
    assert wrong["error"]["code"] == "auth_failed"
    assert "password" in wrong["error"]["message"]
    assert by_port[cameras["hang"].port]["error"]["code"] == "timeout"
    everything = result.stdout + result.stderr
    for secret in (DEFAULT_PASSWORD, OTHER_PASSWORD, "leak"):
        assert secret not in everything


def test_readable_table_and_password_file(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    camera = fake_camera_factory("hikvision")
    config = write_config(tmp_path, [f"127.0.0.1:{camera.port}"], password="wrong-one")
    denied = discover("--config", str(config), "--timeout", "1")
    assert denied.returncode == 0
    assert "auth_failed" in denied.stdout and "1 with problems" in denied.stdout
    assert "camera-password.<id>" in denied.stdout  # where a camera's own password goes
    password_file = tmp_path / "pw"
    password_file.write_text(DEFAULT_PASSWORD)
    allowed = discover(
        "--config", str(config), "--timeout", "1", "--password-file", str(password_file)
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "HIKVISION DS-2CD2043G2-I" in allowed.stdout
    assert "1920x1080@25 H264" in allowed.stdout and "OK" in allowed.stdout
    assert "logging into 1 camera(s)" in allowed.stderr  # progress on stderr
    assert DEFAULT_PASSWORD not in allowed.stdout + allowed.stderr
    other_user = discover(
        "--config",
        str(config),
        "--timeout",
        "1",
        "--password-file",
        str(password_file),
        "--username",
        "operator",
    )
    assert "auth_failed" in other_user.stdout


def test_usage_and_config_errors(tmp_path: Path) -> None:
    assert discover("--timeout", "0", "--no-multicast").returncode == 2
    assert discover("--scan", "not-a-range", "--no-multicast").returncode == 2
    missing = discover("--json", "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 78
    assert json.loads(missing.stdout)["error"]["code"]


def test_nothing_to_do_without_multicast_is_an_empty_list() -> None:
    result = discover("--json", "--no-multicast")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"cameras": []}


@pytest.mark.netns
def test_no_usable_network_interface_exits_69() -> None:
    require_netns()
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    result = discover("--json", "--timeout", "1", prefix=("unshare", "-n"))
    assert result.returncode == 69, result.stderr
    assert json.loads(result.stdout)["error"]["code"] == "no_network"
    human = discover("--timeout", "1", prefix=("unshare", "-n"))
    assert human.returncode == 69
    assert "no usable network interface" in human.stderr


def test_own_password_named_after_the_id_a_refused_camera_is_listed_under(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    """The installer's way: discover, read the id of the camera that refused the shared
    password, put its own password in camera-password.<id>, discover again."""
    own = "cold-room-cam-pw"
    camera = fake_camera_factory("hikvision", password=own)
    config = write_config(tmp_path, [f"127.0.0.1:{camera.port}"])
    [refused] = json.loads(discover("--json", "--config", str(config)).stdout)["cameras"]
    assert refused["error"]["code"] == "auth_failed"
    assert refused["id"] == f"addr-127.0.0.1:{camera.port}"
    (tmp_path / "credentials" / f"camera-password.{refused['id']}").write_text(own + "\n")
    result = discover("--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    [found] = json.loads(result.stdout)["cameras"]
    assert found["error"] is None and found["manufacturer"] == "HIKVISION"
    mac_id = "mac-" + (camera.mac or "").replace(":", "")
    assert found["id"] == mac_id
    assert "camera_password_file_name" in result.stderr  # ... and store it as mac-... too
    assert f"camera-password.{mac_id}" in result.stderr
    assert own not in result.stdout + result.stderr
    assert "camera-password.<id>" in discover("--help").stdout
