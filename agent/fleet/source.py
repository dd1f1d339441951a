"""Where a fleet command reads the fleet from: the consumer's database, or the broker.

With ``--broker URL`` nothing else is needed: the retained ``state`` and ``birth`` of every
store, then one heartbeat from each online store (or ``--listen S`` seconds of traffic), are
read into an in-memory database with the consumer's own code, so a report works even where
no consumer runs — without history, so availability is unknown.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from agent.fleet.config import DB_PASSWORD, FleetConfig, read_secret
from agent.fleet.db import Database, open_database
from agent.fleet.ingest import Bad, Ignored, Incoming, Observation, parse
from agent.fleet.mqtt import OneShot

_PACKET_HEADROOM = 4096


@dataclass
class Source:
    database: Database
    history_kept: bool
    live: LiveFeed | None = None

    def refresh(self) -> None:
        if self.live is not None:
            self.live.fold_into(self.database)

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
        self.database.close()


class LiveFeed:
    """A broker subscription whose messages are folded into an in-memory database."""

    def __init__(self, config: FleetConfig, topics: list[str]) -> None:
        self.config = config
        self.root = config.broker.topic_root
        self.max_payload = config.consumer.max_payload_bytes
        self._pending: list[Incoming] = []
        self._lock = threading.Lock()
        self.bad = 0
        self.shot = OneShot(config, self.max_payload + _PACKET_HEADROOM).connect()
        self.shot.subscribe(topics, self._on_message)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        incoming = Incoming(
            message.topic, bytes(message.payload), bool(message.retain), time.time()
        )
        with self._lock:
            self._pending.append(incoming)

    def fold_into(self, database: Database) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        observations: list[Observation] = []
        for incoming in pending:
            parsed = parse(incoming, self.root, self.max_payload)
            if isinstance(parsed, Bad):
                self.bad += 1
            elif not isinstance(parsed, Ignored):
                observations.append(parsed)
        if observations:
            result = database.apply_batch(observations, self.config.consumer.stale_heartbeats)
            self.bad += len(result.bad)
        return len(observations)

    def close(self) -> None:
        self.shot.close()


def from_broker(
    config: FleetConfig, listen_s: float | None = None, *, keep_listening: bool = False
) -> Source:
    """The fleet as the broker shows it: retained births and states, then live heartbeats
    (their stage and cameras are newer than a birth sent at connect time).

    ``listen_s`` None: listen until every online store has sent a heartbeat, at most its
    heartbeat interval + 5 s; a number: listen that long."""
    root = config.broker.topic_root
    topics = [f"{root}/+/+/{kind}" for kind in ("state", "birth", "heartbeat", "event")]
    database = Database("sqlite://", writer=True)
    database.create_schema()
    feed = LiveFeed(config, topics)
    try:
        feed.shot.settle()
        feed.fold_into(database)
        if listen_s is None:
            _until_every_store_beat(feed, database)
        elif listen_s > 0:
            time.sleep(listen_s)
            feed.fold_into(database)
    except BaseException:
        feed.close()
        database.close()
        raise
    if keep_listening:
        return Source(database, history_kept=False, live=feed)
    feed.close()
    return Source(database, history_kept=False)


def _until_every_store_beat(feed: LiveFeed, database: Database, cap_s: float = 125.0) -> None:
    records = database.load_stores()
    longest = max((r.heartbeat_interval_s for r in records), default=0)
    deadline = time.monotonic() + min(cap_s, longest + 5.0)
    while time.monotonic() < deadline:
        if all(r.hb_ts is not None for r in database.load_stores() if r.online):
            return
        time.sleep(0.2)
        feed.fold_into(database)


def from_database(config: FleetConfig) -> Source:
    database = open_database(
        config.database.url, read_secret(config, DB_PASSWORD), writer=False, create=False
    )
    return Source(database, history_kept=True)


def open_source(
    config: FleetConfig,
    broker: str | None,
    listen_s: float | None = None,
    *,
    keep_listening: bool = False,
) -> Source:
    if broker is not None:
        return from_broker(config, listen_s, keep_listening=keep_listening)
    return from_database(config)
