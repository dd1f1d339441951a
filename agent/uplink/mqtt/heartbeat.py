"""The reporter's messages, built from one moment of AgentState. Pure: everything comes in
as arguments, so each message is tested alone (``tests/test_mqtt_reporter.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.config import AgentConfig, config_hash
from agent.errors import CameraNotFound
from agent.model import (
    Camera,
    QualityStatus,
    StageStatus,
    StoreCoverage,
    StreamStatus,
)
from agent.uplink.messages import (
    BirthMessage,
    CameraBeat,
    CameraInfo,
    CoverageBeat,
    EventMessage,
    HeartbeatMessage,
    OutboxBeat,
    StorageBeat,
    StoreInfo,
    SystemInfo,
    from_epoch,
    utc_now,
)
from agent.uplink.mqtt.outbox import StoredEvent

MAX_ISSUES = 8
MAX_CAMERAS = 32


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def build_birth(
    config: AgentConfig, session: int, protocol: str, stage: StageStatus | None, version: str
) -> BirthMessage:
    store = config.store
    return BirthMessage(
        session=max(1, session),
        ts=utc_now(),
        agent_version=version,
        config_hash=config_hash(config),
        protocol="5" if protocol == "5" else "3.1.1",
        heartbeat_interval_s=config.broker.heartbeat_interval_s,
        keepalive_s=config.broker.keepalive_s,
        store=StoreInfo(
            id=store.id,
            name=store.name,
            licence_number=store.licence_number,
            district=store.district,
            address=store.address,
            kcps=[k.value for k in store.kcps],
            expected_completion=store.expected_completion,
        ),
        cameras=[
            CameraInfo(id=c.id, name=c.name, kcps=[a.kcp.value for a in c.kcps])
            for c in config.cameras.enrolled
        ],
        stage=stage.stage if stage is not None else None,
        stage_reached=stage.reached if stage is not None else None,
    )


def build_heartbeat(
    *,
    session: int,
    seq: int,
    now: float,
    started_at: float,
    system: SystemInfo,
    broker_rtt_ms: float | None,
    enrolled: Sequence[str],
    cameras: Mapping[str, Camera],
    quality: Mapping[str, QualityStatus],
    streams: Mapping[str, StreamStatus],
    declared_kcps: Sequence[str],
    coverage: StoreCoverage | None,
    stage: StageStatus | None,
    outbox_pending: int,
    outbox_dropped: int,
    storage: StorageBeat | None = None,
) -> HeartbeatMessage:
    """The heartbeat for one moment of AgentState. Pure: everything comes in as arguments.

    Cameras: enrolled ones first (in config order; an enrolled camera nobody has seen is
    offline with ``not_found``), then others that discovery knows, at most 32.
    """
    enrolled_ids = set(enrolled)
    ids = list(dict.fromkeys([*enrolled, *sorted(cameras)]))[:MAX_CAMERAS]
    beats = []
    for camera_id in ids:
        camera = cameras.get(camera_id)
        judged = quality.get(camera_id, QualityStatus())
        stream = streams.get(camera_id, StreamStatus())
        error = camera.error_code if camera is not None else CameraNotFound.code
        beats.append(
            CameraBeat(
                id=camera_id,
                online=bool(camera and camera.online),
                error=error,
                fps=_round(stream.fps),
                stream=stream.state,
                kbps=_round(stream.bitrate_kbps, 0),
                quality=judged.verdict,
                issues=[issue.code for issue in judged.issues][:MAX_ISSUES],
                alarms=list(judged.alarms)[:MAX_ISSUES],
                enrolled=camera_id in enrolled_ids,
                clock_skew_s=_round(camera.clock_skew_s if camera else None),
            )
        )
    covered = coverage.covered_map(declared_kcps) if coverage is not None else None
    ratio = None
    if covered is not None and declared_kcps:
        ratio = round(sum(1 for k in declared_kcps if covered.get(k)) / len(declared_kcps), 3)
    return HeartbeatMessage(
        session=max(1, session),
        seq=seq,
        ts=from_epoch(now),
        uptime_s=round(max(0.0, now - started_at), 1),
        system=system,
        broker_rtt_ms=_round(broker_rtt_ms),
        cameras=beats,
        coverage=CoverageBeat(ratio=ratio, kcps=dict(covered or {})),
        stage=stage.stage if stage is not None else None,
        stage_reached=stage.reached if stage is not None else None,
        outbox=OutboxBeat(pending=outbox_pending, dropped=outbox_dropped),
        storage=storage or StorageBeat(),
    )


def build_event(stored: StoredEvent, session: int, now: float, late_after_s: float) -> EventMessage:
    waited = max(0.0, now - stored.ts)
    return EventMessage(
        msg_id=stored.msg_id,
        type=stored.type,
        ts=from_epoch(stored.ts),
        session=max(1, session),
        late=waited > late_after_s,
        queued_s=round(waited, 1),
        data=stored.data,
    )
