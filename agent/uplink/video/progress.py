"""Reading ffmpeg's ``-progress`` output, and judging from it whether a relay is alive.

ffmpeg writes a block of ``key=value`` lines every ``-stats_period`` seconds, ended by
``progress=continue`` (or ``progress=end`` when it finishes)::

    frame=250
    fps=25.00
    bitrate= 402.3kbits/s
    total_size=502144
    out_time_us=10000000
    out_time=00:00:10.000000
    speed=1.00x
    progress=continue

Everything here is pure: the relay feeds lines and timestamps in, and reads results out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One ``-progress`` block. ``None`` where ffmpeg said ``N/A`` or nothing."""

    frame: int | None = None
    fps: float | None = None
    bitrate_kbps: float | None = None  # ffmpeg's running average since the start
    total_size: int | None = None  # bytes written to the output so far
    out_time_s: float | None = None
    speed: float | None = None
    drop_frames: int | None = None
    dup_frames: int | None = None
    ended: bool = False


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.strip()
    if not text or text.upper() == "N/A":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None  # NaN  # noqa: PLR0124


def _integer(text: str | None) -> int | None:
    value = _number(text)
    return None if value is None else int(value)


def _bitrate_kbps(text: str | None) -> float | None:
    """``' 402.3kbits/s'`` -> 402.3; ffmpeg always reports this field in kbit/s."""
    if text is None:
        return None
    return _number(text.strip().removesuffix("kbits/s"))


def _speed(text: str | None) -> float | None:
    if text is None:
        return None
    return _number(text.strip().removesuffix("x"))


def _clock(text: str | None) -> float | None:
    """``'00:01:02.500000'`` -> 62.5 (may be negative at the very start)."""
    if text is None or not text.strip() or text.strip().upper() == "N/A":
        return None
    raw = text.strip()
    sign = -1.0 if raw.startswith("-") else 1.0
    parts = raw.lstrip("-").split(":")
    try:
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
    except ValueError:
        return None
    return sign * seconds


def parse_block(fields: dict[str, str]) -> Progress:
    """A :class:`Progress` from one block's ``key -> value`` fields."""
    out_time_s: float | None = None
    microseconds = _integer(fields.get("out_time_us"))
    if microseconds is not None:
        out_time_s = microseconds / 1_000_000
    else:
        out_time_s = _clock(fields.get("out_time"))
    return Progress(
        frame=_integer(fields.get("frame")),
        fps=_number(fields.get("fps")),
        bitrate_kbps=_bitrate_kbps(fields.get("bitrate")),
        total_size=_integer(fields.get("total_size")),
        out_time_s=out_time_s,
        speed=_speed(fields.get("speed")),
        drop_frames=_integer(fields.get("drop_frames")),
        dup_frames=_integer(fields.get("dup_frames")),
        ended=fields.get("progress", "").strip() == "end",
    )


class ProgressParser:
    """Collects lines; returns a :class:`Progress` when a block is complete."""

    MAX_FIELDS = 64  # a stream that never says progress= must not grow memory

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def feed(self, line: str) -> Progress | None:
        key, sep, value = line.strip().partition("=")
        if not sep or not key:
            return None
        if key == "progress":
            self._fields["progress"] = value
            block, self._fields = self._fields, {}
            return parse_block(block)
        if len(self._fields) < self.MAX_FIELDS or key in self._fields:
            self._fields[key] = value
        return None


def advanced(previous: Progress | None, current: Progress) -> bool:
    """True when ``current`` shows output moving on since ``previous``.

    A block that repeats the same frame count and output size means ffmpeg is alive but
    nothing flows (it keeps reporting while waiting on a stalled input in some builds).
    """
    if current.frame is None and current.total_size is None and current.out_time_s is None:
        return False
    if previous is None:
        return bool(current.frame) or bool(current.total_size)
    for now, before in (
        (current.frame, previous.frame),
        (current.total_size, previous.total_size),
        (current.out_time_s, previous.out_time_s),
    ):
        if now is not None and (before is None or now > before):
            return True
    return False


class RateMeter:
    """Output bitrate over a sliding window, from (monotonic time, total bytes) samples.

    ffmpeg's own ``bitrate`` is an average since the start, which hides a recent change
    (a squeezed cap, a camera that dropped to 5 fps); heartbeats want what flows now.
    """

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, total_bytes: int) -> None:
        if self._samples and total_bytes < self._samples[-1][1]:
            self._samples.clear()  # a new ffmpeg started counting from zero
        self._samples.append((at, total_bytes))
        while len(self._samples) > 2 and at - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    def kbps(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return None
        return (b1 - b0) * 8 / 1000 / (t1 - t0)

    def reset(self) -> None:
        self._samples.clear()
