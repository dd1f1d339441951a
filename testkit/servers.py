"""Threaded servers for the fakes and tests, whose clients hang up on purpose.

The agent is built to walk away from a camera that sends too much or too slowly, so a
fake camera's handler often meets a reset or a broken pipe mid-answer. The standard
servers print each such error with a traceback to stderr, where it leaks into the test
run's output as noise that looks like a failure. A hang-up or a timeout is expected
here and stays quiet; any other error in a handler is a bug in the fake and is printed.
"""

from __future__ import annotations

import socketserver
import sys
from http.server import ThreadingHTTPServer
from typing import Any


class _HangUpsExpected(socketserver.BaseServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class QuietHTTPServer(_HangUpsExpected, ThreadingHTTPServer):
    daemon_threads = True


class QuietTCPServer(_HangUpsExpected, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
