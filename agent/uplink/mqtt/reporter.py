"""The MQTT reporter worker: presence, birth, heartbeats, durable events and commands.

It owns the :class:`~agent.uplink.mqtt.MqttLink` and runs under the supervisor like every
worker. It never blocks the agent's start: with the broker unreachable it keeps retrying
with backoff while the cameras run; events keep accumulating in the SQLite outbox.

What goes where (``{topic_root}/{district}/{store_id}/...``):

- ``state``: retained presence, handled by the link (Last Will, online, stopped);
- ``birth``: retained, after every connect and on the ``rebirth`` command;
- ``heartbeat``: every ``broker.heartbeat_interval_s`` while connected, never queued;
- ``event``: AgentState events, through the durable outbox, in order, removed on PUBACK;
- ``cmd`` / ``cmd/result``: see :mod:`agent.uplink.mqtt.commands`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog
from pydantic import ValidationError

from agent import __version__
from agent.config import AgentConfig
from agent.model import Stage, UplinkState, UplinkStatus
from agent.state import AgentState
from agent.supervisor import WorkerContext
from agent.uplink.messages import HeartbeatMessage, StorageBeat, SystemInfo
from agent.uplink.mqtt.client import Acked, Connected, Disconnected, Incoming
from agent.uplink.mqtt.commands import CommandHooks, CommandRunner, NoHooks, Outcome
from agent.uplink.mqtt.heartbeat import build_birth, build_event, build_heartbeat
from agent.uplink.mqtt.ledger import SeenCommands
from agent.uplink.mqtt.link import MqttLink
from agent.uplink.mqtt.outbox import EventFeed
from agent.uplink.mqtt.session import SessionCounter
from agent.uplink.mqtt.settings import LinkSettings, Topics
from agent.uplink.mqtt.sysinfo import read_sysinfo

log = structlog.get_logger(__name__)

EVENT_WINDOW = 20  # events handed to paho and not yet acknowledged
# A stop with no deadline given (tests, a reporter rebuilt on reload): flush this long.
STOP_FLUSH_S = 2.0
# Of the time left at a stop, kept for the clean close (retained `stopped`, DISCONNECT).
CLOSE_RESERVE_S = 1.0


# --- the worker -------------------------------------------------------------------------------


class Reporter:
    """Worker ``mqtt``. The event feed and the session counter outlive it: the daemon owns
    them (events are stored from the daemon's start, whatever reporter is running)."""

    name = "mqtt"
    # Stopped after the producers, with the time left: it delivers what they said on their
    # way out (agent_stopping, the last stream_down) and then publishes `stopped`.
    stop_last = True

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
        self._runner: CommandRunner | None = None
        self.ledger = SeenCommands(self.state_dir)
        self._rebirth = threading.Event()
        self._uplink = UplinkStatus()
        self._birth_reached: Stage | None = None  # stage_reached of the last birth sent

    def reconfigure(self, config: AgentConfig, hooks: CommandHooks) -> None:
        """A reload that kept this worker (same broker, store id and district): take the
        new config's store details, cameras and KCPs, and re-send the birth (its
        config_hash changed) over the same session."""
        self.config = config
        self.hooks = hooks
        if self._runner is not None:
            self._runner.hooks = hooks
        self._rebirth.set()

    # --- loop -------------------------------------------------------------------------------

    def run(self, ctx: WorkerContext) -> None:
        broker = self.config.broker
        settings = LinkSettings.from_config(
            broker, client_id=f"kitchen-agent-{self.config.store.id}", password=self.password
        )
        link = self.link = MqttLink(
            settings, self.topics, self.sessions, subscriptions=(self.topics.cmd,)
        )
        runner = self._runner = CommandRunner(
            self.hooks,
            self.ledger,
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
        # From the start, not after the first attempt: `status` asked right after the agent
        # started said `stopped` of a link it was about to open.
        self._show_uplink(link, rtt_ms)
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
                self._show_uplink(link, rtt_ms)
                if not link.connected:
                    continue
                stage = self.state.stage()
                if stage is not None and stage.reached != self._birth_reached:
                    self._rebirth.set()  # the retained birth tells the stage reached
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
            self._stop(link, inflight, last_row, ctx.time_left(STOP_FLUSH_S + CLOSE_RESERVE_S))
            runner.shutdown()
            self._show_uplink(link, rtt_ms, stopped=True)

    def _show_uplink(self, link: MqttLink, rtt_ms: float | None, stopped: bool = False) -> None:
        """Tell AgentState how the link is (for `kitchen-agent status`), when it changed."""
        if stopped:
            state = UplinkState.STOPPED
        elif link.connected:
            state = UplinkState.CONNECTED
        elif link.connecting:
            state = UplinkState.CONNECTING
        else:
            state = UplinkState.OFFLINE
        previous = self._uplink
        since = self._clock() if state is not previous.state else previous.since
        current = UplinkStatus(
            state=state,
            broker=link.broker,
            session=link.session if link.session > 0 else None,
            rtt_ms=rtt_ms,
            since=since,
            error=None if state is UplinkState.CONNECTED else link.last_error,
        )
        if current != previous:
            self._uplink = current
            self.state.set_uplink(current)

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

    def _stop(
        self, link: MqttLink, inflight: dict[int, int], last_row: int, budget_s: float
    ) -> None:
        """Deliver what is pending (agent_stopping, the streams' last events) with the time
        the daemon's stop has left, keeping a moment of it to say ``stopped`` cleanly."""
        close_s = min(CLOSE_RESERVE_S, budget_s / 2)
        deadline = time.monotonic() + budget_s - close_s
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
            link.close(timeout_s=max(0.2, deadline + close_s - time.monotonic()))

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
        stage = self.state.stage()
        birth = build_birth(self.config, link.session, link.protocol, stage, self.version)
        link.publish(self.topics.birth, birth.model_dump_json().encode(), 1, retain=True)
        self._birth_reached = birth.stage_reached

    def snapshot_heartbeat(
        self, session: int, seq: int, rtt_ms: float | None, dropped: int
    ) -> HeartbeatMessage:
        """The heartbeat AgentState gives right now (also used by the benchmark)."""
        declared = [k.value for k in self.config.store.kcps]
        return build_heartbeat(
            session=session,
            seq=seq,
            now=self._clock(),
            started_at=self.state.started_at,
            system=self._sysinfo(),
            broker_rtt_ms=rtt_ms,
            enrolled=[c.id for c in self.config.cameras.enrolled],
            cameras=self.state.cameras(),
            quality=self.state.quality(),
            streams=self.state.streams(),
            declared_kcps=declared,
            coverage=self.state.coverage(),
            stage=self.state.stage(),
            outbox_pending=self.outbox.count(),
            outbox_dropped=dropped,
            storage=StorageBeat(
                outbox=self.outbox.fault.code if self.outbox.fault else None,
                commands=self.ledger.fault.code if self.ledger.fault else None,
            ),
        )

    def _publish_heartbeat(
        self, link: MqttLink, seq: int, rtt_ms: float | None, dropped: int
    ) -> int | None:
        beat = self.snapshot_heartbeat(link.session, seq, rtt_ms, dropped)
        return link.publish(self.topics.heartbeat, beat.model_dump_json().encode(), 1)

    def _publish_result(self, link: MqttLink, outcome: Outcome) -> None:
        message = outcome.message(link.session)
        link.publish_or_queue(self.topics.cmd_result, message.model_dump_json().encode(), 1)
