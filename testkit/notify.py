"""A notify-socket harness: what systemd hears from a ``Type=notify`` service.

:class:`NotifySocket` binds a datagram socket like systemd's ``$NOTIFY_SOCKET`` and keeps
every message with the time it arrived, so tests can assert on READY=1, STATUS=,
WATCHDOG=1 (and the intervals between them), RELOADING=1 and STOPPING=1.
:class:`LogReader` collects a child's JSON log lines from its stderr.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class NotifySocket:
    def __init__(self) -> None:
        # AF_UNIX paths must stay short: a folder of its own under /tmp.
        self._dir = Path(tempfile.mkdtemp(prefix="notify-"))
        self.path = str(self._dir / "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.1)
        self._lock = threading.Lock()
        self._messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            moment = time.monotonic()
            with self._lock:
                for line in data.decode("utf-8", "replace").splitlines():
                    self._messages.append((moment, line))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()
        with contextlib.suppress(OSError):
            Path(self.path).unlink()
            self._dir.rmdir()

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.path}

    def messages(self) -> list[tuple[float, str]]:
        """Every ``KEY=value`` line received, with its monotonic arrival time."""
        with self._lock:
            return list(self._messages)

    def lines(self, prefix: str) -> list[str]:
        return [line for _, line in self.messages() if line.startswith(prefix)]

    def times(self, line: str) -> list[float]:
        """Arrival times of every exact ``line`` (e.g. ``WATCHDOG=1``)."""
        return [moment for moment, text in self.messages() if text == line]

    def wait_for(self, line: str, timeout_s: float = 30, after: float = 0.0) -> float:
        """Wait for ``line`` arriving after monotonic time ``after``; its arrival time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for moment, text in self.messages():
                if text == line and moment > after:
                    return moment
            time.sleep(0.02)
        raise AssertionError(f"no {line!r} on the notify socket; got {self.messages()[-20:]}")


class LogReader:
    """Collects a child's JSON log lines (its stderr) on a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._thread.join(5)
        if self._process.stderr is not None:
            self._process.stderr.close()

    def _read(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self.raw.append(line)
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def text(self) -> str:
        return "".join(self.raw)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 20
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no such log event; got: {self.text()[-3000:]}")

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event for event in list(self.events) if event.get("event") == name]
