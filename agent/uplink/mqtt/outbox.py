"""The durable event outbox: SQLite in WAL mode with synchronous=FULL.

An event is committed here before anything tries to publish it, and its row is deleted
only when the broker acknowledged it (PUBACK), so events survive broker outages and power
cuts and come out in the order they happened. The table is bounded by count, bytes and
age; whatever a bound drops (oldest first) is counted, and the count is reported in the
next heartbeat until a heartbeat carrying it was acknowledged.

Storage faults never reach the caller (the reporter, or another worker emitting an event):

- A *corrupt* file (``PRAGMA quick_check`` at open, or SQLite saying so later) is moved
  aside for a technician after its events were read back where the damage allows, and a
  fresh outbox holding them takes its place. Only corruption does that: a healthy file that
  cannot be opened right now (a full disk, a lock) is left alone and opened again later.
- A full disk (``ENOSPC``, ``SQLITE_FULL``) or less free space than the reserve kept for the
  rest of the box: new events are counted as dropped instead of stored, and :attr:`fault`
  holds the error (``storage_full``, ``storage_error``) the heartbeat reports, until a
  write succeeds again.

Thread safety: one connection guarded by a lock; AgentState listeners write from any
worker's thread, the reporter reads and acknowledges from its own.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from agent.errors import StorageError, StorageFull
from agent.persist import DEFAULT_MODE, RESERVE_BYTES, below_reserve, storage_fault
from agent.scrub import scrub_value
from agent.uplink.mqtt.salvage import salvage

if TYPE_CHECKING:
    from agent.config.broker import OutboxConfig
    from agent.model import Event
    from agent.state import AgentState

log = structlog.get_logger(__name__)

T = TypeVar("T")

FILE_NAME = "outbox.sqlite3"
_DROPPED_KEY = "dropped_unreported"
_DROPPED_TOTAL_KEY = "dropped_total"
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB (primary result codes)
REOPEN_AFTER_S = 30.0  # a file that could not be opened is tried again this often
KEEP_CORRUPT = 2  # moved-aside files kept for a technician (the oldest go first)

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


class CorruptOutbox(Exception):
    """The database file is damaged (not merely unavailable)."""


def _is_corrupt(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _CORRUPT_CODES


def _quick_check(db: sqlite3.Connection) -> None:
    """Raise :class:`CorruptOutbox` when SQLite finds the file damaged (pages, indexes)."""
    result = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
    if result != ["ok"]:
        raise CorruptOutbox("; ".join(str(r) for r in result[:3]))


def _event(row: tuple[Any, ...]) -> StoredEvent | None:
    """A stored row as an event; None when its bytes were damaged on disk."""
    row_id, msg_id, kind, ts, data = row
    try:
        body = json.loads(bytes(data).decode("utf-8"))
        texts = bytes(msg_id).decode("utf-8"), bytes(kind).decode("utf-8")
    except (ValueError, TypeError):
        return None
    if not isinstance(body, dict):
        return None
    return StoredEvent(row_id, texts[0], texts[1], ts, body)


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
        reserve_bytes: int = RESERVE_BYTES,
        reopen_after_s: float = REOPEN_AFTER_S,
        steady: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.reopen_after_s = reopen_after_s
        self.bounds = bounds or OutboxBounds()
        self.reserve_bytes = reserve_bytes
        self._clock = clock
        self._steady = steady
        # Rows after ``_open_row`` were written since the file was opened at ``_open_since``
        # (steady clock): they are no older than that, whatever the wall clock says now.
        self._open_row = 0
        self._open_since = steady()
        self._lock = threading.Lock()
        self.fault: StorageError | None = None
        self._lost = 0  # events not stored (storage fault) and not yet reported
        self._lost_total = 0
        self._opened_at = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = None
        with self._lock:
            self._reopen()

    # --- opening and recovering -----------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            _quick_check(db)
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed event survives a power cut, not only a crash of the process.
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{self.path}{suffix}").chmod(DEFAULT_MODE)
        return db

    def _reopen(self) -> sqlite3.Connection | None:
        """Open the file; move it aside only when it is corrupt. Caller holds the lock."""
        self._opened_at = time.monotonic()
        try:
            self._db = self._connect()
        except CorruptOutbox as error:
            self._rotate(str(error))
        except sqlite3.Error as error:
            if _is_corrupt(error):
                self._rotate(str(error))
            else:
                self._degrade(error)
        except OSError as error:
            self._degrade(error)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                row = self._db.execute(
                    "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events'"
                ).fetchone()
                self._open_row, self._open_since = int(row[0]), self._steady()
        return self._db

    def _rotate(self, why: str) -> None:
        """Keep the damaged file for a technician; carry its readable events over."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        rescued = salvage(self.path, self.bounds.max_events)
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        log.error(
            "outbox_corrupt",
            path=str(self.path),
            moved_to=str(aside),
            error=why,
            events_rescued=len(rescued),
        )
        try:
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                side = Path(f"{self.path}{suffix}")
                if side.exists():
                    side.replace(Path(f"{aside}{suffix}"))
            for old in sorted(self.path.parent.glob(f"{self.path.name}.corrupt-*[0-9]"))[
                :-KEEP_CORRUPT
            ]:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{old}{suffix}").unlink(missing_ok=True)
            self._db = self._connect()
            with self._transaction(self._db) as db:
                db.executemany(
                    "INSERT OR IGNORE INTO events (msg_id, type, ts, data, size) "
                    "VALUES (?,?,?,?,?)",
                    rescued,
                )
        except (sqlite3.Error, OSError, CorruptOutbox) as error:
            self._degrade(error)

    def _degrade(self, error: BaseException) -> None:
        cause = error if not isinstance(error, CorruptOutbox) else OSError(str(error))
        fault = storage_fault(cause, self.path.parent)
        if self.fault is None or self.fault.code != fault.code:
            log.error("outbox_degraded", path=str(self.path), error=fault.to_dict())
        self.fault = fault

    def _ensure(self) -> sqlite3.Connection | None:
        if self._db is None and time.monotonic() - self._opened_at >= self.reopen_after_s:
            self._reopen()
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextlib.contextmanager
    def _transaction(self, db: sqlite3.Connection) -> Any:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _guarded(
        self, action: Callable[[sqlite3.Connection], T], default: T, *, write: bool = False
    ) -> T:
        """``action`` on the database under the lock; a storage fault gives ``default``."""
        with self._lock:
            db = self._ensure()
            if db is None:
                return default
            try:
                if write:
                    with self._transaction(db):
                        result = action(db)
                else:
                    result = action(db)
            except sqlite3.Error as error:
                if _is_corrupt(error):
                    self._rotate(str(error))
                else:
                    self._degrade(error)
                return default
            except OSError as error:
                self._degrade(error)
                return default
            # A write that went through clears a fault, unless the disk is still short.
            if (
                write
                and self.fault is not None
                and not below_reserve(self.path.parent, self.reserve_bytes)
            ):
                log.info("outbox_recovered", path=str(self.path))
                self.fault = None
            return result

    # --- writing ------------------------------------------------------------------------

    def add(self, event_type: str, data: dict[str, Any], msg_id: str, ts: float) -> bool:
        """Store one event (secrets scrubbed); False when it was already stored or could not
        be (then it is counted as dropped)."""
        body = json.dumps(scrub_value(data), ensure_ascii=False, separators=(",", ":"), default=str)
        size = len(body.encode("utf-8")) + len(event_type) + len(msg_id) + 64
        if below_reserve(self.path.parent, self.reserve_bytes):
            with self._lock:
                self._degrade(StorageFull("less free space than the reserve kept for the box"))
                self._count_lost()
            return False

        def insert(db: sqlite3.Connection) -> bool | None:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events (msg_id, type, ts, data, size) VALUES (?,?,?,?,?)",
                (msg_id, event_type, ts, body, size),
            )
            if cursor.rowcount == 0:
                return False
            self._enforce_bounds(db)
            return True

        stored = self._guarded(insert, None, write=True)
        if stored is None:
            with self._lock:
                self._count_lost()
            return False
        return stored

    def _count_lost(self) -> None:
        self._lost += 1
        self._lost_total += 1
        log.warning("outbox_event_lost", error=self.fault.to_dict() if self.fault else None)

    def _enforce_bounds(self, db: sqlite3.Connection) -> int:
        dropped = 0
        cutoff = self._clock() - self.bounds.max_age_s
        if self._steady() - self._open_since < self.bounds.max_age_s:
            # An event's time is the wall clock's, which NTP steps by days when it first
            # sets a box that booted on its shutdown time: what was stored since the file
            # was opened is not that old. Rows from before are judged by their time.
            dropped += db.execute(
                "DELETE FROM events WHERE ts < ? AND id <= ?", (cutoff, self._open_row)
            ).rowcount
        else:
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
        return self._guarded(self._enforce_bounds, 0, write=True)

    # --- delivery -----------------------------------------------------------------------

    def pending(self, after_row: int = 0, limit: int = 20) -> list[StoredEvent]:
        """Undelivered events after ``after_row``, oldest first (an unreadable one is
        dropped and counted, never handed on)."""
        # As bytes: a row whose text was damaged on disk must not fail the whole read.
        none: list[Any] = []
        rows = self._guarded(
            lambda db: db.execute(
                "SELECT id, CAST(msg_id AS BLOB), CAST(type AS BLOB), ts, CAST(data AS BLOB) "
                "FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after_row, limit),
            ).fetchall(),
            none,
        )
        events = []
        for row in rows:
            event = _event(row)
            if event is None:
                log.error("outbox_event_unreadable", row=row[0])
                self.drop(row[0])
                continue
            events.append(event)
        return events

    def acknowledge(self, row_id: int) -> None:
        """The broker has it: delete the row (never published again)."""
        self._guarded(
            lambda db: db.execute("DELETE FROM events WHERE id = ?", (row_id,)), None, write=True
        )

    def drop(self, row_id: int) -> None:
        """The broker refused it for good (e.g. not authorised): delete and count it."""

        def delete(db: sqlite3.Connection) -> None:
            if db.execute("DELETE FROM events WHERE id = ?", (row_id,)).rowcount:
                self._bump(db, _DROPPED_KEY, 1)
                self._bump(db, _DROPPED_TOTAL_KEY, 1)

        self._guarded(delete, None, write=True)

    # --- accounting ---------------------------------------------------------------------

    def count(self) -> int:
        return self._guarded(
            lambda db: int(db.execute("SELECT count(*) FROM events").fetchone()[0]), 0
        )

    def dropped_unreported(self) -> int:
        with self._lock:
            lost = self._lost
        return self._meta(_DROPPED_KEY) + lost

    def dropped_total(self) -> int:
        with self._lock:
            lost = self._lost_total
        return self._meta(_DROPPED_TOTAL_KEY) + lost

    def _meta(self, key: str) -> int:
        def read(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return int(row[0]) if row else 0

        return self._guarded(read, 0)

    def dropped_reported(self, amount: int) -> None:
        """A heartbeat carrying ``amount`` drops was acknowledged: stop reporting them."""
        with self._lock:
            from_memory = min(self._lost, max(0, amount))
            self._lost -= from_memory
        rest = amount - from_memory
        if rest > 0:
            self._guarded(lambda db: self._bump(db, _DROPPED_KEY, -rest), None, write=True)


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
