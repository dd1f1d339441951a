"""The status picture from what the daemon holds: pure functions, no I/O.

:func:`build_status` turns the running config, AgentState's snapshots, the supervisor's
workers and the outbox counts into a :class:`~agent.status.model.StatusReport`;
:func:`summary_line` makes the one line systemd shows (``STATUS=``) from the same report,
so ``systemctl status`` and ``kitchen-agent status`` never tell different stories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from agent.errors import CameraNotFound
from agent.model import (
    Camera,
    QualityStatus,
    Stage,
    StageStatus,
    StoreCoverage,
    StreamState,
    StreamStatus,
    UplinkState,
    UplinkStatus,
    WorkerState,
)
from agent.scrub import scrub, strip_userinfo
from agent.status.model import (
    CameraView,
    CoverageView,
    KcpView,
    OutboxView,
    Phase,
    QualityView,
    StatusReport,
    StoreView,
    StreamView,
    UplinkView,
    WorkerView,
)

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.supervisor import WorkerInfo

MAX_CAMERAS = 64
MAX_LIST = 16
_NOT_FOUND = CameraNotFound("discovery has not found this camera (yet)")


def _camera_views(
    config: AgentConfig,
    cameras: Mapping[str, Camera],
    quality: Mapping[str, QualityStatus],
    streams: Mapping[str, StreamStatus],
) -> list[CameraView]:
    enrolled = {camera.id: camera for camera in config.cameras.enrolled}
    ids = list(dict.fromkeys([*enrolled, *sorted(cameras)]))[:MAX_CAMERAS]
    views = []
    for camera_id in ids:
        camera = cameras.get(camera_id)
        entry = enrolled.get(camera_id)
        judged = quality.get(camera_id, QualityStatus())
        stream = streams.get(camera_id, StreamStatus())
        error = camera.error if camera is not None else _NOT_FOUND.info()
        views.append(
            CameraView(
                id=camera_id,
                name=entry.name if entry is not None else None,
                enrolled=entry is not None,
                kcps=[a.kcp.value for a in entry.kcps] if entry is not None else [],
                online=bool(camera and camera.online),
                address=camera.address if camera is not None else None,
                error=error,
                quality=QualityView(
                    verdict=judged.verdict,
                    alarms=list(judged.alarms)[:MAX_LIST],
                    issues=[issue.code for issue in judged.issues][:MAX_LIST],
                    checked_at=judged.checked_at,
                ),
                stream=StreamView(
                    state=stream.state,
                    route=stream.route,
                    kbps=None if stream.bitrate_kbps is None else round(stream.bitrate_kbps),
                    cap_kbps=stream.cap_kbps,
                    restarts_last_hour=stream.restarts_last_hour,
                    error=stream.error,
                ),
            )
        )
    return views


def _coverage_view(config: AgentConfig, coverage: StoreCoverage | None) -> CoverageView:
    declared = [k.value for k in config.store.kcps]
    assigned: dict[str, list[str]] = {kcp: [] for kcp in declared}
    for camera in config.cameras.enrolled:
        for assignment in camera.kcps:
            assigned.setdefault(assignment.kcp.value, []).append(camera.id)
    kcps = []
    for kcp in declared:
        item = coverage.get(kcp) if coverage is not None else None
        kcps.append(
            KcpView(
                kcp=kcp,
                covered=bool(item and item.covered),
                cameras=list(item.cameras) if item is not None else [],
                assigned=list(item.assigned) if item is not None else assigned[kcp],
                reason=item.reason if item is not None else None,
            )
        )
    return CoverageView(
        declared=len(declared),
        covered=sum(1 for k in kcps if k.covered),
        evaluated=coverage is not None,
        kcps=kcps,
    )


def _uplink_view(config: AgentConfig, uplink: UplinkStatus) -> UplinkView:
    return UplinkView(
        state=uplink.state,
        broker=uplink.broker or strip_userinfo(config.broker.url),
        session=uplink.session,
        rtt_ms=None if uplink.rtt_ms is None else round(uplink.rtt_ms, 1),
        since=uplink.since,
        error=None if uplink.error is None else scrub(uplink.error)[:300],
    )


def build_status(
    *,
    config: AgentConfig,
    config_path: str,
    config_hash: str,
    version: str,
    pid: int,
    now: float,
    started_at: float,
    phase: Phase,
    cameras: Mapping[str, Camera],
    quality: Mapping[str, QualityStatus],
    streams: Mapping[str, StreamStatus],
    coverage: StoreCoverage | None,
    uplink: UplinkStatus,
    outbox_depth: int,
    outbox_dropped: int,
    workers: Sequence[WorkerInfo],
    stage: StageStatus | None = None,
) -> StatusReport:
    """The status for one moment. Pure: everything comes in as arguments."""
    camera_views = _camera_views(config, cameras, quality, streams)
    coverage_view = _coverage_view(config, coverage)
    uplink_view = _uplink_view(config, uplink)
    # The stage worker's: live with hysteresis, and the stage reached (before it judged
    # once, the stage reached stands for both).
    reached = stage.reached if stage is not None else Stage.PREPARATION
    live = stage.stage if stage is not None and stage.stage is not None else reached
    worker_views = [
        WorkerView(
            name=w.name,
            state=w.state,
            restarts=w.restarts,
            error=None if w.error is None else scrub(w.error)[:300],
            beat_age_s=w.beat_age_s,
        )
        for w in workers
    ]
    outbox = OutboxView(depth=outbox_depth, dropped=outbox_dropped)
    summary = summary_line(
        phase=phase,
        stage=live.value,
        uplink=uplink_view,
        cameras=camera_views,
        streaming=config.streams.ingest_url is not None,
        coverage=coverage_view,
        outbox=outbox,
        workers=worker_views,
    )
    return StatusReport(
        ts=round(now, 3),
        version=version,
        pid=pid,
        config_path=config_path,
        config_hash=config_hash,
        uptime_s=round(max(0.0, now - started_at), 1),
        phase=phase,
        summary=summary,
        store=StoreView(id=config.store.id, name=config.store.name, district=config.store.district),
        stage=live,
        stage_reached=reached,
        uplink=uplink_view,
        cameras=camera_views,
        coverage=coverage_view,
        outbox=outbox,
        workers=worker_views,
    )


def summary_line(
    *,
    phase: Phase,
    stage: str,
    uplink: UplinkView,
    cameras: Sequence[CameraView],
    streaming: bool,
    coverage: CoverageView,
    outbox: OutboxView,
    workers: Sequence[WorkerView],
) -> str:
    """One line for ``systemctl status`` (``STATUS=``): the same picture, shortest form."""
    parts = [phase, f"stage {stage}"]
    if uplink.state is UplinkState.CONNECTED:
        rtt = f", {uplink.rtt_ms:.0f} ms" if uplink.rtt_ms is not None else ""
        parts.append(f"mqtt connected (session {uplink.session}{rtt})")
    else:
        parts.append(f"mqtt {uplink.state.value}")
    enrolled = [c for c in cameras if c.enrolled]
    if enrolled:
        online = sum(1 for c in enrolled if c.online)
        parts.append(f"cameras {online}/{len(enrolled)} online")
        if streaming:
            up = sum(1 for c in enrolled if c.stream.state is StreamState.UP)
            parts.append(f"streams {up}/{len(enrolled)} up")
    else:
        parts.append("no camera enrolled")
    if coverage.declared:
        parts.append(f"KCPs {coverage.covered}/{coverage.declared} covered")
    dropped = f" ({outbox.dropped} dropped)" if outbox.dropped else ""
    parts.append(f"outbox {outbox.depth}{dropped}")
    troubled = [f"{w.name} {w.state.value}" for w in workers if w.state is not WorkerState.RUNNING]
    if troubled:
        parts.append("workers: " + ", ".join(troubled))
    return "; ".join(parts)
