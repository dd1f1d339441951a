"""A command on a pseudo-terminal, as a person at a screen runs it (``--watch`` views)."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from collections.abc import Callable


class Terminal:
    """``python -m agent ARGS`` on a pty; :meth:`read_until` collects what it draws."""

    def __init__(self, *args: str) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the CLI on a terminal
            os.execv(sys.executable, [sys.executable, "-m", "agent", *args])
        self.pid, self.fd = pid, fd
        self.screen = b""

    def read_until(self, done: Callable[[bytes], bool], timeout_s: float = 30) -> bytes:
        deadline = time.monotonic() + timeout_s
        while not done(self.screen) and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    self.screen += os.read(self.fd, 65536)
                except OSError:
                    break
        return self.screen

    def interrupt(self) -> int:
        """Ctrl-C; the exit status."""
        os.kill(self.pid, signal.SIGINT)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)
