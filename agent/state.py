"""The agent's live picture of its kitchen, shared by every worker.

Workers write what they learn (inventory, quality, streams, coverage) and raise events;
the MQTT reporter reads snapshots for heartbeats and forwards events to its outbox.
Everything here is plain data behind one lock: no I/O, cheap to read at any rate.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Event:
    """Something ops must hear about exactly once, e.g. ``camera_offline``."""

    type: str
    data: dict[str, Any]
    msg_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True)
class CameraStatus:
    """What discovery/inventory knows of one camera (secrets already stripped)."""

    id: str
    address: str | None = None
    online: bool = False
    error: dict[str, str] | None = None  # {"code", "message"} from agent.errors
    clock_skew_s: float | None = None
    info: dict[str, Any] = field(default_factory=dict)  # the `discover --json` camera object


@dataclass(frozen=True)
class QualityStatus:
    verdict: str = "unknown"  # ok | warn | fail | unknown
    issues: tuple[dict[str, Any], ...] = ()  # [{"code", "severity", "value", "threshold"}]
    alarms: tuple[str, ...] = ()  # codes of raised alarms
    checked_at: float | None = None
    in_view: dict[str, float] = field(default_factory=dict)  # kcp -> visible ROI fraction


@dataclass(frozen=True)
class StreamStatus:
    state: str = "stopped"  # stopped | waiting | starting | up | down | paused
    route: str | None = None  # copy | transcode | ...
    bitrate_kbps: float | None = None
    fps: float | None = None
    cap_kbps: int | None = None
    restarts_last_hour: int = 0
    up_since: float | None = None
    error: dict[str, str] | None = None


EventListener = Callable[[Event], None]


class AgentState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraStatus] = {}
        self._quality: dict[str, QualityStatus] = {}
        self._streams: dict[str, StreamStatus] = {}
        self._coverage: dict[str, Any] = {}
        self._counters: dict[str, int] = {}
        self._listeners: list[EventListener] = []
        self.started_at = time.time()

    # --- events -------------------------------------------------------------------------

    def subscribe(self, listener: EventListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, event_type: str, **data: Any) -> Event:
        event = Event(type=event_type, data=data)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
        return event

    # --- writers ------------------------------------------------------------------------

    def set_camera(self, status: CameraStatus) -> CameraStatus | None:
        """Store a camera's status; returns the previous one (for edge detection)."""
        with self._lock:
            previous = self._cameras.get(status.id)
            self._cameras[status.id] = status
            return previous

    def set_quality(self, camera_id: str, status: QualityStatus) -> QualityStatus | None:
        with self._lock:
            previous = self._quality.get(camera_id)
            self._quality[camera_id] = status
            return previous

    def set_stream(self, camera_id: str, status: StreamStatus) -> StreamStatus | None:
        with self._lock:
            previous = self._streams.get(camera_id)
            self._streams[camera_id] = status
            return previous

    def update_stream(self, camera_id: str, **changes: Any) -> StreamStatus:
        with self._lock:
            current = self._streams.get(camera_id, StreamStatus())
            updated = replace(current, **changes)
            self._streams[camera_id] = updated
            return updated

    def set_coverage(self, coverage: dict[str, Any]) -> None:
        with self._lock:
            self._coverage = dict(coverage)

    def count(self, name: str, increment: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + increment

    # --- readers ------------------------------------------------------------------------

    def cameras(self) -> dict[str, CameraStatus]:
        with self._lock:
            return dict(self._cameras)

    def quality(self) -> dict[str, QualityStatus]:
        with self._lock:
            return dict(self._quality)

    def streams(self) -> dict[str, StreamStatus]:
        with self._lock:
            return dict(self._streams)

    def coverage(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._coverage)

    def take_counters(self) -> dict[str, int]:
        """Counters since the last call (e.g. events dropped), reset to zero."""
        with self._lock:
            taken, self._counters = self._counters, {}
            return taken
