"""The daemon's stage worker: the store's construction stage, live and reached.

Every few seconds it reads :class:`agent.state.AgentState` (cameras online, streams,
KCP coverage), derives the stage the facts prove (:func:`agent.stage.construction_stage`)
and feeds it to the :class:`agent.stage.StageTracker` (hysteresis, ``stage_reached``).
The result goes into the state for heartbeats, births and ``status``; a change is a
``stage_changed`` event. ``stage_reached`` and what the platform last got from each
on-demand camera are kept in ``<state_dir>/stage.json`` across restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from agent.model import StageChanged, StageStatus, StreamState
from agent.persist import atomic_write_json, read_json
from agent.stage import (
    HOLD_DOWN_S,
    REACH_AFTER_S,
    StageChange,
    StageTracker,
    construction_stage,
    enrolment_ceiling,
    video_on_platform,
)

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.daemon import Runtime
    from agent.state import AgentState
    from agent.supervisor import WorkerContext

log = structlog.get_logger(__name__)

FILE_NAME = "stage.json"
INTERVAL_S = 5.0


class StageWorker:
    name = "stage"

    def __init__(
        self,
        config: AgentConfig,
        state: AgentState,
        state_dir: Path,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = INTERVAL_S,
        hold_down_s: float = HOLD_DOWN_S,
        reach_after_s: float = REACH_AFTER_S,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = state
        self.path = Path(state_dir) / FILE_NAME
        # Holds are measured on ``clock``, which never steps; ``wall_clock`` only dates
        # the stage reached (a box's clock jumps by days when NTP first sets it, which
        # would make a stage held for seconds count as held for ten minutes).
        self.clock = clock
        self.wall_clock = wall_clock
        self.interval_s = interval_s
        saved: Any = read_json(self.path, default=None)
        self.tracker = StageTracker.from_json(saved, hold_down_s, reach_after_s)
        last_up = saved.get("last_up") if isinstance(saved, dict) else None
        self.last_up: dict[str, bool] = (
            {str(k): bool(v) for k, v in last_up.items()} if isinstance(last_up, dict) else {}
        )
        self.enrolled = {c.id: [str(a.kcp) for a in c.kcps] for c in config.cameras.enrolled}
        self.declared = [str(k) for k in config.store.kcps]
        self.ceiling = enrolment_ceiling(self.declared, self.enrolled)
        if self.tracker.reached.rank > self.ceiling.rank:
            # Enrolment was undone while the daemon was down (or just now, by a reload).
            self._record(self.tracker.update(self.ceiling, clock(), self.ceiling, wall_clock()))
        self._publish()

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> StageWorker:
        return cls(runtime.config, runtime.state, runtime.state_dir)

    def run(self, ctx: WorkerContext) -> None:
        while not ctx.stopping.is_set():
            ctx.beat()
            self.tick()
            if ctx.wait(self.interval_s):
                return

    def _on_demand(self) -> list[str]:
        streams = self.config.streams
        resting = []
        for camera_id in self.enrolled:
            own = streams.cameras.get(camera_id)
            mode = (own.mode if own is not None else None) or streams.mode
            if mode == "on_demand" and (own is None or own.enabled):
                resting.append(camera_id)
        return resting

    def tick(self) -> StageChange | None:
        """Judge the stage now; None while the store's coverage is not known yet (the
        quality worker's first round), when the saved stage stands."""
        coverage = self.state.coverage()
        streams = {
            camera_id: status.state
            for camera_id, status in self.state.streams().items()
            if camera_id in self.enrolled
        }
        learnt = False
        for camera_id, stream in streams.items():
            if stream in (StreamState.UP, StreamState.DOWN):
                was = self.last_up.get(camera_id)
                self.last_up[camera_id] = stream is StreamState.UP
                learnt = learnt or was != self.last_up[camera_id]
        if coverage is None:
            if learnt:
                self._save()
            return None
        disabled = {c for c, own in self.config.streams.cameras.items() if not own.enabled}
        on_platform = video_on_platform(streams, self._on_demand(), self.last_up) - disabled
        raw = construction_stage(
            self.declared,
            self.enrolled,
            [c for c, camera in self.state.cameras().items() if camera.online],
            on_platform,
            [item.kcp for item in coverage.kcps if item.covered],
            self.config.streams.ingest_url is not None,
        )
        change = self.tracker.update(raw, self.clock(), self.ceiling, self.wall_clock())
        self._publish()
        if change.changed:
            self._record(change)
        elif learnt:
            self._save()
        return change

    def _publish(self) -> None:
        tracker = self.tracker
        self.state.set_stage(StageStatus(tracker.stage, tracker.reached, tracker.reached_at))

    def _record(self, change: StageChange) -> None:
        log.info(
            "stage_changed",
            stage=change.stage,
            previous=change.previous,
            stage_reached=change.reached,
            previous_reached=change.previous_reached,
        )
        self.state.emit(
            StageChanged(
                stage=change.stage,
                previous=change.previous,
                stage_reached=change.reached,
                previous_reached=change.previous_reached,
            )
        )
        self._save()

    def _save(self) -> None:
        data = {**self.tracker.to_json(), "last_up": dict(sorted(self.last_up.items()))}
        try:
            atomic_write_json(self.path, data, mode=0o640)
        except OSError as error:
            log.warning("stage_not_saved", path=str(self.path), error=error.strerror)
