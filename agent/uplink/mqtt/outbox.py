"""The durable event outbox: SQLite in WAL mode with synchronous=FULL.

An event is committed here before anything tries to publish it, and its row is deleted
only when the broker acknowledged it (PUBACK), so events survive broker outages and power
cuts and come out in the order they happened. The table is bounded by count, bytes and
age; whatever a bound drops (oldest first) is counted, and the count is reported in the
next heartbeat until a heartbeat carrying it was acknowledged.

Thread safety: one connection guarded by a lock; AgentState listeners write from any
worker's thread, the reporter reads and acknowledges from its own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from agent.scrub import scrub_value

if TYPE_CHECKING:
    from agent.config.broker import OutboxConfig
    from agent.model import Event
    from agent.state import AgentState

log = structlog.get_logger(__name__)

FILE_NAME = "outbox.sqlite3"
_DROPPED_KEY = "dropped_unreported"
_DROPPED_TOTAL_KEY = "dropped_total"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    data TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class OutboxBounds:
    max_events: int = 10000
    max_bytes: int = 8 * 1024 * 1024
    max_age_s: float = 7 * 86400


@dataclass(frozen=True)
class StoredEvent:
    row_id: int
    msg_id: str
    type: str
    ts: float
    data: dict[str, Any]


def _rows_to_drop(sizes: list[tuple[int, int]], bounds: OutboxBounds) -> list[int]:
    """Oldest-first row ids to delete so that count and bytes fit ``bounds``.

    ``sizes`` is every (row_id, size) in delivery order. Pure, so the policy is tested alone.
    """
    count = len(sizes)
    total = sum(size for _, size in sizes)
    dropped = []
    for row_id, size in sizes:
        if count <= bounds.max_events and total <= bounds.max_bytes:
            break
        dropped.append(row_id)
        count -= 1
        total -= size
    return dropped


class Outbox:
    def __init__(
        self,
        path: Path,
        bounds: OutboxBounds | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.bounds = bounds or OutboxBounds()
        self._clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as error:
            # A damaged file must not stop the agent: keep it for a technician, start afresh.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error(  # noqa: TRY400 - the error text is enough, no traceback wanted
                "outbox_corrupt", path=str(self.path), moved_to=str(aside), error=str(error)
            )
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed event survives a power cut, not only a crash of the process.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM events").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- writing ------------------------------------------------------------------------

    def add(self, event_type: str, data: dict[str, Any], msg_id: str, ts: float) -> bool:
        """Store one event (secrets scrubbed); False when it was already stored."""
        body = json.dumps(scrub_value(data), ensure_ascii=False, separators=(",", ":"), default=str)
        size = len(body.encode("utf-8")) + len(event_type) + len(msg_id) + 64
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events (msg_id, type, ts, data, size) VALUES (?,?,?,?,?)",
                (msg_id, event_type, ts, body, size),
            )
            if cursor.rowcount == 0:
                return False
            self._enforce_bounds(db)
        return True

    def _enforce_bounds(self, db: sqlite3.Connection) -> int:
        dropped = 0
        cutoff = self._clock() - self.bounds.max_age_s
        dropped += db.execute("DELETE FROM events WHERE ts < ?", (cutoff,)).rowcount
        count, total = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM events").fetchone()
        if count > self.bounds.max_events or total > self.bounds.max_bytes:
            sizes = db.execute("SELECT id, size FROM events ORDER BY id").fetchall()
            victims = _rows_to_drop(sizes, self.bounds)
            db.executemany("DELETE FROM events WHERE id = ?", [(row,) for row in victims])
            dropped += len(victims)
        if dropped:
            self._bump(db, _DROPPED_KEY, dropped)
            self._bump(db, _DROPPED_TOTAL_KEY, dropped)
            log.warning("outbox_dropped", count=dropped)
        return dropped

    @staticmethod
    def _bump(db: sqlite3.Connection, key: str, amount: int) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = max(0, value + excluded.value)",
            (key, amount),
        )

    def expire(self) -> int:
        """Apply the bounds now (the age bound moves with the clock); returns rows dropped."""
        with self._transaction() as db:
            return self._enforce_bounds(db)

    # --- delivery -----------------------------------------------------------------------

    def pending(self, after_row: int = 0, limit: int = 20) -> list[StoredEvent]:
        """Undelivered events after ``after_row``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, msg_id, type, ts, data FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after_row, limit),
            ).fetchall()
        return [StoredEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def acknowledge(self, row_id: int) -> None:
        """The broker has it: delete the row (never published again)."""
        with self._transaction() as db:
            db.execute("DELETE FROM events WHERE id = ?", (row_id,))

    def drop(self, row_id: int) -> None:
        """The broker refused it for good (e.g. not authorised): delete and count it."""
        with self._transaction() as db:
            if db.execute("DELETE FROM events WHERE id = ?", (row_id,)).rowcount:
                self._bump(db, _DROPPED_KEY, 1)
                self._bump(db, _DROPPED_TOTAL_KEY, 1)

    # --- accounting ---------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def dropped_unreported(self) -> int:
        return self._meta(_DROPPED_KEY)

    def dropped_total(self) -> int:
        return self._meta(_DROPPED_TOTAL_KEY)

    def _meta(self, key: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def dropped_reported(self, amount: int) -> None:
        """A heartbeat carrying ``amount`` drops was acknowledged: stop reporting them."""
        if amount > 0:
            with self._transaction() as db:
                self._bump(db, _DROPPED_KEY, -amount)


class EventFeed:
    """AgentState's events into the outbox: the one listener of the state, created once by
    the daemon, so that no event emitted between two reporters (a restart, a reload) is
    lost and none is stored twice. ``wake`` tells the reporter there is something new."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.wake = threading.Event()

    @classmethod
    def attach(cls, state: AgentState, outbox: Outbox) -> EventFeed:
        feed = cls(outbox)
        state.subscribe(feed)
        return feed

    def __call__(self, event: Event) -> None:
        try:
            self.outbox.add(event.type, event.payload.to_json(), event.msg_id, event.ts)
        except Exception:  # the emitter is another worker: never crash it over our storage
            log.exception("outbox_write_failed", event_type=event.type)
        self.wake.set()


def outbox_bounds(config: OutboxConfig) -> OutboxBounds:
    return OutboxBounds(
        max_events=config.max_events, max_bytes=config.max_bytes, max_age_s=config.max_age_s
    )
