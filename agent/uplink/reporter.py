"""The MQTT reporter worker: presence, birth, heartbeats, durable events and commands.

It owns the :class:`~agent.uplink.mqtt.MqttLink` and runs under the supervisor like every
worker. It never blocks the agent's start: with the broker unreachable it keeps retrying
with backoff while the cameras run; events keep accumulating in the SQLite outbox.

What goes where (``{topic_root}/{district}/{store_id}/...``):

- ``state``: retained presence, handled by the link (Last Will, online, stopped);
- ``birth``: retained, after every connect and on the ``rebirth`` command;
- ``heartbeat``: every ``broker.heartbeat_interval_s`` while connected, never queued;
- ``event``: AgentState events, through the durable outbox, in order, removed on PUBACK;
- ``cmd`` / ``cmd/result``: see :mod:`agent.uplink.commands`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import structlog
from pydantic import ValidationError

from agent import __version__
from agent.config import AgentConfig, config_hash
from agent.errors import CameraNotFound
from agent.model import (
    Camera,
    QualityStatus,
    Stage,
    StoreCoverage,
    StreamState,
    StreamStatus,
)
from agent.stage import construction_stage
from agent.state import AgentState
from agent.supervisor import WorkerContext
from agent.uplink.commands import CommandHooks, CommandRunner, NoHooks, Outcome, SeenCommands
from agent.uplink.messages import (
    BirthMessage,
    CameraBeat,
    CameraInfo,
    CoverageBeat,
    EventMessage,
    HeartbeatMessage,
    OutboxBeat,
    StoreInfo,
    SystemInfo,
    from_epoch,
    utc_now,
)
from agent.uplink.mqtt import (
    Acked,
    Connected,
    Disconnected,
    Incoming,
    LinkSettings,
    MqttLink,
    Topics,
)
from agent.uplink.outbox import EventFeed, StoredEvent
from agent.uplink.session import SessionCounter
from agent.uplink.sysinfo import read_sysinfo

log = structlog.get_logger(__name__)

EVENT_WINDOW = 20  # events handed to paho and not yet acknowledged
MAX_ISSUES = 8
MAX_CAMERAS = 32
STOP_FLUSH_S = 2.0


# --- pure builders ----------------------------------------------------------------------------


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def store_stage(
    config: AgentConfig,
    cameras: Mapping[str, Camera],
    streams: Mapping[str, StreamStatus],
    coverage: StoreCoverage | None,
) -> Stage:
    return construction_stage(
        declared_kcps=[k.value for k in config.store.kcps],
        camera_kcps={c.id: [a.kcp.value for a in c.kcps] for c in config.cameras.enrolled},
        cameras_online=[cid for cid, camera in cameras.items() if camera.online],
        streams_up=[cid for cid, status in streams.items() if status.state is StreamState.UP],
        covered_kcps=[item.kcp for item in coverage.kcps if item.covered] if coverage else [],
        streaming_enabled=config.streams.ingest_url is not None,
    )


def build_birth(
    config: AgentConfig, session: int, protocol: str, stage: Stage | None, version: str
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
        ),
        cameras=[
            CameraInfo(id=c.id, name=c.name, kcps=[a.kcp.value for a in c.kcps])
            for c in config.cameras.enrolled
        ],
        stage=stage,
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
    stage: Stage | None,
    outbox_pending: int,
    outbox_dropped: int,
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
        stage=stage,
        outbox=OutboxBeat(pending=outbox_pending, dropped=outbox_dropped),
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


# --- the worker -------------------------------------------------------------------------------


class Reporter:
    """Worker ``mqtt``. The event feed and the session counter outlive it: the daemon owns
    them (events are stored from the daemon's start, whatever reporter is running)."""

    name = "mqtt"

    def __init__(
        self,
        config: AgentConfig,
        state: AgentState,
        events: EventFeed,
        sessions: SessionCounter,
        password: str | None,
        hooks: CommandHooks | None = None,
        version: str = __version__,
        sysinfo: Callable[[], SystemInfo] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = state
        self.state_dir = Path(config.paths.state_dir)
        self.sessions = sessions
        self.password = password
        self.hooks: CommandHooks = hooks if hooks is not None else NoHooks()
        self.version = version
        self._sysinfo = sysinfo or (lambda: read_sysinfo(self.state_dir))
        self._clock = clock
        broker = config.broker
        self._tap = events
        self.outbox = events.outbox
        self.topics = Topics(broker.topic_root, config.store.district, config.store.id)
        self.link: MqttLink | None = None
        self._rebirth = threading.Event()

    # --- loop -------------------------------------------------------------------------------

    def run(self, ctx: WorkerContext) -> None:
        broker = self.config.broker
        settings = LinkSettings.from_config(
            broker, client_id=f"kitchen-agent-{self.config.store.id}", password=self.password
        )
        link = self.link = MqttLink(
            settings, self.topics, self.sessions, subscriptions=(self.topics.cmd,)
        )
        runner = CommandRunner(
            self.hooks,
            SeenCommands(self.state_dir),
            rebirth=self._rebirth.set,
            snapshot_max_bytes=broker.snapshot_max_bytes,
        )
        inflight: dict[int, int] = {}  # mid -> outbox row
        last_row = 0
        heartbeat_mid: int | None = None
        heartbeat_dropped = 0
        seq = 0
        next_heartbeat = float("inf")
        next_expire = 0.0
        rtt_ms: float | None = None
        try:
            while not ctx.stopping.is_set():
                ctx.beat()
                link.maintain()
                now = time.monotonic()
                timeout = max(0.0, min(0.25, next_heartbeat - now))
                if self._tap.wake.is_set() and link.connected:
                    timeout = 0.0  # new events to send now; offline they wait for a link
                for event in link.drain(timeout):
                    if isinstance(event, Connected):
                        inflight.clear()
                        last_row, seq, heartbeat_mid = 0, 0, None
                        self._publish_birth(link)
                        next_heartbeat = time.monotonic()  # first heartbeat right away
                    elif isinstance(event, Disconnected):
                        inflight.clear()
                        last_row, heartbeat_mid = 0, None
                        next_heartbeat = float("inf")
                    elif isinstance(event, Acked):
                        if event.rtt_s is not None:
                            rtt_ms = event.rtt_s * 1000
                        is_event = self._settle(event, inflight)
                        if not is_event and event.mid == heartbeat_mid and event.ok:
                            self.outbox.dropped_reported(heartbeat_dropped)
                            heartbeat_mid, heartbeat_dropped = None, 0
                    elif isinstance(event, Incoming) and event.topic == self.topics.cmd:
                        for outcome in runner.submit(event.payload):
                            self._publish_result(link, outcome)
                for outcome in runner.finished():
                    self._publish_result(link, outcome)
                if not link.connected:
                    continue
                if self._rebirth.is_set():
                    self._rebirth.clear()
                    self._publish_birth(link)
                self._tap.wake.clear()
                last_row = self._pump(link, inflight, last_row)
                now = time.monotonic()
                if now >= next_heartbeat:
                    dropped = self.outbox.dropped_unreported()
                    mid = self._publish_heartbeat(link, seq + 1, rtt_ms, dropped)
                    if mid is not None:
                        seq += 1
                        heartbeat_mid, heartbeat_dropped = mid, dropped
                    next_heartbeat = now + broker.heartbeat_interval_s
                if now >= next_expire:
                    self.outbox.expire()
                    next_expire = now + 60
        finally:
            self._stop(link, inflight, last_row)
            runner.shutdown()

    def _settle(self, acked: Acked, inflight: dict[int, int]) -> bool:
        """The broker's answer to an outbox event: delete its row. False if not an event."""
        row = inflight.pop(acked.mid, None)
        if row is None:
            return False
        if acked.ok:
            self.outbox.acknowledge(row)
        else:
            log.error("event_refused_by_broker", reason=acked.reason)
            self.outbox.drop(row)
        return True

    def _stop(self, link: MqttLink, inflight: dict[int, int], last_row: int) -> None:
        """Deliver what is pending (e.g. agent_stopping) for a moment, then say stopped."""
        deadline = time.monotonic() + STOP_FLUSH_S
        wait_s = 0.0  # first take in what the loop left undrained: it may be a fresh CONNACK
        try:
            while time.monotonic() < deadline:
                for event in link.drain(wait_s):
                    if isinstance(event, Connected | Disconnected):
                        inflight.clear()
                        last_row = 0
                    elif isinstance(event, Acked):
                        self._settle(event, inflight)
                if not link.connected:
                    break
                last_row = self._pump(link, inflight, last_row)
                if not inflight:
                    break
                wait_s = 0.05
        finally:
            link.close()

    # --- publishing ---------------------------------------------------------------------

    def _pump(self, link: MqttLink, inflight: dict[int, int], last_row: int) -> int:
        """Hand the next outbox events to the link, in order, keeping a bounded window."""
        while len(inflight) < EVENT_WINDOW:
            batch = self.outbox.pending(after_row=last_row, limit=EVENT_WINDOW - len(inflight))
            if not batch:
                break
            for stored in batch:
                try:
                    message = build_event(
                        stored, link.session, self._clock(), self.config.broker.outbox.late_after_s
                    )
                except ValidationError as error:
                    log.error("event_invalid", event_type=stored.type, error=str(error))  # noqa: TRY400
                    self.outbox.drop(stored.row_id)
                    last_row = stored.row_id
                    continue
                mid = link.publish(self.topics.event, message.model_dump_json().encode(), 1)
                if mid is None:
                    return last_row
                inflight[mid] = stored.row_id
                last_row = stored.row_id
        return last_row

    def _publish_birth(self, link: MqttLink) -> None:
        cameras, streams = self.state.cameras(), self.state.streams()
        birth = build_birth(
            self.config,
            link.session,
            link.protocol,
            store_stage(self.config, cameras, streams, self.state.coverage()),
            self.version,
        )
        link.publish(self.topics.birth, birth.model_dump_json().encode(), 1, retain=True)

    def snapshot_heartbeat(
        self, session: int, seq: int, rtt_ms: float | None, dropped: int
    ) -> HeartbeatMessage:
        """The heartbeat AgentState gives right now (also used by the benchmark)."""
        declared = [k.value for k in self.config.store.kcps]
        cameras, streams = self.state.cameras(), self.state.streams()
        coverage = self.state.coverage()
        return build_heartbeat(
            session=session,
            seq=seq,
            now=self._clock(),
            started_at=self.state.started_at,
            system=self._sysinfo(),
            broker_rtt_ms=rtt_ms,
            enrolled=[c.id for c in self.config.cameras.enrolled],
            cameras=cameras,
            quality=self.state.quality(),
            streams=streams,
            declared_kcps=declared,
            coverage=coverage,
            stage=store_stage(self.config, cameras, streams, coverage),
            outbox_pending=self.outbox.count(),
            outbox_dropped=dropped,
        )

    def _publish_heartbeat(
        self, link: MqttLink, seq: int, rtt_ms: float | None, dropped: int
    ) -> int | None:
        beat = self.snapshot_heartbeat(link.session, seq, rtt_ms, dropped)
        return link.publish(self.topics.heartbeat, beat.model_dump_json().encode(), 1)

    def _publish_result(self, link: MqttLink, outcome: Outcome) -> None:
        message = outcome.message(link.session)
        link.publish_or_queue(self.topics.cmd_result, message.model_dump_json().encode(), 1)
