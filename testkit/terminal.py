"""A command on a pseudo-terminal, as a person at a screen runs it: ``--watch`` views that
redraw in place, and interactive prompts answered line by line (``enroll``).

The child gets a real terminal (``isatty()`` is true on its stdin, stdout and stderr), so
it takes its interactive path; a test waits for what it draws with a deadline and types.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path


class Terminal:
    """``python -m agent ARGS`` on a pty; :meth:`read_until` collects what it draws,
    :meth:`expect` waits for a prompt and :meth:`send_line` answers it."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the CLI on a terminal
            if cwd is not None:
                os.chdir(cwd)
            # As a person's shell starts it: Ctrl-C interrupts. A test run started in the
            # background of a script inherits SIGINT ignored, and so would the child.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execv(sys.executable, [sys.executable, "-m", "agent", *args])
        self.pid, self.fd = pid, fd
        self.screen = b""
        self._seen = 0  # where the next expect starts looking (in the decoded text)
        self._status: int | None = None

    @property
    def text(self) -> str:
        """What the terminal showed, typed echoes included, with plain line ends."""
        return self.screen.decode("utf-8", errors="replace").replace("\r\n", "\n")

    def _read(self, timeout_s: float) -> bool:
        """Read what is there within ``timeout_s``; False once the child closed the pty."""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child is gone
            return False
        self.screen += chunk
        return bool(chunk)

    def read_until(self, done: Callable[[bytes], bool], timeout_s: float = 30) -> bytes:
        deadline = time.monotonic() + timeout_s
        while not done(self.screen) and time.monotonic() < deadline:
            if not self._read(0.5):
                break
        return self.screen

    def expect(self, pattern: str, timeout_s: float = 30.0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears in what was drawn since the last match;
        TimeoutError, with the screen, otherwise."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            match = regex.search(self.text, self._seen)
            if match:
                self._seen = match.end()
                return match
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.5)):
                raise TimeoutError(
                    f"{pattern!r} did not appear within {timeout_s} s; the terminal shows:\n"
                    + self.text[-3000:]
                )

    def send_line(self, text: str) -> None:
        os.write(self.fd, (text + "\r").encode("utf-8"))

    def wait(self, timeout_s: float = 60.0) -> int:
        """Read until the child exits; its exit status."""
        deadline = time.monotonic() + timeout_s
        while self._status is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self._status = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the command did not finish:\n" + self.text[-3000:])
            self._read(0.2)
        while self._read(0.05) and select.select([self.fd], [], [], 0)[0]:
            pass
        return self._status

    def interrupt(self, timeout_s: float = 30.0) -> int:
        """Ctrl-C; the exit status. What the child draws meanwhile is read: a child whose
        last redraw or goodbye met a full terminal would otherwise never exit."""
        os.kill(self.pid, signal.SIGINT)
        status = self.wait(timeout_s)
        self.close()
        return status

    def close(self) -> None:
        if self._status is None:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
