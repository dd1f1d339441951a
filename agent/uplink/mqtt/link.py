"""The MQTT link to central operations: one paho-mqtt 2 client per connection.

Why a fresh client per connection: paho retransmits unacknowledged messages of a dropped
connection by itself, which would reorder them against the outbox (the source of truth for
events) and resend stale heartbeats. Here a dead connection's client is discarded whole;
the outbox re-offers what was not acknowledged, in order, on the next connection.

Threads: the owner (the reporter worker) calls :meth:`MqttLink.maintain`, :meth:`publish`
and :meth:`drain`; a per-connection network thread runs paho's ``loop()``. paho callbacks
only put notes on a queue (never block, never touch SQLite); the owner acts on them.

Presence: every CONNECT carries a Last Will = retained QoS 1 ``state`` with ``online:
false, reason: "connection_lost"`` and the connection's session number; right after CONNACK
the link publishes retained ``online: true`` with the same session, before anything else.
A clean :meth:`close` publishes ``online: false, reason: "stopped"`` and then DISCONNECTs
normally, so the broker discards the will.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from agent.model import PresenceReason
from agent.uplink.messages import StateMessage, utc_now
from agent.uplink.mqtt.client import (
    INCOMING_BYTES_LIMIT,
    MAX_INCOMING_PACKET,
    NOTE_OVERHEAD,
    PAHO_PROTOCOL,
    UNSUPPORTED_PROTOCOL,
    Acked,
    BoundedClient,
    Connected,
    Connection,
    Disconnected,
    Incoming,
    LinkEvent,
    Note,
    Protocol,
    describe,
    network_loop,
    reason_value,
    release,
)
from agent.uplink.mqtt.session import SessionCounter
from agent.uplink.mqtt.settings import LinkSettings, Topics, TrackingContext, make_tls_context

log = structlog.get_logger(__name__)


class MqttLink:
    def __init__(
        self,
        settings: LinkSettings,
        topics: Topics,
        sessions: SessionCounter,
        subscriptions: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.sessions = sessions
        self.subscriptions = subscriptions
        self._clock = clock
        self._rng = rng
        self._notes: queue.Queue[Note] = queue.Queue()
        self._conn: Connection | None = None
        self._generation = 0
        self._failures = 0
        self._next_attempt = 0.0
        self._protocol: Protocol = "3.1.1" if settings.protocol == "3.1.1" else "5"
        self._sent_at: dict[int, float] = {}
        self._queue: deque[tuple[str, bytes, int, bool]] = deque()
        self._pending_queued: dict[int, tuple[str, bytes, int, bool]] = {}
        self.queue_dropped = 0
        self.incoming_dropped = 0
        self._incoming_bytes = 0
        self._incoming_lock = threading.Lock()
        self.last_error: str | None = None

    # --- status -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.connected

    @property
    def connecting(self) -> bool:
        """A CONNECT is on the wire and has no answer yet."""
        return self._conn is not None and not self._conn.connected

    @property
    def broker(self) -> str:
        """Where the link connects to (no credentials), for status and diagnostics."""
        scheme = "mqtts" if self.settings.use_tls else "mqtt"
        return f"{scheme}://{self.settings.host}:{self.settings.port}"

    @property
    def session(self) -> int:
        """Session of the current (or last) connection."""
        return self._conn.session if self._conn is not None else self.sessions.last

    @property
    def protocol(self) -> Protocol:
        return self._protocol

    def _state_payload(self, online: bool, session: int, reason: PresenceReason) -> bytes:
        message = StateMessage(online=online, session=session, ts=utc_now(), reason=reason)
        return message.model_dump_json().encode("utf-8")

    # --- connection management (owner thread) -------------------------------------------

    def maintain(self) -> None:
        """Connect when due, give up on a CONNECT that got no CONNACK in time."""
        now = self._clock()
        conn = self._conn
        if conn is not None:
            if not conn.connected and now - conn.started > self.settings.connect_timeout_s:
                self._fail("no CONNACK within connect_timeout_s", before_connack=True)
            return
        if now >= self._next_attempt:
            self._attempt()

    def _new_client(self, session: int) -> tuple[mqtt.Client, TrackingContext | None]:
        protocol = PAHO_PROTOCOL[self._protocol]
        client = BoundedClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=protocol,
        )
        client.connect_timeout = self.settings.connect_timeout_s
        if self.settings.username is not None:
            client.username_pw_set(self.settings.username, self.settings.password)
        context = None
        if self.settings.use_tls:
            context = make_tls_context(self.settings)
            client.tls_set_context(context)
        client.will_set(
            self.topics.state,
            self._state_payload(False, session, PresenceReason.CONNECTION_LOST),
            qos=1,
            retain=True,
        )
        generation = self._generation
        client.on_connect = self._make_on_connect(generation, session)
        client.on_disconnect = self._make_on_disconnect(generation)
        client.on_publish = self._make_on_publish(generation)
        client.on_message = self._make_on_message(generation)
        return client, context

    def _attempt(self) -> None:
        self._generation += 1
        session = self.sessions.peek()
        client, context = self._new_client(session)
        try:
            client.connect(
                self.settings.host,
                self.settings.port,
                self.settings.keepalive_s,
                properties=self._connect_properties(),
            )
        except (OSError, ValueError) as error:
            if context is not None and context.last_socket is not None:
                context.last_socket.close()
            release(client)
            self._failures += 1
            self._schedule(f"{type(error).__name__}: {error}")
            return
        # The CONNECT is on the wire: this session number is now used, persist it first.
        self.sessions.commit(session)
        stop = threading.Event()
        conn = Connection(client, self._generation, session, self._protocol, self._clock())
        conn.stop, conn.context = stop, context
        conn.thread = threading.Thread(
            target=network_loop, args=(client, stop), name="mqtt-network", daemon=True
        )
        self._conn = conn
        conn.thread.start()
        log.info(
            "mqtt_connecting",
            host=self.settings.host,
            port=self.settings.port,
            session=session,
            protocol=self._protocol,
        )

    def _connect_properties(self) -> Properties | None:
        if self._protocol != "5":
            return None
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.MaximumPacketSize = MAX_INCOMING_PACKET
        return properties

    def _schedule(self, reason: str) -> None:
        # The agent's one backoff: its jitter spreads a city's boxes out after a broker
        # restart instead of having them all knock at the same second.
        delay = self.settings.backoff.delay(self._failures, self._rng)
        self._next_attempt = self._clock() + delay
        if reason != self.last_error or self._failures <= 1:
            log.warning("mqtt_unavailable", error=reason, retry_in_s=round(delay, 1))
        self.last_error = reason

    def _teardown(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.stop is not None:
            conn.stop.set()
        if conn.thread is not None and conn.thread is not threading.current_thread():
            conn.thread.join(5)
        release(conn.client)
        self._sent_at.clear()
        # Queued messages that were handed out but never acknowledged go back in front.
        for item in reversed(list(self._pending_queued.values())):
            self._queue.appendleft(item)
        self._pending_queued.clear()

    def _fail(self, reason: str, before_connack: bool) -> None:
        was_connected = self.connected
        if (
            before_connack
            and self.settings.protocol == "auto"
            and self._conn is not None
            and not self._conn.connected
        ):
            # A broker that hangs up on an MQTT 5 CONNECT may only speak 3.1.1: alternate.
            self._protocol = "3.1.1" if self._protocol == "5" else "5"
        self._teardown()
        self._failures = 1 if was_connected else self._failures + 1
        self._schedule(reason)

    # --- paho callbacks (network thread: only queue notes) ------------------------------

    def _make_on_connect(self, generation: int, session: int) -> Callable[..., None]:
        def on_connect(
            client: mqtt.Client,
            userdata: Any,
            flags: mqtt.ConnectFlags,
            reason: ReasonCode,
            properties: Properties | None,
        ) -> None:
            if reason.is_failure:
                self._notes.put(Note("refused", generation, ok=False, reason=describe(reason)))
                return
            # First message of every connection: we are here, same session as the will.
            client.publish(
                self.topics.state,
                self._state_payload(True, session, PresenceReason.CONNECTED),
                1,
                True,
            )
            if self.subscriptions:
                client.subscribe([(topic, 1) for topic in self.subscriptions])
            self._notes.put(Note("connected", generation))

        return on_connect

    def _make_on_disconnect(self, generation: int) -> Callable[..., None]:
        def on_disconnect(
            client: mqtt.Client,
            userdata: Any,
            flags: mqtt.DisconnectFlags,
            reason: ReasonCode,
            properties: Properties | None,
        ) -> None:
            self._notes.put(Note("disconnected", generation, reason=describe(reason)))

        return on_disconnect

    def _make_on_publish(self, generation: int) -> Callable[..., None]:
        def on_publish(
            client: mqtt.Client,
            userdata: Any,
            mid: int,
            reason: ReasonCode,
            properties: Properties | None,
        ) -> None:
            self._notes.put(
                Note(
                    "acked",
                    generation,
                    mid=mid,
                    at=self._clock(),
                    ok=not reason.is_failure,
                    reason=describe(reason),
                )
            )

        return on_publish

    def _make_on_message(self, generation: int) -> Callable[..., None]:
        def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            # Bounded in bytes: a flood of commands must not eat the box's memory.
            cost = NOTE_OVERHEAD + len(message.payload) + len(message.topic)
            with self._incoming_lock:
                if self._incoming_bytes + cost > INCOMING_BYTES_LIMIT:
                    self.incoming_dropped += 1
                    return
                self._incoming_bytes += cost
            self._notes.put(
                Note(
                    "message",
                    generation,
                    topic=message.topic,
                    payload=bytes(message.payload),
                    cost=cost,
                )
            )

        return on_message

    # --- owner thread: events -----------------------------------------------------------

    def drain(self, timeout_s: float) -> list[LinkEvent]:
        """Wait up to ``timeout_s`` for callback notes and turn them into link events."""
        events: list[LinkEvent] = []
        try:
            first = self._notes.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return events
        notes = [first]
        with contextlib.suppress(queue.Empty):
            while len(notes) < 1000:
                notes.append(self._notes.get_nowait())
        for note in notes:
            self._release_incoming(note)
            event = self._handle(note)
            if event is not None:
                events.append(event)
        return events

    def _handle(self, note: Note) -> LinkEvent | None:
        conn = self._conn
        if conn is None or note.generation != conn.generation:
            return None  # from a connection already given up
        if note.kind == "connected":
            conn.connected = True
            self._failures = 0
            self.last_error = None
            log.info("mqtt_connected", session=conn.session, protocol=conn.protocol)
            self._flush_queue()
            return Connected(conn.session, conn.protocol)
        if note.kind == "refused":
            if self.settings.protocol == "auto" and reason_value(note.reason) in (
                UNSUPPORTED_PROTOCOL
            ):
                self._protocol = "3.1.1" if self._protocol == "5" else "5"
            self._fail(f"broker refused the connection: {note.reason}", before_connack=False)
            return None
        if note.kind == "disconnected":
            was_connected = conn.connected
            self._fail(f"connection lost: {note.reason}", before_connack=not was_connected)
            return Disconnected(note.reason) if was_connected else None
        if note.kind == "acked":
            sent = self._sent_at.pop(note.mid, None)
            self._pending_queued.pop(note.mid, None)
            rtt = note.at - sent if sent is not None else None
            return Acked(note.mid, note.ok, rtt, note.reason)
        return Incoming(note.topic, note.payload)

    def _release_incoming(self, note: Note) -> None:
        if note.cost:
            with self._incoming_lock:
                self._incoming_bytes -= note.cost

    # --- publishing (owner thread) ------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int | None:
        """Publish now if connected; the message id (for :class:`Acked`) or None if offline."""
        conn = self._conn
        if conn is None or not conn.connected:
            return None
        started = self._clock()
        info = conn.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        if qos > 0:
            self._sent_at[info.mid] = started
        return info.mid

    def publish_or_queue(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish now, or keep it in the bounded memory queue until the next connection."""
        if self.connected:
            mid = self.publish(topic, payload, qos, retain)
            if mid is not None:
                if qos > 0:
                    self._pending_queued[mid] = (topic, payload, qos, retain)
                return
        if len(self._queue) >= self.settings.queue_max_messages:
            self._queue.popleft()
            self.queue_dropped += 1
        self._queue.append((topic, payload, qos, retain))

    def _flush_queue(self) -> None:
        while self._queue and self.connected:
            topic, payload, qos, retain = self._queue.popleft()
            mid = self.publish(topic, payload, qos, retain)
            if mid is None:
                self._queue.appendleft((topic, payload, qos, retain))
                return
            if qos > 0:
                self._pending_queued[mid] = (topic, payload, qos, retain)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # --- shutdown -----------------------------------------------------------------------

    def close(self, timeout_s: float = 3.0) -> None:
        """Clean stop: retained ``online: false, reason: stopped``, then a normal DISCONNECT.

        Notes the owner has not drained yet are folded in first: a CONNACK that arrived just
        before the stop makes this a connection that says ``stopped`` and disconnects, not
        one that is dropped (and whose Last Will would tell ops ``connection_lost``).
        """
        deadline = time.monotonic() + timeout_s
        self.drain(0.0)
        conn = self._conn
        if conn is None:
            return
        if conn.connected:
            info = conn.client.publish(
                self.topics.state,
                self._state_payload(False, conn.session, PresenceReason.STOPPED),
                qos=1,
                retain=True,
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)
            conn.client.disconnect()
            # Let the network thread send the DISCONNECT before it is stopped.
            if conn.thread is not None:
                conn.thread.join(max(0.1, deadline - time.monotonic()))
        log.info("mqtt_closed", session=conn.session)
        self._teardown()
