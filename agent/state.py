"""The agent's live picture of its kitchen, shared by every worker.

Workers write what they learn (inventory, quality, streams, coverage) and raise events;
the MQTT reporter reads snapshots for heartbeats and forwards events to its outbox.
Everything here is typed data from :mod:`agent.model` behind one lock: no I/O, cheap to
read at any rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from agent.model import (
    Camera,
    Event,
    EventPayload,
    QualityStatus,
    StageStatus,
    StoreCoverage,
    StreamStatus,
    UplinkStatus,
)

EventListener = Callable[[Event], None]


class AgentState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cameras: dict[str, Camera] = {}
        self._quality: dict[str, QualityStatus] = {}
        self._streams: dict[str, StreamStatus] = {}
        self._coverage: StoreCoverage | None = None
        self._uplink = UplinkStatus()
        self._stage: StageStatus | None = None
        self._listeners: list[EventListener] = []
        self._started = time.monotonic()

    @property
    def uptime_s(self) -> float:
        """Seconds since the daemon started, on a clock that never steps (NTP's first set
        after a boot moves the wall clock by days)."""
        return time.monotonic() - self._started

    @property
    def started_at(self) -> float:
        """When the daemon started, in Unix seconds as the wall clock reads now: ``now -
        started_at`` is the uptime even after the wall clock stepped."""
        return time.time() - self.uptime_s

    # --- events -------------------------------------------------------------------------

    def subscribe(self, listener: EventListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, payload: EventPayload) -> Event:
        event = Event(payload)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)
        return event

    # --- writers ------------------------------------------------------------------------

    def set_camera(self, camera: Camera) -> Camera | None:
        """Store what discovery knows of a camera; returns the previous record."""
        with self._lock:
            previous = self._cameras.get(camera.id)
            self._cameras[camera.id] = camera
            return previous

    def remove_camera(self, camera_id: str) -> Camera | None:
        """Forget a camera discovery no longer keeps (a never-enrolled device gone)."""
        with self._lock:
            return self._cameras.pop(camera_id, None)

    def set_quality(self, camera_id: str, status: QualityStatus) -> QualityStatus | None:
        with self._lock:
            previous = self._quality.get(camera_id)
            self._quality[camera_id] = status
            return previous

    def keep_quality_of(self, camera_ids: Iterable[str]) -> None:
        """Forget the judgement of every camera not among ``camera_ids`` (no longer
        enrolled: a verdict nobody renews must not stand in heartbeats)."""
        keep = set(camera_ids)
        with self._lock:
            self._quality = {k: v for k, v in self._quality.items() if k in keep}

    def set_stream(self, camera_id: str, status: StreamStatus) -> StreamStatus | None:
        with self._lock:
            previous = self._streams.get(camera_id)
            self._streams[camera_id] = status
            return previous

    def set_coverage(self, coverage: StoreCoverage) -> None:
        with self._lock:
            self._coverage = coverage

    def set_uplink(self, status: UplinkStatus) -> None:
        with self._lock:
            self._uplink = status

    def set_stage(self, stage: StageStatus) -> None:
        with self._lock:
            self._stage = stage

    # --- readers ------------------------------------------------------------------------

    def cameras(self) -> dict[str, Camera]:
        with self._lock:
            return dict(self._cameras)

    def quality(self) -> dict[str, QualityStatus]:
        with self._lock:
            return dict(self._quality)

    def streams(self) -> dict[str, StreamStatus]:
        with self._lock:
            return dict(self._streams)

    def coverage(self) -> StoreCoverage | None:
        """The store's KCP coverage, None until the quality worker evaluated it."""
        with self._lock:
            return self._coverage

    def uplink(self) -> UplinkStatus:
        with self._lock:
            return self._uplink

    def stage(self) -> StageStatus | None:
        """The construction stage, None until the stage worker loaded or judged it."""
        with self._lock:
            return self._stage
