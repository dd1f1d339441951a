"""Drive an interactive command in a pseudo-terminal, as a person on SSH would.

The child gets a real terminal (``isatty()`` is true on its stdin, stdout and stderr), so
it takes its interactive path; the test waits for a prompt with a deadline and types an
answer. Standard library only (``pty``, ``select``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from pathlib import Path


class PtySession:
    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        columns: int = 120,
        rows: int = 50,
    ) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.output = ""  # everything the terminal showed, typed echoes included
        self._seen = 0  # where the next expect starts looking

    def _read(self, timeout_s: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        self.output += chunk.decode("utf-8", errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, pattern: str, timeout_s: float = 30.0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears in new output; TimeoutError otherwise."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            match = regex.search(self.output, self._seen)
            if match:
                self._seen = match.end()
                return match
            left = deadline - time.monotonic()
            if left <= 0 or (not self._read(min(left, 0.5)) and self.process.poll() is not None):
                raise TimeoutError(
                    f"{pattern!r} did not appear within {timeout_s} s; the terminal shows:\n"
                    + self.output[-3000:]
                )

    def send_line(self, text: str) -> None:
        os.write(self.master, (text + "\r").encode("utf-8"))

    def wait(self, timeout_s: float = 60.0) -> int:
        """Read until the child exits; its exit code."""
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the command did not finish:\n" + self.output[-3000:])
            self._read(0.2)
        while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
            pass
        return int(self.process.returncode)

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.master)

    def __enter__(self) -> PtySession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
