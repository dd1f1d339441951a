"""Every byte a camera sends is bounded in time and size (issue 12): SOAP answers that
trickle or never end, snapshot headers that trickle, image bombs, and what ffmpeg may read."""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from agent.capture.bounded_http import CallBudget, bounded_call, bounded_session
from agent.capture.decode import decode_camera_jpeg, decode_for_analysis, read_image_file
from agent.capture.frames import fetch_snapshot, rtsp_frame_argv
from agent.capture.onvif import inventory_device
from agent.errors import CameraError, CameraUnsupportedUri, FrameUnavailable, ImageTooLarge
from agent.images import MAX_PIXELS, check_image, image_size
from agent.uplink.mqtt.commands import fit_jpeg
from agent.uplink.video.ffmpeg_args import input_args
from testkit.mosquitto import CertAuthority


class RawServer:
    """A TCP server on loopback that answers every connection with ``respond(conn)`` and
    records how long each connection stayed open and how many bytes it took."""

    def __init__(self, respond: Callable[[socket.socket], int]) -> None:
        self.respond = respond
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent: list[int] = []
        self.held_s: list[float] = []
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        started = time.monotonic()
        conn.settimeout(5)
        with conn:
            sent = 0
            try:
                read_request(conn)
                sent = self.respond(conn)
            except OSError as error:
                sent = getattr(error, "sent", 0)
        self.sent.append(sent)
        self.held_s.append(time.monotonic() - started)

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()

    @property
    def xaddr(self) -> str:
        return f"http://127.0.0.1:{self.port}/onvif/device_service"


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            missing = int(line.split(b":")[1]) - len(body)
            while missing > 0:
                chunk = conn.recv(missing)
                if not chunk:
                    return
                missing -= len(chunk)


Respond = Callable[[socket.socket], int]


class Sent(OSError):
    """The client went away after ``sent`` bytes."""

    def __init__(self, sent: int) -> None:
        super().__init__("client gone")
        self.sent = sent


def trickle(prefix: bytes, for_s: float = 20.0) -> Respond:
    """Send ``prefix`` and then one byte every 0.2 s: every read succeeds, none ends."""

    def respond(conn: socket.socket) -> int:
        conn.sendall(prefix)
        deadline = time.monotonic() + for_s
        while time.monotonic() < deadline:
            conn.sendall(b"a")
            time.sleep(0.2)
        return len(prefix)

    return respond


def huge(total: int) -> Respond:
    def respond(conn: socket.socket) -> int:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
            + f"Content-Length: {total}\r\n\r\n".encode()
        )
        block, sent = b" " * 65536, 0
        try:
            for _ in range(total // len(block)):
                conn.sendall(block)
                sent += len(block)
        except OSError:
            raise Sent(sent) from None
        return sent

    return respond


@pytest.fixture
def raw_server() -> Iterator[Callable[[Respond], RawServer]]:
    servers: list[RawServer] = []

    def start(respond: Respond) -> RawServer:
        servers.append(RawServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize(
    "prefix",
    [
        b"HTTP/1.1 200 OK\r\nX-Slow: ",  # headers one byte at a time
        b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 99999\r\n\r\n",
    ],
    ids=["slow-headers", "slow-body"],
)
def test_a_trickling_device_cannot_hold_the_inventory(
    raw_server: Callable[[Respond], RawServer], prefix: bytes
) -> None:
    server = raw_server(trickle(prefix))
    started = time.monotonic()
    facts = inventory_device(server.xaddr, "admin", "pw", timeout_s=3.0, request_timeout_s=1.0)
    assert time.monotonic() - started < 4.0
    assert facts.error is not None and facts.error.code == "timeout"


def test_an_endless_soap_answer_is_cut_at_the_byte_cap(
    raw_server: Callable[[Respond], RawServer],
) -> None:
    server = raw_server(huge(200 * 1024 * 1024))
    started = time.monotonic()
    facts = inventory_device(server.xaddr, "admin", "pw", timeout_s=20.0, request_timeout_s=10.0)
    assert facts.error is not None and facts.error.code == "bad_response"
    assert "more than 1024 KiB" in facts.error.message
    assert time.monotonic() - started < 5.0
    # Nothing like 200 MB was taken (socket buffers hold a few MB at most).
    wait_until(lambda: server.sent)
    assert server.sent[0] < 32 * 1024 * 1024


def test_snapshot_headers_trickling_meet_the_overall_deadline(
    raw_server: Callable[[Respond], RawServer],
) -> None:
    server = raw_server(trickle(b"HTTP/1.1 200 OK\r\nX-Slow: "))
    started = time.monotonic()
    with pytest.raises(CameraError) as failure:
        fetch_snapshot(f"http://127.0.0.1:{server.port}/snap.jpg", None, timeout_s=1.0)
    assert failure.value.code == "timeout"
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("respond", ["slow-headers", "huge"])
def test_tls_answers_are_bounded_the_same_way(tmp_path: Path, respond: str) -> None:
    """HTTPS device services and snapshots: the bounded reads wrap the TLS socket too."""
    ca = CertAuthority.create(tmp_path)
    cert, key = ca.issue("camera", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    answer = trickle(b"HTTP/1.1 200 OK\r\nX-Slow: ") if respond == "slow-headers" else huge(1 << 30)

    def serve() -> None:
        conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            try:
                read_request(tls)
                answer(tls)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    session = bounded_session()
    session.verify = str(ca.cert)
    budget = CallBudget(1.0, 1 << 20)
    started = time.monotonic()
    with bounded_call(budget), pytest.raises(requests.exceptions.RequestException):
        session.get(f"https://127.0.0.1:{port}/onvif/snapshot", timeout=(5, 5))
    assert time.monotonic() - started < 2.0
    assert budget.expired or budget.too_large
    session.close()
    listener.close()


def wait_until(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


# --- pictures --------------------------------------------------------------------------------


def png(width: int, height: int, rows: bytes | None = None) -> bytes:
    """A real PNG (grey, 8 bit) whose pixels are all zero: tiny, however large it says."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    compressor = zlib.compressobj(9)
    line = b"\x00" * (width + 1)
    body = b"".join(compressor.compress(line) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG declaring ``width`` x ``height`` (no scan data)."""
    sof = struct.pack(">BBHBHHB", 0xFF, 0xC0, 11, 8, height, width, 1)
    return b"\xff\xd8" + sof + b"\x01\x11\x00" + b"\xff\xd9"


def test_a_png_bomb_is_refused_from_its_header() -> None:
    bomb = png(4200, 4200)  # 17.6 Mpx of zeros in a few KB
    assert len(bomb) < 64 * 1024
    with pytest.raises(ImageTooLarge) as refused:
        decode_for_analysis(bomb, 320)
    assert refused.value.code == "image_too_large"
    small = png(640, 360)
    assert decode_for_analysis(small, 320).shape[1] >= 320


def test_a_jpeg_claiming_a_huge_size_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge):
        decode_camera_jpeg(jpeg_header(30000, 30000), 320)
    with pytest.raises(ImageTooLarge):
        fit_jpeg(jpeg_header(30000, 30000), 100_000)


def test_camera_snapshots_are_jpeg_only() -> None:
    with pytest.raises(FrameUnavailable, match="not a JPEG"):
        decode_camera_jpeg(png(640, 360), 320)


def test_check_frame_files_are_checked_from_their_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png(4200, 4200))
    with pytest.raises(ImageTooLarge, match=r"bomb\.png"):
        read_image_file(path, 320)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp", ".tiff", ".ppm", ".gif"])
def test_the_header_reader_knows_every_format_check_frame_accepts(ext: str) -> None:
    import cv2
    import numpy as np

    ok, encoded = cv2.imencode(ext, np.zeros((90, 160, 3), np.uint8))
    assert ok
    found = image_size(bytes(encoded))
    assert found is not None and found[1:] == (160, 90)
    assert check_image(bytes(encoded))[1:] == (160, 90)


def test_formats_without_a_readable_header_are_refused() -> None:
    for data in (b"", b"GIF8", b"\x00" * 64, b"RIFF\x00\x00\x00\x00WEBPVP8Z" + b"\x00" * 20):
        with pytest.raises(FrameUnavailable):
            check_image(data)
    assert MAX_PIXELS == 4096 * 4096


# --- what ffmpeg may read --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["file:/etc/passwd", "/etc/passwd", "http://192.0.2.10/x", "concat:a|b", "pipe:0"]
)
def test_the_frame_grab_reads_rtsp_only(url: str) -> None:
    with pytest.raises(CameraUnsupportedUri):
        rtsp_frame_argv(url, 4.0)


def test_every_ffmpeg_camera_input_is_whitelisted_and_pixel_bounded() -> None:
    grab = rtsp_frame_argv("rtsp://192.0.2.10/sub", 4.0)
    assert grab[grab.index("-protocol_whitelist") + 1] == "tcp"
    assert grab.index("-protocol_whitelist") < grab.index("-i")
    assert int(grab[grab.index("-max_pixels") + 1]) == MAX_PIXELS
    relay = input_args("rtsp://192.0.2.10/sub", 5.0)
    assert relay[relay.index("-protocol_whitelist") + 1] == "tcp"
    assert relay.index("-protocol_whitelist") < relay.index("-i")
