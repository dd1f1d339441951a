"""The fleet's database: current state per store, and the history reports are made from.

SQLAlchemy Core, so one code path serves SQLite (one consumer on one machine: a file, WAL)
and PostgreSQL (several consumer instances behind an MQTT shared subscription, on several
hosts). Times are Unix seconds (double precision), the same on both.

Concurrency: every write to a store happens in a transaction that first locks the store's
row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's writer lock, taken at ``BEGIN
IMMEDIATE``), folds the messages in with the pure rules of :mod:`agent.fleet.rules`, and
writes the row and its history back. A batch locks its stores in sorted order, and an
event's msg_id is claimed only under its store's lock, so two instances never deadlock and
never both record the same change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import URL, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from agent.fleet import rules
from agent.fleet.contract import ConfigError, TemporaryError, UnavailableError, scrub
from agent.fleet.ingest import EventSeen, Observation
from agent.fleet.rules import (
    AlarmChange,
    HistoryEntry,
    KcpChange,
    PresenceChange,
    StageChange,
    StoreRecord,
)
from agent.fleet.tables import (
    LOCK_STORE,
    READ_STORE,
    SCHEMA_LOCK,
    SCHEMA_VERSION,
    UPDATE_STORE,
    alarm_log,
    consumers,
    event_ids,
    kcp_log,
    meta,
    metadata,
    presence_log,
    record_from_row,
    row_from_record,
    selected_stores,
    stage_log,
    stores,
)


@dataclass(frozen=True)
class SelectedStore:
    store_id: str
    district: str
    name: str
    address: str
    licence_number: str
    expected_completion: str | None = None


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)  # (store_id, reason)
    presence_changes: int = 0


# --- engine --------------------------------------------------------------------------------


def database_url(url: str, password: str | None) -> URL:
    """The SQLAlchemy URL of the configured one: psycopg 3 for PostgreSQL, the password
    from its credential file."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password is not None and parsed.drivername.startswith("postgresql"):
        parsed = parsed.set(password=password)
    return parsed


class Database:
    """One engine; ``writer`` connections take SQLite's write lock at BEGIN."""

    def __init__(self, url: str, password: str | None = None, *, writer: bool) -> None:
        self.url = database_url(url, password)
        self.dialect = self.url.get_backend_name()
        self.writer = writer
        self.engine = self._engine()
        self._known: set[str] = set()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _engine(self) -> Engine:
        if self.dialect == "sqlite":
            database = self.url.database
            in_memory = database in (None, "", ":memory:")
            engine = sa.create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30},
                poolclass=StaticPool if in_memory else None,
            )
            immediate = self.writer

            @sa_event.listens_for(engine, "connect")
            def _connect(dbapi_connection: Any, _record: Any) -> None:
                # We issue BEGIN ourselves: pysqlite's implicit transactions would start
                # deferred and fail to upgrade to a writer under contention.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                if not in_memory:
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

            @sa_event.listens_for(engine, "begin")
            def _begin(connection: Connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

            return engine
        if self.dialect == "postgresql":
            return sa.create_engine(self.url, pool_pre_ping=True, pool_size=2, max_overflow=2)
        raise ConfigError(f"database.url: unsupported database {self.dialect!r}")

    def describe(self) -> str:
        return scrub(self.url.render_as_string(hide_password=True))

    def close(self) -> None:
        self.engine.dispose()

    # --- schema ----------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the tables if missing; refuse a database made by a newer version."""
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK)))
                metadata.create_all(conn, checkfirst=True)
                version = conn.execute(
                    sa.select(meta.c.value).where(meta.c.key == "schema_version")
                ).scalar_one_or_none()
                if version is None:
                    conn.execute(
                        meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
                    )
                elif int(version) > SCHEMA_VERSION:
                    raise ConfigError(
                        f"the database {self.describe()} has schema version {version}; this "
                        f"kitchen-agent knows up to {SCHEMA_VERSION}: upgrade kitchen-agent"
                    )
        except OperationalError as error:
            raise UnavailableError(
                f"cannot open the database {self.describe()}: {_why(error)}"
            ) from None

    # --- writing ---------------------------------------------------------------------------

    def _insert_ignore(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            return pg.insert(table).on_conflict_do_nothing()
        return sqlite_dialect.insert(table).on_conflict_do_nothing()

    def _lock_store(self, conn: Connection, store_id: str, district: str) -> StoreRecord:
        if store_id not in self._known:
            conn.execute(
                self._insert_ignore(stores), row_from_record(StoreRecord(store_id, district))
            )
            self._known.add(store_id)
        query = LOCK_STORE if self.dialect == "postgresql" else READ_STORE
        row = conn.execute(query, {"key_store_id": store_id}).mappings().one_or_none()
        if row is None:  # deleted behind our back: create it again
            conn.execute(
                self._insert_ignore(stores), row_from_record(StoreRecord(store_id, district))
            )
            row = conn.execute(query, {"key_store_id": store_id}).mappings().one()
        return record_from_row(row)

    def _save(self, conn: Connection, before: StoreRecord, after: StoreRecord) -> None:
        if after == before:
            return
        row = row_from_record(after)
        row["key_store_id"] = row.pop("store_id")
        conn.execute(UPDATE_STORE, row)

    def _claim_event(self, conn: Connection, event: EventSeen) -> bool:
        claimed = conn.execute(
            self._insert_ignore(event_ids).returning(event_ids.c.msg_id),
            {
                "msg_id": event.msg_id,
                "store_id": event.origin.store_id,
                "received_at": event.origin.received_at,
            },
        )
        return claimed.first() is not None

    def _write_history(
        self, conn: Connection, store_id: str, history: Sequence[HistoryEntry]
    ) -> None:
        presence = [
            {
                "store_id": store_id,
                "at": h.at,
                "online": h.online,
                "reason": h.reason,
                "session": h.session,
            }
            for h in history
            if isinstance(h, PresenceChange)
        ]
        stage = [
            {"store_id": store_id, "at": h.at, "stage_reached": h.stage_reached, "stage": h.stage}
            for h in history
            if isinstance(h, StageChange)
        ]
        kcp = [
            {"store_id": store_id, "kcp": h.kcp, "covered": h.covered, "at": h.at}
            for h in history
            if isinstance(h, KcpChange)
        ]
        if presence:
            conn.execute(presence_log.insert(), presence)
        if stage:
            conn.execute(stage_log.insert(), stage)
        if kcp:
            conn.execute(kcp_log.insert(), kcp)
        for alarm in (h for h in history if isinstance(h, AlarmChange)):
            self._write_alarm(conn, store_id, alarm)

    def _write_alarm(self, conn: Connection, store_id: str, alarm: AlarmChange) -> None:
        open_rows = sa.and_(
            alarm_log.c.store_id == store_id,
            alarm_log.c.camera_id == alarm.camera_id,
            alarm_log.c.code == alarm.code,
            alarm_log.c.cleared_at.is_(None),
        )
        if alarm.raised:
            exists = conn.execute(sa.select(alarm_log.c.id).where(open_rows).limit(1)).first()
            if exists is None:
                conn.execute(
                    alarm_log.insert().values(
                        store_id=store_id,
                        camera_id=alarm.camera_id,
                        code=alarm.code,
                        severity=alarm.severity,
                        raised_at=alarm.at,
                    )
                )
        else:
            conn.execute(
                alarm_log.update()
                .where(open_rows, alarm_log.c.raised_at <= alarm.at)
                .values(cleared_at=alarm.at)
            )

    def apply_batch(
        self, observations: Iterable[Observation], stale_heartbeats: int
    ) -> BatchResult:
        """Fold messages into the stores they are about, in one transaction.

        Messages of one store keep their order; stores are locked in sorted order."""
        groups: dict[str, list[Observation]] = {}
        for observation in observations:
            groups.setdefault(observation.origin.store_id, []).append(observation)
        result = BatchResult()
        with self.engine.begin() as conn:
            for store_id in sorted(groups):
                group = groups[store_id]
                before = self._lock_store(conn, store_id, group[0].origin.district)
                record = before
                history: list[HistoryEntry] = []
                for observation in group:
                    if isinstance(observation, EventSeen) and not self._claim_event(
                        conn, observation
                    ):
                        result.duplicates += 1
                        continue
                    try:
                        outcome = rules.apply(record, observation, stale_heartbeats)
                    except ValidationError as error:
                        result.bad.append((store_id, _bad_event(observation, error)))
                        continue
                    record = outcome.record
                    history += outcome.history
                    result.applied += 1
                self._save(conn, before, record)
                self._write_history(conn, store_id, history)
                result.presence_changes += sum(isinstance(h, PresenceChange) for h in history)
        return result

    def sweep(
        self, now: float, stale_heartbeats: int, watching_since: float
    ) -> list[PresenceChange]:
        """Mark stores whose heartbeats stopped; each store in its own short transaction.

        A store is judged only once this consumer has listened for a whole stale window
        (``watching_since``): after a restart, silence means nothing until then."""
        window = stale_heartbeats * stores.c.heartbeat_interval_s
        candidates_query = sa.select(stores.c.store_id).where(
            stores.c.online.is_(True),
            stores.c.last_alive_at + window <= now,
            window + watching_since <= now,
        )
        changes: list[PresenceChange] = []
        with self.engine.connect() as conn:
            candidates = list(conn.execute(candidates_query).scalars())
        for store_id in sorted(candidates):
            with self.engine.begin() as conn:
                query = sa.select(stores).where(stores.c.store_id == store_id)
                if self.dialect == "postgresql":
                    query = query.with_for_update()
                row = conn.execute(query).mappings().one_or_none()
                if row is None:
                    continue
                before = record_from_row(row)
                outcome = rules.sweep(before, now, stale_heartbeats)
                self._save(conn, before, outcome.record)
                self._write_history(conn, store_id, outcome.history)
                changes += [h for h in outcome.history if isinstance(h, PresenceChange)]
        return changes

    def forget_event_ids(self, older_than: float) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(event_ids.delete().where(event_ids.c.received_at < older_than))
            return int(result.rowcount or 0)

    def save_consumer(
        self, instance: str, started_at: float, now: float, stats: dict[str, Any]
    ) -> None:
        values = {"instance": instance, "started_at": started_at, "updated_at": now, "stats": stats}
        with self.engine.begin() as conn:
            updated = conn.execute(
                consumers.update().where(consumers.c.instance == instance).values(**values)
            )
            if not updated.rowcount:
                conn.execute(self._insert_ignore(consumers), values)

    def import_selected(
        self, rows: Sequence[SelectedStore], now: float, source: str
    ) -> dict[str, int]:
        """Upsert a district's selected stores; counts of added, updated and unchanged."""
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        with self.engine.begin() as conn:
            query = sa.select(selected_stores).where(
                selected_stores.c.store_id.in_([r.store_id for r in rows])
            )
            existing = {row["store_id"]: _selected(row) for row in conn.execute(query).mappings()}
            for row in rows:
                values = {**dataclasses.asdict(row), "imported_at": now, "source": source}
                old = existing.get(row.store_id)
                if old is None:
                    conn.execute(selected_stores.insert().values(**values))
                    counts["added"] += 1
                elif old != row:
                    conn.execute(
                        selected_stores.update()
                        .where(selected_stores.c.store_id == row.store_id)
                        .values(**values)
                    )
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
        return counts

    # --- reading ---------------------------------------------------------------------------

    def load_stores(self, district: str | None = None) -> list[StoreRecord]:
        query = sa.select(stores).order_by(stores.c.district, stores.c.store_id)
        if district is not None:
            query = query.where(stores.c.district == district)
        with self.engine.connect() as conn:
            return [record_from_row(row) for row in conn.execute(query).mappings()]

    def load_selected(self, district: str | None = None) -> list[SelectedStore]:
        query = sa.select(selected_stores).order_by(selected_stores.c.store_id)
        if district is not None:
            query = query.where(selected_stores.c.district == district)
        with self.engine.connect() as conn:
            return [_selected(row) for row in conn.execute(query).mappings()]

    def presence_history(self, until: float) -> dict[str, list[tuple[float, bool]]]:
        """Every store's presence changes up to ``until``, oldest first."""
        query = (
            sa.select(presence_log.c.store_id, presence_log.c.at, presence_log.c.online)
            .where(presence_log.c.at <= until)
            .order_by(presence_log.c.store_id, presence_log.c.at, presence_log.c.id)
        )
        return _grouped(self, query)

    def stage_history(self, until: float) -> dict[str, list[tuple[float, str | None]]]:
        query = (
            sa.select(stage_log.c.store_id, stage_log.c.at, stage_log.c.stage_reached)
            .where(stage_log.c.at <= until)
            .order_by(stage_log.c.store_id, stage_log.c.at, stage_log.c.id)
        )
        return _grouped(self, query)

    def kcp_history(self, until: float) -> dict[str, list[tuple[float, str, bool]]]:
        query = (
            sa.select(kcp_log.c.store_id, kcp_log.c.at, kcp_log.c.kcp, kcp_log.c.covered)
            .where(kcp_log.c.at <= until)
            .order_by(kcp_log.c.store_id, kcp_log.c.at, kcp_log.c.id)
        )
        grouped: dict[str, list[tuple[float, str, bool]]] = {}
        with self.engine.connect() as conn:
            for store_id, at, kcp, covered in conn.execute(query):
                grouped.setdefault(store_id, []).append((at, kcp, bool(covered)))
        return grouped

    def open_alarms(self) -> dict[str, list[dict[str, Any]]]:
        query = (
            sa.select(alarm_log)
            .where(alarm_log.c.cleared_at.is_(None))
            .order_by(alarm_log.c.raised_at)
        )
        grouped: dict[str, list[dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                grouped.setdefault(row["store_id"], []).append(dict(row))
        return grouped

    def load_consumers(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [
                dict(row)
                for row in conn.execute(
                    sa.select(consumers).order_by(consumers.c.instance)
                ).mappings()
            ]

    def count(self, table: sa.Table) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _bad_event(observation: Observation, error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    kind = observation.type if isinstance(observation, EventSeen) else "message"
    return f"{kind} data.{where}: {first['msg']}"


def _selected(row: Mapping[Any, Any]) -> SelectedStore:
    return SelectedStore(
        store_id=row["store_id"],
        district=row["district"],
        name=row["name"],
        address=row["address"],
        licence_number=row["licence_number"],
        expected_completion=row["expected_completion"],
    )


def _grouped(database: Database, query: Any) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    with database.engine.connect() as conn:
        for store_id, at, value in conn.execute(query):
            grouped.setdefault(store_id, []).append((at, value))
    return grouped


def _why(error: SQLAlchemyError) -> str:
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error).strip().splitlines()
    return scrub(text[0] if text else type(error).__name__)


def open_database(url: str, password: str | None, *, writer: bool, create: bool) -> Database:
    """Connect (and with ``create`` make the tables); UnavailableError when it cannot."""
    database = Database(url, password, writer=writer)
    path = database.url.database
    in_memory = path in (None, "", ":memory:")
    if database.is_sqlite and not create and not in_memory and not Path(str(path)).exists():
        database.close()
        raise UnavailableError(
            f"no fleet database at {path}: start the consumer (kitchen-agent fleet run) "
            "or give --broker URL"
        )
    present = True
    try:
        if create:
            database.create_schema()
        else:
            with database.engine.connect() as conn:
                present = sa.inspect(conn).has_table("stores")
    except OperationalError as error:
        database.close()
        raise UnavailableError(
            f"cannot open the database {database.describe()}: {_why(error)}"
        ) from None
    except UnavailableError:
        database.close()
        raise
    if not create and not present:
        database.close()
        raise UnavailableError(
            f"the database {database.describe()} has no fleet data yet: start the consumer "
            "(kitchen-agent fleet run) or give --broker URL"
        )
    return database


def retryable(error: BaseException) -> bool:
    """A database failure worth retrying (connection lost, lock timeout, deadlock)."""
    return isinstance(error, OperationalError | TemporaryError) or (
        isinstance(error, SQLAlchemyError) and getattr(error, "connection_invalidated", False)
    )
