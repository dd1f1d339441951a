"""The credential trust model (docs/security.md, agent/trust.py): a camera's password goes
only to its own host, to hosts its config lists, and never to a device that merely claims
to be it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.capture.acquire import sub_stream_frame, try_snapshot
from agent.capture.discovery import static_message
from agent.capture.onvif import DeviceFacts
from agent.capture.rounds import Candidate, cameras_from_results, inventory_round
from agent.config.cameras import CamerasConfig, EnrolledCamera
from agent.errors import CameraUnsupportedUri, CameraUntrustedHost
from agent.model import Camera, CameraLogin, DiscoverySource, MediaProfile
from agent.secrets import CameraLogins, CredentialStore
from agent.trust import (
    FFMPEG_INPUT_PROTOCOLS,
    basic_auth_allowed,
    check_media_uri,
    own_login_allowed,
    same_host,
    trusted_camera,
    xaddr_from_sender,
)
from testkit.fake_onvif import DEFAULT_PASSWORD
from testkit.onvif_fixtures import FakeCameraFactory

DEVICE = "http://192.0.2.10/onvif/device_service"


def test_hosts_compare_as_addresses_and_names_as_text() -> None:
    assert same_host("192.0.2.10", "192.0.2.10")
    assert same_host("[2001:db8::1]", "2001:DB8:0::1")
    assert same_host("nvr.kitchen", "NVR.kitchen")
    assert not same_host("192.0.2.10", "192.0.2.100")
    assert not same_host("", "")
    assert xaddr_from_sender("http://192.0.2.10:8000/onvif/device_service", "192.0.2.10")
    assert not xaddr_from_sender("http://192.0.2.77/onvif/device_service", "192.0.2.10")
    assert not xaddr_from_sender("http://kitchen-cam/onvif/device_service", "192.0.2.10")


@pytest.mark.parametrize(
    ("uri", "what", "media_hosts", "error"),
    [
        ("rtsp://192.0.2.10:554/main", "stream", (), None),
        ("rtsp://192.0.2.77:554/main", "stream", (), CameraUntrustedHost),
        ("rtsp://192.0.2.77:554/main", "stream", ("192.0.2.77",), None),
        ("rtsp://nvr.local/ch1", "stream", ("nvr.local",), None),
        ("http://192.0.2.10/snap.jpg", "stream", (), CameraUnsupportedUri),
        ("file:///etc/passwd", "stream", (), CameraUnsupportedUri),
        ("rtsps://192.0.2.10/main", "stream", (), CameraUnsupportedUri),
        ("http://192.0.2.10/snap.jpg", "snapshot", (), None),
        ("https://192.0.2.10/snap.jpg", "snapshot", (), None),
        ("http://192.0.2.11/snap.jpg", "snapshot", (), CameraUntrustedHost),
        ("ftp://192.0.2.10/snap.jpg", "snapshot", (), CameraUnsupportedUri),
        ("http://192.0.2.10:8080/onvif/media", "media service", (), None),
        ("http://192.0.2.66/onvif/media", "media service", (), CameraUntrustedHost),
    ],
)
def test_check_media_uri(
    uri: str, what: str, media_hosts: tuple[str, ...], error: type[Exception] | None
) -> None:
    if error is None:
        assert check_media_uri(uri, DEVICE, media_hosts, what) == uri
    else:
        with pytest.raises(error) as refused:
            check_media_uri(uri, DEVICE, media_hosts, what)
        assert "192.0.2.10" in str(refused.value)


def camera(**profile: str | None) -> Camera:
    return Camera(
        id="cam",
        address="192.0.2.10",
        xaddr=DEVICE,
        media_xaddr="http://192.0.2.10/onvif/media",
        profiles=(MediaProfile(token="main", **profile),),  # type: ignore[arg-type]
    )


def test_trusted_camera_drops_what_it_may_not_follow_and_says_why() -> None:
    fine = camera(rtsp_uri="rtsp://192.0.2.10/main", snapshot_uri="http://192.0.2.10/s.jpg")
    assert trusted_camera(fine, None) is fine
    rogue = camera(rtsp_uri="rtsp://192.0.2.77/main", snapshot_uri="http://192.0.2.10/s.jpg")
    kept = trusted_camera(rogue, CameraLogin("admin", "pw"))
    assert kept.profiles[0].rtsp_uri is None
    assert kept.profiles[0].snapshot_uri == "http://192.0.2.10/s.jpg"
    assert kept.error is not None and kept.error.code == "untrusted_host"
    assert "192.0.2.77" in kept.error.message and "pw" not in kept.error.message
    allowed = trusted_camera(
        rogue, CameraLogin("admin", "pw", media_hosts=frozenset({"192.0.2.77"}))
    )
    assert allowed is rogue


def test_basic_auth_only_over_tls_or_where_allowed() -> None:
    assert not basic_auth_allowed("http://192.0.2.10/s.jpg", CameraLogin("admin", "pw"))
    assert not basic_auth_allowed("http://192.0.2.10/s.jpg", None)
    assert basic_auth_allowed("https://192.0.2.10/s.jpg", CameraLogin("admin", "pw"))
    assert basic_auth_allowed(
        "http://192.0.2.10/s.jpg", CameraLogin("admin", "pw", allow_basic_http=True)
    )


def test_a_cameras_own_login_goes_only_where_it_is_bound() -> None:
    known = [Camera(id="cold", address="192.0.2.50", xaddr="http://192.0.2.50/onvif/x")]
    assert own_login_allowed("cold", "192.0.2.50", known)
    assert not own_login_allowed("cold", "192.0.2.66", known)
    assert own_login_allowed("cold", "192.0.2.66", known, static=True)  # typed by a person
    assert own_login_allowed("never-seen", "192.0.2.66", known)  # first contact
    assert FFMPEG_INPUT_PROTOCOLS == "tcp"


def test_config_media_hosts_and_basic_http_reach_the_login() -> None:
    config = CamerasConfig(
        enrolled=[
            EnrolledCamera(id="nvr-cam", media_hosts=["192.0.2.200", "NVR.local"]),
            EnrolledCamera(id="old-cam", allow_basic_http=True),
        ]
    )
    logins = CameraLogins.from_config(config, None)
    assert logins("nvr-cam").media_hosts == {"192.0.2.200", "nvr.local"}
    assert not logins("nvr-cam").allow_basic_http
    assert logins("old-cam").allow_basic_http and logins("old-cam").media_hosts == frozenset()
    assert logins(None) == CameraLogin("admin", None)
    for bad in ("http://192.0.2.1", "192.0.2.1:554", "nvr/x", "a b"):
        with pytest.raises(ValidationError):
            EnrolledCamera(id="x", media_hosts=[bad])


# --- identity claims -------------------------------------------------------------------------


def test_a_device_claiming_a_pinned_camera_elsewhere_does_not_get_its_id() -> None:
    known = [
        Camera(
            id="mac-020000000001",
            address="192.0.2.50",
            xaddr="http://192.0.2.50/onvif/device_service",
            mac="02:00:00:00:00:01",
        )
    ]
    xaddr = "http://192.0.2.66/onvif/device_service"
    facts = DeviceFacts(xaddr=xaddr, mac="02:00:00:00:00:01")

    def found(source: DiscoverySource) -> Camera:
        candidate = Candidate(xaddr=xaddr, xaddrs=(xaddr,), endpoint=None, source=source)
        [result] = cameras_from_results(
            [(candidate, facts)], known, 1.0, pinned=["mac-020000000001"]
        )
        return result

    claimed = found(DiscoverySource.MULTICAST)
    assert claimed.id != "mac-020000000001" and claimed.id.startswith("mac-020000000001-")
    assert claimed.error is not None and claimed.error.code == "identity_unverified"
    assert found(DiscoverySource.STATIC).id == "mac-020000000001"  # the trusted path
    # A camera on the shared password still follows DHCP: nothing of its own can leak.
    candidate = Candidate(
        xaddr=xaddr, xaddrs=(xaddr,), endpoint=None, source=DiscoverySource.MULTICAST
    )
    [moved] = cameras_from_results([(candidate, facts)], known, 1.0)
    assert moved.id == "mac-020000000001" and moved.error is None


# --- against a fake camera over real sockets ---------------------------------------------------


class Recorder:
    """A listener on another loopback address: any connection to it is a leak."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.2", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[bytes] = []
        self.listener.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.connections.append(conn.recv(65536))
                except OSError:
                    self.connections.append(b"")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.listener.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    started = Recorder()
    yield started
    started.stop()


def logins(tmp_path: Path, **media_hosts: list[str]) -> CameraLogins:
    directory = tmp_path / "credentials"
    directory.mkdir(exist_ok=True)
    (directory / "camera-password").write_text(DEFAULT_PASSWORD)
    return CameraLogins("admin", CredentialStore(directory), media_hosts=media_hosts)


def test_stream_and_snapshot_uris_on_another_host_are_reported_not_followed(
    fake_camera_factory: FakeCameraFactory, recorder: Recorder, tmp_path: Path
) -> None:
    elsewhere = f"127.0.0.2:{recorder.port}"
    fake = fake_camera_factory(
        "generic",
        rtsp_main=f"rtsp://{elsewhere}/main",
        rtsp_sub=f"rtsp://{elsewhere}/sub",
        snapshot_base=f"http://{elsewhere}",
    )
    [found] = inventory_round([static_message(f"127.0.0.1:{fake.port}")], logins(tmp_path))
    assert found.error is not None and found.error.code == "untrusted_host"
    assert all(p.rtsp_uri is None and p.snapshot_uri is None for p in found.profiles)
    assert len(found.profiles) == 2  # what it said about its encoders is still shown
    # Used anyway (an old inventory file, a bug elsewhere): refused at the door too.
    raw = Camera(
        id="x",
        address=f"127.0.0.1:{fake.port}",
        xaddr=fake.xaddr,
        profiles=(
            MediaProfile(
                token="p",
                rtsp_uri=f"rtsp://{elsewhere}/sub",
                snapshot_uri=f"http://{elsewhere}/s.jpg",
            ),
        ),
    )
    login = CameraLogin("admin", DEFAULT_PASSWORD)
    assert try_snapshot(raw, login, 2.0) is None
    with pytest.raises(CameraUntrustedHost):
        sub_stream_frame(raw, login, 2.0)
    assert recorder.connections == []


def test_a_host_listed_in_media_hosts_is_followed(
    fake_camera_factory: FakeCameraFactory, tmp_path: Path
) -> None:
    fake = fake_camera_factory(
        "generic", rtsp_main="rtsp://192.0.2.200/main", rtsp_sub="rtsp://192.0.2.200/sub"
    )
    message = static_message(f"127.0.0.1:{fake.port}")
    [first] = inventory_round([message], logins(tmp_path))
    [found] = inventory_round([message], logins(tmp_path, **{first.id: ["192.0.2.200"]}), [first])
    assert found.error is None
    assert [p.rtsp_uri for p in found.profiles] == [
        "rtsp://192.0.2.200/main",
        "rtsp://192.0.2.200/sub",
    ]


def test_a_media_service_on_another_host_gets_no_login(
    fake_camera_factory: FakeCameraFactory, recorder: Recorder, tmp_path: Path
) -> None:
    fake = fake_camera_factory(
        "generic", media_service=f"http://127.0.0.2:{recorder.port}/onvif/media_service"
    )
    [found] = inventory_round([static_message(f"127.0.0.1:{fake.port}")], logins(tmp_path))
    assert found.error is not None and found.error.code == "untrusted_host"
    assert "media service" in found.error.message
    assert recorder.connections == []
