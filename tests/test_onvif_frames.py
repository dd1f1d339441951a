"""Frame helpers: HTTP snapshots (Digest/Basic) and one RTSP frame, with hard timeouts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler

import pytest

from agent.capture.frames import fetch_snapshot, grab_rtsp_frame, rtsp_frame_argv
from agent.errors import CameraAuthFailed, CameraTimeout, CameraUnreachable, SnapshotTooLarge
from agent.model import CameraLogin
from testkit.fake_onvif import DEFAULT_PASSWORD
from testkit.onvif_fixtures import FakeCameraFactory
from testkit.servers import QuietHTTPServer


@pytest.mark.parametrize("persona", ["hikvision", "generic"])  # Digest, Basic
def test_snapshot_with_digest_or_basic(
    fake_camera_factory: FakeCameraFactory, persona: str
) -> None:
    camera = fake_camera_factory(persona)
    url = f"http://127.0.0.1:{camera.port}/onvif/snapshot?channel=101"
    # Basic over plain HTTP only for a camera whose config allows it.
    login = CameraLogin("admin", DEFAULT_PASSWORD, allow_basic_http=persona == "generic")
    data = fetch_snapshot(url, login, timeout_s=3, max_bytes=1 << 20)
    assert data[:2] == b"\xff\xd8"  # JPEG
    with pytest.raises(CameraAuthFailed) as denied:
        fetch_snapshot(url, replace(login, password="wrong-password"), timeout_s=3)
    assert "wrong-password" not in denied.value.message


def test_snapshot_size_bound(fake_camera_factory: FakeCameraFactory) -> None:
    camera = fake_camera_factory("generic")
    url = f"http://127.0.0.1:{camera.port}/onvif/snapshot"
    login = CameraLogin("admin", DEFAULT_PASSWORD, allow_basic_http=True)
    with pytest.raises(SnapshotTooLarge):
        fetch_snapshot(url, login, timeout_s=3, max_bytes=100)


class _Trickle(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        for _ in range(100):  # one byte every 0.1 s: each read succeeds, the whole never ends
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.1)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def trickle_url() -> Iterator[str]:
    server = QuietHTTPServer(("127.0.0.1", 0), _Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/snap.jpg"
    server.shutdown()
    server.server_close()


def test_snapshot_overall_timeout_beats_a_trickling_camera(trickle_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(CameraTimeout):
        fetch_snapshot(trickle_url, None, timeout_s=1.0)
    assert time.monotonic() - started < 2.0


def test_snapshot_nothing_listening() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CameraUnreachable):
        fetch_snapshot(f"http://127.0.0.1:{port}/x", CameraLogin("admin", "pw"), timeout_s=2)


def test_rtsp_frame_argv() -> None:
    argv = rtsp_frame_argv("rtsp://192.0.2.10/sub", 4.0)
    assert argv[argv.index("-rtsp_transport") + 1] == "tcp"
    assert argv[argv.index("-timeout") + 1] == "4000000"
    assert argv[argv.index("-frames:v") + 1] == "1"
    assert argv[-1] == "pipe:1"


def test_grab_one_rtsp_frame(rtsp_camera: object) -> None:
    url = rtsp_camera.url("sub")  # type: ignore[attr-defined]
    image = grab_rtsp_frame(url, timeout_s=15)
    assert image.shape == (360, 640, 3)
    assert image.std() > 5  # a real picture, not a blank


def test_rtsp_frame_from_a_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(CameraTimeout) as failure:
            grab_rtsp_frame(
                f"rtsp://127.0.0.1:{port}/sub", timeout_s=2, login=CameraLogin("admin", "s3cret-pw")
            )
        assert time.monotonic() - started < 3.5
        assert "s3cret-pw" not in str(failure.value)
