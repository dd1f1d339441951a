"""The fakes' servers stay quiet when the agent hangs up on them (as it does on purpose
with a camera that sends too much), and still print a real bug in a fake's handler."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from testkit.servers import QuietHTTPServer


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/bug":
            raise ValueError("a bug in the fake")
        self.send_response(200)
        self.end_headers()
        for _ in range(200):  # far more than the socket buffers hold: the hang-up is met
            self.wfile.write(b"x" * 65536)

    def log_message(self, *_: object) -> None:
        return


class _Recorded(QuietHTTPServer):
    """Says when a request's handling, error report included, is over."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answers)
        self.done = threading.Event()

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.done.set()


@pytest.fixture
def server() -> Iterator[_Recorded]:
    server = _Recorded()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _ask_and_hang_up(port: int, path: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        client.recv(1024)
        # Close with a reset, as a client abandoning a download does.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_hanging_up_mid_answer_prints_nothing(
    server: _Recorded, capfd: pytest.CaptureFixture[str]
) -> None:
    _ask_and_hang_up(server.server_address[1], "/big")
    assert server.done.wait(10)
    assert "Exception occurred" not in capfd.readouterr().err


def test_a_bug_in_a_handler_is_still_printed(
    server: _Recorded, capfd: pytest.CaptureFixture[str]
) -> None:
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as client:
        client.sendall(b"GET /bug HTTP/1.1\r\nHost: x\r\n\r\n")
        assert server.done.wait(10)
    err = capfd.readouterr().err
    assert "Exception occurred" in err and "a bug in the fake" in err
