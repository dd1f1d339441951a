"""A camera with its own password file is logged into on first contact, when the id it can
be given without a login names that file; one retry, within the camera's own timeout.

Fake cameras over real HTTP, real files in a credentials directory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.capture.discovery import DiscoveryMessage, static_message
from agent.capture.rounds import RoundOptions, inventory_round
from agent.model import Camera
from agent.secrets import CameraLogins, CredentialStore
from testkit.fake_onvif import DEFAULT_PASSWORD, FakeCamera
from testkit.onvif_fixtures import FakeCameraFactory

OWN_PASSWORD = "cold-room-cam-pw"
OPTIONS = RoundOptions(timeout_s=5.0, request_timeout_s=2.0)


def credentials_dir(tmp_path: Path, shared: str | None = DEFAULT_PASSWORD, **own: str) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    if shared is not None:
        (directory / "camera-password").write_text(shared + "\n")
    for camera_id, password in own.items():
        (directory / f"camera-password.{camera_id}").write_text(password + "\n")
    return directory


def run(messages: list[DiscoveryMessage], directory: Path, known: Sequence[Camera] = ()) -> Camera:
    [camera] = inventory_round(
        messages,
        CameraLogins("admin", CredentialStore(directory)),
        known,
        options=OPTIONS,
    )
    return camera


def announced(camera: FakeCamera) -> DiscoveryMessage:
    return DiscoveryMessage("probe_match", camera.endpoint, (camera.xaddr,), "127.0.0.1")


def logins(camera: FakeCamera) -> list[bool]:
    """Each GetDeviceInformation that carried a login: was it accepted?"""
    return [
        r.authenticated
        for r in camera.requests
        if r.operation == "GetDeviceInformation" and r.created is not None
    ]


def uuid_id(camera: FakeCamera) -> str:
    return f"uuid-{camera.endpoint_uuid}"


def mac_id(camera: FakeCamera) -> str:
    assert camera.mac is not None
    return "mac-" + camera.mac.replace(":", "")


def test_password_file_named_after_the_endpoint_id_lets_a_new_camera_in(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    camera = fake_camera_factory("generic", password=OWN_PASSWORD)
    directory = credentials_dir(tmp_path, **{uuid_id(camera): OWN_PASSWORD})
    with capture_logs() as logs:
        found = run([announced(camera)], directory)
    assert found.error is None and len(found.profiles) == 2
    assert found.id == mac_id(camera)  # the MAC, learnt once logged in
    assert logins(camera) == [False, True]  # the shared password, then its own: once
    # Streaming looks the password up by the final id: the installer is told.
    [hint] = [e for e in logs if e["event"] == "camera_password_file_name"]
    assert hint["logged_in_with"] == f"camera-password.{uuid_id(camera)}"
    assert f"camera-password.{mac_id(camera)}" in hint["hint"]
    assert OWN_PASSWORD not in repr(logs)


@pytest.mark.parametrize("named_after", ["mac", "serial"])
def test_camera_that_tells_its_mac_or_serial_without_login(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path, named_after: str
) -> None:
    camera = fake_camera_factory("open_info", password=OWN_PASSWORD)
    file_id = mac_id(camera) if named_after == "mac" else f"sn-{camera.serial}"
    directory = credentials_dir(tmp_path, **{file_id: OWN_PASSWORD})
    with capture_logs() as logs:
        found = run([static_message(f"127.0.0.1:{camera.port}")], directory)
    assert found.error is None and found.id == mac_id(camera)
    assert logins(camera) == [False, True]
    hints = [e for e in logs if e["event"] == "camera_password_file_name"]
    assert (hints == []) == (named_after == "mac")


def test_a_device_claiming_a_bound_cameras_mac_elsewhere_gets_no_password_of_it(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    """The saved inventory binds cold-room to 192.0.2.50. A device elsewhere that tells
    its MAC (a moved camera, or anyone who read it off the LAN) is not sent cold-room's
    own password: trust on enrolment (docs/security.md)."""
    camera = fake_camera_factory("open_info", password=OWN_PASSWORD)
    before = Camera(
        id="cold-room",
        address="192.0.2.50",
        xaddr="http://192.0.2.50/onvif/device_service",
        mac=camera.mac,
        endpoint=camera.endpoint,  # the endpoint is no proof either
    )
    directory = credentials_dir(tmp_path, **{"cold-room": OWN_PASSWORD})
    with capture_logs() as logs:
        found = run([announced(camera)], directory, known=[before])
    # Refused, and not given cold-room's id (which would send its password there next).
    assert found.error is not None and found.error.code == "identity_unverified"
    assert logins(camera) == [False]  # the shared password only; never cold-room's
    assert found.id != "cold-room"
    assert any(e["event"] == "camera_login_withheld" for e in logs)


def test_a_moved_camera_found_at_a_static_address_is_trusted(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    """The trusted path: the installer lists its new address in cameras.static."""
    camera = fake_camera_factory("open_info", password=OWN_PASSWORD)
    before = Camera(
        id="cold-room",
        address="192.0.2.50",
        xaddr="http://192.0.2.50/onvif/device_service",
        mac=camera.mac,
        endpoint="urn:uuid:00000000-0000-0000-0000-000000000001",
    )
    directory = credentials_dir(tmp_path, **{"cold-room": OWN_PASSWORD})
    found = run([static_message(f"127.0.0.1:{camera.port}")], directory, known=[before])
    assert found.error is None
    assert logins(camera) == [False, True]


def test_only_own_password_files_and_no_shared_one(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    camera = fake_camera_factory("generic", password=OWN_PASSWORD)
    directory = credentials_dir(tmp_path, shared=None, **{uuid_id(camera): OWN_PASSWORD})
    found = run([announced(camera)], directory)
    assert found.error is None
    assert logins(camera) == [True]


def test_no_file_of_its_own_means_no_retry(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    camera = fake_camera_factory("open_info", password=OWN_PASSWORD)
    directory = credentials_dir(tmp_path, **{"mac-020000000099": OWN_PASSWORD})
    found = run([announced(camera)], directory)
    assert found.error is not None and found.error.code == "auth_failed"
    assert "rejected the username or password" in found.error.message
    assert logins(camera) == [False]
    assert found.id == uuid_id(camera)  # the id to name its password file after


def test_own_password_refused_too_is_tried_only_once(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    camera = fake_camera_factory("generic", password=OWN_PASSWORD)
    directory = credentials_dir(
        tmp_path, **{uuid_id(camera): "an-old-one", f"addr-127.0.0.1:{camera.port}": OWN_PASSWORD}
    )
    found = run([announced(camera)], directory)
    assert found.error is not None and found.error.code == "auth_failed"
    assert f"its own (camera-password.{uuid_id(camera)}) too" in found.error.message
    assert logins(camera) == [False, False]
    assert "an-old-one" not in found.error.message


def test_the_retry_stays_within_the_camera_timeout(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    # Clock, refused login, anonymous probe: 0.9 s of a 1 s budget; the retry cannot fit.
    camera = fake_camera_factory("generic", password=OWN_PASSWORD, response_delay_s=0.3)
    directory = credentials_dir(tmp_path, **{uuid_id(camera): OWN_PASSWORD})
    started = time.monotonic()
    [found] = inventory_round(
        [announced(camera)],
        CameraLogins("admin", CredentialStore(directory)),
        options=RoundOptions(timeout_s=1.0, request_timeout_s=1.0),
    )
    assert time.monotonic() - started < 1.6
    assert found.error is not None and found.error.code == "timeout"
