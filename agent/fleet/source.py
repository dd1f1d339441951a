"""Where a fleet command reads the fleet from: the consumer's database, or the broker.

With ``--broker URL`` nothing else is needed: the retained ``state`` and ``birth`` of every
store are read into an in-memory database with the consumer's own code (and, with
``--listen S``, whatever heartbeats and events arrive in S seconds), so a report works
even where no consumer runs — without history, so availability is unknown.
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
    config: FleetConfig, listen_s: float = 0.0, *, keep_listening: bool = False
) -> Source:
    """The fleet as the broker's retained messages (and ``listen_s`` of live traffic) show it."""
    root = config.broker.topic_root
    topics = [f"{root}/+/+/state", f"{root}/+/+/birth"]
    if listen_s > 0 or keep_listening:
        topics += [f"{root}/+/+/heartbeat", f"{root}/+/+/event"]
    database = Database("sqlite://", writer=True)
    database.create_schema()
    feed = LiveFeed(config, topics)
    try:
        feed.shot.settle()
        if listen_s > 0:
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


def from_database(config: FleetConfig) -> Source:
    database = open_database(
        config.database.url, read_secret(config, DB_PASSWORD), writer=False, create=False
    )
    return Source(database, history_kept=True)


def open_source(
    config: FleetConfig, broker: str | None, listen_s: float = 0.0, *, keep_listening: bool = False
) -> Source:
    if broker is not None:
        return from_broker(config, listen_s, keep_listening=keep_listening)
    return from_database(config)
