"""Logins overlap discovery: a camera is inventoried while the window is still open.

Real multicast in a namespaced LAN, real HTTP to fake cameras, and the same round the
``discover`` command and the daemon run.
"""

from __future__ import annotations

import time

import pytest

from agent.capture.discovery import DiscoveryMessage, discover, static_message
from agent.capture.rounds import InventoryRound, RoundOptions, inventory_round
from agent.model import Camera, CameraLogin
from testkit.fake_onvif import DEFAULT_PASSWORD, FakeCamera
from testkit.netns import TestLan
from testkit.onvif_fixtures import FakeCameraFactory

WINDOW_S = 2.0
OPTIONS = RoundOptions(timeout_s=8.0, request_timeout_s=4.0)


@pytest.mark.netns
def test_slow_cameras_are_inventoried_while_discovery_still_listens(test_lan: TestLan) -> None:
    # Nine SOAP answers of 0.1 s each: about a second per camera, inside the 2 s window.
    cameras = [
        FakeCamera(persona=persona, host=test_lan.add_camera_address(), response_delay_s=0.1)
        for persona in ("generic", "hikvision")
    ]
    for camera in cameras:
        camera.port = 8000
        test_lan.in_namespace(test_lan.cams_ns, camera.start)

    def one_round() -> tuple[list[Camera], float, float]:
        with InventoryRound(
            lambda _id: CameraLogin("admin", DEFAULT_PASSWORD), options=OPTIONS
        ) as round_:
            messages = discover(WINDOW_S, on_found=round_.start).messages()
            window_closed = time.monotonic()
            found = round_.finish(messages)
        return found, window_closed, time.monotonic()

    try:
        found, window_closed, finished = test_lan.in_namespace(test_lan.agent_ns, one_round)
    finally:
        for camera in cameras:
            camera.stop()
    assert sorted(c.address for c in found) == sorted(f"{c.host}:8000" for c in cameras)
    assert all(c.error is None and len(c.profiles) == 2 for c in found), found
    for camera in cameras:
        logins = [r.at for r in camera.requests if r.authenticated]
        assert logins and min(logins) < window_closed, "login waited for the window to close"
    # Waiting for the window and then for the cameras would add about a second here.
    assert finished - window_closed < 0.6


def test_a_device_started_with_other_credentials_is_logged_into_again(
    fake_camera_factory: FakeCameraFactory,
) -> None:
    """Started early as a static camera (no endpoint: the camera known at that address),
    it is finally the camera whose endpoint it announced: that camera's password counts."""

    camera = fake_camera_factory("generic")
    xaddr = camera.xaddr
    address = f"127.0.0.1:{camera.port}"
    known = [
        Camera(id="old-at-this-address", address=address, xaddr=xaddr),
        # On the same host (another port, as on an NVR): the endpoint is believed only
        # where the camera is bound (docs/security.md).
        Camera(id="its-own", address="127.0.0.1:9", xaddr="http://127.0.0.1:9/", endpoint="urn:x"),
    ]

    def credentials(camera_id: str | None) -> CameraLogin:
        return CameraLogin(
            "admin", DEFAULT_PASSWORD if camera_id == "its-own" else "stale-password"
        )

    announced = DiscoveryMessage("probe_match", "urn:x", (xaddr,), "127.0.0.1")
    with InventoryRound(credentials, known, options=OPTIONS) as round_:
        round_.start(static_message(address))
        [early] = round_.finish([static_message(address)])
    assert early.error is not None and early.error.code == "auth_failed"
    with InventoryRound(credentials, known, options=OPTIONS) as round_:
        round_.start(static_message(address))
        [final] = round_.finish([announced, static_message(address)])
    assert final.error is None and final.mac == camera.mac
    # The same answer as inventorying the finished list in one go.
    [plain] = inventory_round([announced, static_message(address)], credentials, known)
    assert (plain.id, plain.error) == (final.id, final.error)


def test_an_empty_round_returns_at_once() -> None:
    started = time.monotonic()
    with InventoryRound(lambda _id: CameraLogin("admin", None), options=OPTIONS) as round_:
        assert round_.finish([]) == []
    assert time.monotonic() - started < 1.0
