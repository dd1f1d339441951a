"""Construction stage of a store, as the programme's district reports count it (annex 4).

前期准备 preparation → 设备安装 equipment installed → 视频对接 video connected to the
platform → 完成建设 completed. Derived from what the box sees, never typed in by hand, so
the monthly report cannot claim more than the kitchen shows.

Three pure parts:

- :func:`construction_stage`: the stage the facts of one moment prove;
- :class:`StageTracker`: the live stage with hysteresis (rises at once, falls only after
  the facts stayed lower for ``hold_down_s``: a camera's brief outage does not flap it)
  and ``stage_reached``, the highest stage held for ``reach_after_s`` (10 minutes) — what
  the programme's 建设进度 counts. It never goes back, except when enrolment is undone
  (:func:`enrolment_ceiling`);
- :func:`video_on_platform`: which cameras' video the platform has, where an on-demand
  stream at rest still counts when its last run reached the ingest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.model import Stage, StreamState

HOLD_DOWN_S = 300.0
REACH_AFTER_S = 600.0
_STAGES = tuple(Stage)


def construction_stage(
    declared_kcps: Iterable[str],
    camera_kcps: Mapping[str, Iterable[str]],
    cameras_online: Iterable[str],
    streams_up: Iterable[str],
    covered_kcps: Iterable[str],
    streaming_enabled: bool,
    checks_pass: bool = True,
) -> Stage:
    """The stage the store has provably reached right now.

    ``camera_kcps`` holds the enrolled cameras only; ``streams_up`` the cameras whose
    video is on the platform.

    - preparation: no enrolled camera is online (none enrolled yet, or none answers);
    - equipment installed: enrolled cameras online, no video on the platform (or no
      ingest configured at all: a store without ``streams.ingest_url`` never gets further);
    - video connected: an enrolled camera's video is on the platform;
    - completed: every declared KCP is covered (a healthy camera has it in view) and has a
      camera whose video is on the platform, and every other check passes.
    """
    declared = set(declared_kcps)
    kcps_of = {camera: set(kcps) for camera, kcps in camera_kcps.items()}
    online = set(cameras_online) & set(kcps_of)
    up = set(streams_up) & set(kcps_of)
    if not online:
        return Stage.PREPARATION
    if not streaming_enabled or not up:
        return Stage.EQUIPMENT_INSTALLED
    all_covered = bool(declared) and declared <= set(covered_kcps)
    streamed = {kcp for camera in up for kcp in kcps_of[camera]}
    if all_covered and declared <= streamed and checks_pass:
        return Stage.COMPLETED
    return Stage.VIDEO_CONNECTED


def enrolment_ceiling(
    declared_kcps: Iterable[str], camera_kcps: Mapping[str, Iterable[str]]
) -> Stage:
    """The highest stage enrolment allows: none enrolled, preparation; a declared KCP with
    no enrolled camera, video connected at most."""
    if not camera_kcps:
        return Stage.PREPARATION
    assigned = {kcp for kcps in camera_kcps.values() for kcp in kcps}
    if not set(declared_kcps) <= assigned:
        return Stage.VIDEO_CONNECTED
    return Stage.COMPLETED


def video_on_platform(
    streams: Mapping[str, StreamState],
    on_demand: Iterable[str],
    last_up: Mapping[str, bool],
) -> set[str]:
    """Cameras whose video the platform has: streaming now, or, for an on-demand camera at
    rest, one whose last run reached the ingest (``last_up``: camera -> its last run was up,
    False once it failed)."""
    resting = set(on_demand)
    found = set()
    for camera, state in streams.items():
        at_rest = camera in resting and state is not StreamState.DOWN
        if state is StreamState.UP or (at_rest and last_up.get(camera)):
            found.add(camera)
    for camera in resting - set(streams):
        if last_up.get(camera):
            found.add(camera)
    return found


def lower(a: Stage, b: Stage) -> Stage:
    return a if a.rank <= b.rank else b


@dataclass(frozen=True)
class StageChange:
    """What one update changed (both None: nothing)."""

    stage: Stage | None
    previous: Stage | None
    reached: Stage
    previous_reached: Stage

    @property
    def live_changed(self) -> bool:
        return self.stage != self.previous

    @property
    def reached_changed(self) -> bool:
        return self.reached != self.previous_reached

    @property
    def changed(self) -> bool:
        return self.live_changed or self.reached_changed


@dataclass
class StageTracker:
    """The live stage with hysteresis and the monotonic ``stage_reached`` (pure: time is
    passed in). ``to_json``/``from_json`` persist what must survive a restart."""

    hold_down_s: float = HOLD_DOWN_S
    reach_after_s: float = REACH_AFTER_S
    stage: Stage | None = None
    reached: Stage = Stage.PREPARATION
    reached_at: float | None = None
    below_since: float | None = None
    # rank -> since when the live stage has been at least that high, without a break
    held_since: dict[int, float] = field(default_factory=dict)

    def update(
        self, raw: Stage, now: float, ceiling: Stage = Stage.COMPLETED, wall: float | None = None
    ) -> StageChange:
        """``now`` measures the holds (a clock that never steps: the box's wall clock jumps
        when NTP first sets it); ``wall`` (Unix seconds, default ``now``) dates
        ``reached_at``."""
        at = now if wall is None else wall
        previous, previous_reached = self.stage, self.reached
        raw = lower(raw, ceiling)
        live = self.stage
        if live is None or raw.rank >= live.rank:
            live, self.below_since = raw, None
        elif live.rank > ceiling.rank:
            live, self.below_since = ceiling, None  # enrolment undone: no grace
        else:
            if self.below_since is None:
                self.below_since = now
            if now - self.below_since >= self.hold_down_s:
                live, self.below_since = raw, None
        self.stage = live
        for rank in range(1, len(_STAGES)):
            if live.rank >= rank:
                self.held_since.setdefault(rank, now)
            else:
                self.held_since.pop(rank, None)
        for rank in range(len(_STAGES) - 1, self.reached.rank, -1):
            since = self.held_since.get(rank)
            if since is not None and now - since >= self.reach_after_s:
                self.reached, self.reached_at = _STAGES[rank], at
                break
        if self.reached.rank > ceiling.rank:
            self.reached, self.reached_at = ceiling, at
        return StageChange(live, previous, self.reached, previous_reached)

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": None if self.stage is None else self.stage.value,
            "stage_reached": self.reached.value,
            "reached_at": self.reached_at,
        }

    @classmethod
    def from_json(
        cls, data: Any, hold_down_s: float = HOLD_DOWN_S, reach_after_s: float = REACH_AFTER_S
    ) -> StageTracker:
        """A tracker that goes on from a saved one (anything unreadable: from scratch). The
        saved live stage holds until the facts stay lower for ``hold_down_s``, so a restart
        does not flap the stage either."""
        tracker = cls(hold_down_s=hold_down_s, reach_after_s=reach_after_s)
        if not isinstance(data, dict):
            return tracker
        try:
            tracker.reached = Stage(data.get("stage_reached", Stage.PREPARATION.value))
            stage = data.get("stage")
            tracker.stage = None if stage is None else Stage(stage)
            at = data.get("reached_at")
            tracker.reached_at = float(at) if isinstance(at, int | float) else None
        except ValueError:
            return cls(hold_down_s=hold_down_s, reach_after_s=reach_after_s)
        return tracker
