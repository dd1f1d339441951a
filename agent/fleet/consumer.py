"""``kitchen-agent fleet run``: the consumer that keeps the fleet's state and history.

Threads: paho's network thread only appends what arrives to a bounded buffer; the writer
thread parses and validates a batch, folds it into the database in one transaction
(:meth:`Database.apply_batch`), and every few seconds marks silent stores stale, saves its
own statistics and forgets old event ids. The main thread waits for a signal and feeds the
systemd watchdog only while the writer keeps coming round.

Subscriptions: ``<root>/#`` for one consumer. With ``broker.shared_group`` the live traffic
is ``$share/<group>/<root>/#`` (the broker hands each message to one instance), plus plain
subscriptions to the retained ``state`` and ``birth`` topics, because brokers do not deliver
retained messages to shared subscriptions: every instance bootstraps the whole fleet from
them. Folding a message twice changes nothing (the presence rules are max-registers and
events are deduplicated on ``msg_id``), so the overlap is harmless.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from sqlalchemy.exc import SQLAlchemyError

from agent.fleet.config import FleetConfig
from agent.fleet.db import BatchResult, Database
from agent.fleet.ingest import (
    Bad,
    EventSeen,
    HeartbeatSeen,
    Ignored,
    Incoming,
    Observation,
    parse,
)
from agent.fleet.mqtt import connect_properties, endpoint, make_client

log = structlog.get_logger(__name__)

STATS_EVERY_S = 5.0
SWEEP_EVERY_S = 2.0
FORGET_EVERY_S = 3600.0
LAG_WINDOW_S = 60.0
# Room for the largest accepted payload plus the topic and MQTT headers.
_PACKET_HEADROOM = 4096


def sd_notify(message: str) -> bool:
    """Tell systemd (Type=notify) about readiness and the watchdog; no-op outside it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Stats:
    """What the consumer has seen; saved to the ``consumers`` table for ops and benchmarks."""

    received: int = 0
    retained: int = 0
    applied: int = 0
    ignored: int = 0
    duplicates: int = 0
    dropped: int = 0
    bad: collections.Counter[str] = field(default_factory=collections.Counter)
    by_kind: collections.Counter[str] = field(default_factory=collections.Counter)
    presence_changes: int = 0
    batches: int = 0
    db_errors: int = 0
    connects: int = 0
    last_commit_at: float | None = None
    # (committed at, ts (box clock) -> committed, received -> committed) of live heartbeats
    # and events; the statistics cover the last LAG_WINDOW_S.
    lags: collections.deque[tuple[float, float, float]] = field(
        default_factory=lambda: collections.deque(maxlen=65536)
    )

    def record_lag(self, committed: float, lag_s: float, processing_s: float) -> None:
        self.lags.append((committed, lag_s, processing_s))

    def snapshot(self, queued: int, now: float | None = None) -> dict[str, Any]:
        since = (now if now is not None else time.time()) - LAG_WINDOW_S
        while self.lags and self.lags[0][0] < since:
            self.lags.popleft()
        lags = [lag for _, lag, _ in self.lags]
        processing = [p for _, _, p in self.lags]
        return {
            "received": self.received,
            "retained": self.retained,
            "applied": self.applied,
            "ignored": self.ignored,
            "duplicates": self.duplicates,
            "dropped": self.dropped,
            "bad": sum(self.bad.values()),
            "bad_by_reason": dict(self.bad),
            "by_kind": dict(self.by_kind),
            "presence_changes": self.presence_changes,
            "batches": self.batches,
            "db_errors": self.db_errors,
            "connects": self.connects,
            "queued": queued,
            "last_commit_at": self.last_commit_at,
            "lag_window_s": LAG_WINDOW_S,
            "lag_samples": len(lags),
            "lag_p50_s": percentile(lags, 0.5),
            "lag_p99_s": percentile(lags, 0.99),
            "lag_max_s": max(lags) if lags else None,
            "processing_p99_s": percentile(processing, 0.99),
        }


class _RateLimitedLog:
    """Bad messages are logged, but a flood of them is summarised, not echoed."""

    def __init__(self, per_minute: int = 30) -> None:
        self.per_minute = per_minute
        self.window_start = 0.0
        self.count = 0
        self.suppressed = 0

    def allow(self, now: float) -> bool:
        if now - self.window_start >= 60:
            if self.suppressed:
                log.warning("fleet_bad_messages_suppressed", count=self.suppressed)
            self.window_start, self.count, self.suppressed = now, 0, 0
        self.count += 1
        if self.count > self.per_minute:
            self.suppressed += 1
            return False
        return True


class Consumer:
    def __init__(self, config: FleetConfig, database: Database) -> None:
        self.config = config
        self.database = database
        self.instance = config.client_id()
        self.root = config.broker.topic_root
        self.started_at = time.time()
        self.stats = Stats()
        self.stopping = threading.Event()
        self._buffer: collections.deque[Incoming] = collections.deque()
        self._cond = threading.Condition()
        self._writer_beat = time.monotonic()
        self._bad_log = _RateLimitedLog()
        self.max_payload = config.consumer.max_payload_bytes
        self.client = make_client(
            config,
            self.instance,
            max_packet_bytes=self.max_payload + _PACKET_HEADROOM,
            persistent=config.broker.session_expiry_s > 0,
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._writer = threading.Thread(target=self._write_loop, name="fleet-writer", daemon=True)

    # --- MQTT side (paho's thread) -------------------------------------------------------

    def topics(self) -> list[tuple[str, int]]:
        group = self.config.broker.shared_group
        if group is None:
            return [(f"{self.root}/#", 1)]
        return [
            (f"$share/{group}/{self.root}/#", 1),
            (f"{self.root}/+/+/state", 1),
            (f"{self.root}/+/+/birth", 1),
        ]

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            log.warning("fleet_broker_refused", reason=str(rc))
            return
        self.stats.connects += 1
        log.info(
            "fleet_broker_connected",
            broker=self.config.broker.url,
            session_present=bool(getattr(flags, "session_present", False)),
        )
        # Subscribing again on a resumed session is harmless, and it re-delivers the
        # retained states and births, which is how a reconnect catches up with them.
        client.subscribe(self.topics())

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if not self.stopping.is_set():
            log.warning("fleet_broker_lost", reason=str(rc))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        incoming = Incoming(
            message.topic, bytes(message.payload), bool(message.retain), time.time()
        )
        with self._cond:
            if len(self._buffer) >= self.config.consumer.queue_max:
                self._buffer.popleft()
                self.stats.dropped += 1
            self._buffer.append(incoming)
            self._cond.notify()

    # --- the writer thread ---------------------------------------------------------------

    def _take(self) -> list[Incoming]:
        """Up to batch_max messages: wait for the first, then gather briefly."""
        limit = self.config.consumer.batch_max
        with self._cond:
            if not self._buffer:
                self._cond.wait(0.5)
            if self._buffer and len(self._buffer) < limit:
                # A short gathering window turns a burst into one transaction.
                self._cond.wait(0.05)
            batch: list[Incoming] = []
            while self._buffer and len(batch) < limit:
                batch.append(self._buffer.popleft())
            return batch

    def _write_loop(self) -> None:
        next_sweep = next_stats = time.monotonic()
        next_forget = time.monotonic() + 60
        stale = self.config.consumer.stale_heartbeats
        while True:
            self._writer_beat = time.monotonic()
            batch = self._take()
            if batch:
                self._write(batch)
            elif self.stopping.is_set():
                break
            now = time.monotonic()
            try:
                if now >= next_sweep:
                    next_sweep = now + SWEEP_EVERY_S
                    for change in self.database.sweep(time.time(), stale, self.started_at):
                        self.stats.presence_changes += 1
                        log.info("fleet_store_stale", at=change.at, reason=change.reason)
                if now >= next_stats:
                    next_stats = now + STATS_EVERY_S
                    self.save_stats()
                if now >= next_forget:
                    next_forget = now + FORGET_EVERY_S
                    days = self.config.consumer.keep_event_ids_days
                    self.database.forget_event_ids(time.time() - days * 86400)
            except SQLAlchemyError as error:
                self.stats.db_errors += 1
                log.warning("fleet_database_error", error=str(error.__class__.__name__))

    def _write(self, batch: list[Incoming]) -> None:
        observations: list[Observation] = []
        for incoming in batch:
            self.stats.received += 1
            self.stats.retained += incoming.retained
            try:
                parsed = parse(incoming, self.root, self.max_payload)
            except Exception as error:  # e.g. JSON nested past the recursion limit
                parsed = Bad(incoming.topic, "internal_error", f"{type(error).__name__}")
            if isinstance(parsed, Ignored):
                self.stats.ignored += 1
            elif isinstance(parsed, Bad):
                self._bad(parsed.topic, parsed.reason, parsed.detail)
            else:
                self.stats.by_kind[type(parsed).__name__] += 1
                observations.append(parsed)
        if not observations:
            return
        result = self._apply(observations)
        if result is None:
            return
        committed = time.time()
        self.stats.batches += 1
        self.stats.applied += result.applied
        self.stats.duplicates += result.duplicates
        self.stats.presence_changes += result.presence_changes
        self.stats.last_commit_at = committed
        for store_id, reason in result.bad:
            self._bad(f"{self.root}/+/{store_id}/event", "invalid", reason)
        for observation in observations:
            if observation.origin.retained:
                continue
            if isinstance(observation, HeartbeatSeen | EventSeen):
                self.stats.record_lag(
                    committed,
                    max(0.0, committed - observation.ts),
                    committed - observation.origin.received_at,
                )

    def _apply(self, observations: list[Observation]) -> BatchResult | None:
        """Fold a batch in, retrying while the database is unavailable (with backoff, and
        only until the stop deadline once stopping). None: the batch was given up."""
        delay = 0.5
        while True:
            try:
                return self.database.apply_batch(
                    observations, self.config.consumer.stale_heartbeats
                )
            except SQLAlchemyError as error:
                self.stats.db_errors += 1
                log.warning(
                    "fleet_database_error",
                    error=error.__class__.__name__,
                    detail=str(getattr(error, "orig", error)).splitlines()[0][:200],
                    retry_in_s=delay,
                )
            except Exception:
                # A message the rules choke on must not stop the fleet: find it, count it.
                log.exception("fleet_batch_failed", messages=len(observations))
                return self._apply_one_by_one(observations)
            if self.stopping.is_set():
                remaining = self._stop_deadline - time.monotonic()
                if remaining <= 0:
                    self.stats.dropped += len(observations)
                    return None
                time.sleep(min(delay, remaining))
            else:
                self.stopping.wait(delay)
            self._writer_beat = time.monotonic()
            delay = min(delay * 2, 5.0)

    def _apply_one_by_one(self, observations: list[Observation]) -> BatchResult:
        total = BatchResult()
        for observation in observations:
            try:
                result = self.database.apply_batch(
                    [observation], self.config.consumer.stale_heartbeats
                )
            except SQLAlchemyError:
                self.stats.dropped += 1
                continue
            except Exception as error:
                self._bad(
                    f"{self.root}/{observation.origin.district}/{observation.origin.store_id}",
                    "internal_error",
                    f"{type(error).__name__}: {error}",
                )
                continue
            total.applied += result.applied
            total.duplicates += result.duplicates
            total.bad += result.bad
            total.presence_changes += result.presence_changes
        return total

    def _bad(self, topic: str, reason: str, detail: str) -> None:
        self.stats.bad[reason] += 1
        if self._bad_log.allow(time.monotonic()):
            log.warning("fleet_bad_message", topic=topic, reason=reason, detail=detail[:300])

    def save_stats(self) -> None:
        with self._cond:
            queued = len(self._buffer)
        self.database.save_consumer(
            self.instance, self.started_at, time.time(), self.stats.snapshot(queued)
        )

    # --- lifecycle -----------------------------------------------------------------------

    _stop_deadline = float("inf")

    def start(self) -> None:
        where = endpoint(self.config.broker.url)
        self._writer.start()
        self.client.connect_async(
            where.host,
            where.port,
            keepalive=self.config.broker.keepalive_s,
            clean_start=self.config.broker.session_expiry_s == 0,
            properties=connect_properties(
                self.max_payload + _PACKET_HEADROOM, self.config.broker.session_expiry_s
            ),
        )
        self.client.loop_start()

    def healthy(self, now: float | None = None) -> bool:
        return ((now or time.monotonic()) - self._writer_beat) < 30

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop receiving, write what was received (within ``timeout_s``), save stats."""
        self._stop_deadline = time.monotonic() + timeout_s
        self.stopping.set()
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
        with self._cond:
            self._cond.notify_all()
        self._writer.join(max(0.1, self._stop_deadline - time.monotonic()))
        with contextlib.suppress(SQLAlchemyError):
            self.save_stats()


def run(config: FleetConfig, database: Database) -> int:
    consumer = Consumer(config, database)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    consumer.start()
    log.info(
        "fleet_consumer_started",
        instance=consumer.instance,
        broker=config.broker.url,
        database=database.describe(),
        topics=[topic for topic, _ in consumer.topics()],
    )
    sd_notify("READY=1")
    watchdog_usec = os.environ.get("WATCHDOG_USEC")
    beat_every = int(watchdog_usec) / 2e6 if watchdog_usec and watchdog_usec.isdigit() else 5.0
    while not done.wait(min(beat_every, 5.0)):
        if consumer.healthy():
            sd_notify("WATCHDOG=1")
        else:
            log.error("fleet_writer_stuck")
    sd_notify("STOPPING=1")
    consumer.stop()
    log.info("fleet_consumer_stopped", **consumer.stats.snapshot(0))
    return 0
