"""One relay's ffmpeg as the streams worker sees it: a process and what its progress says."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from agent.subproc import ManagedProcess
from agent.uplink.video.progress import Progress, ProgressParser, RateMeter, advanced


class ProcessLike(Protocol):
    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...
    def poll(self) -> int | None: ...
    def stop(self, timeout_s: float = 5.0) -> int | None: ...
    def stderr_tail(self, lines: int | None = None) -> str: ...


ProcessFactory = Callable[[list[str], str, Callable[[str], None]], ProcessLike]


def managed_process(argv: list[str], name: str, on_line: Callable[[str], None]) -> ProcessLike:
    return ManagedProcess(argv, name, on_stdout_line=on_line, stderr_lines=100)


class ProgressWatch:
    """What an ffmpeg's ``-progress`` lines say. Written by the process's stdout reader
    thread, read by the worker's loop: everything under one lock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._parser = ProgressParser()
        self._latest: Progress | None = None
        self._last_advance: float | None = None
        self._meter = RateMeter()

    def reset(self) -> None:
        """A new ffmpeg starts counting from zero."""
        with self._lock:
            self._parser = ProgressParser()
            self._latest = None
            self._last_advance = None
            self._meter.reset()

    def on_line(self, line: str) -> None:
        with self._lock:
            block = self._parser.feed(line)
            if block is None:
                return
            moment = self._clock()
            if advanced(self._latest, block):
                self._last_advance = moment
            if block.total_size is not None:
                self._meter.add(moment, block.total_size)
            self._latest = block

    @property
    def last_advance(self) -> float | None:
        """When the output last moved on; None before it first did."""
        with self._lock:
            return self._last_advance

    def reading(self) -> tuple[Progress | None, float | None]:
        """The latest block and the bitrate flowing now (kbit/s, None if unknown)."""
        with self._lock:
            return self._latest, self._meter.kbps()
