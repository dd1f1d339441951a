"""The fleet database's tables, and how a store's row maps to its record.

Declared once with SQLAlchemy Core so that SQLite and PostgreSQL get the same schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from agent.fleet.rules import StoreRecord

SCHEMA_VERSION = 1
# One lock id for schema creation by several instances at once (PostgreSQL advisory lock).
SCHEMA_LOCK = 0x6B69_7463  # "kitc"

metadata = sa.MetaData()

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("store_id", sa.String(64), primary_key=True),
    sa.Column("district", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("licence_number", sa.String(64)),
    sa.Column("expected_completion", sa.String(7)),
    sa.Column("agent_version", sa.String(32)),
    sa.Column("kcps", sa.JSON, nullable=False, default=list),
    sa.Column("cameras", sa.JSON, nullable=False, default=list),
    sa.Column("heartbeat_interval_s", sa.Integer, nullable=False, default=30),
    sa.Column("online_session", sa.BigInteger, nullable=False, default=0),
    sa.Column("offline_session", sa.BigInteger, nullable=False, default=0),
    sa.Column("offline_reason", sa.String(32)),
    sa.Column("last_alive_at", sa.Double),
    sa.Column("online", sa.Boolean, nullable=False, default=False),
    sa.Column("online_changed_at", sa.Double),
    sa.Column("first_seen", sa.Double),
    sa.Column("last_seen", sa.Double),
    sa.Column("stage", sa.String(32)),
    sa.Column("stage_reached", sa.String(32)),
    sa.Column("stage_reached_since", sa.Double),
    sa.Column("hb_session", sa.BigInteger, nullable=False, default=0),
    sa.Column("hb_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("hb_ts", sa.Double),
    sa.Column("live_cameras", sa.JSON, nullable=False, default=list),
    sa.Column("coverage", sa.JSON, nullable=False, default=dict),
)

selected_stores = sa.Table(
    "selected_stores",
    metadata,
    sa.Column("store_id", sa.String(64), primary_key=True),
    sa.Column("district", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("licence_number", sa.String(64), nullable=False),
    sa.Column("expected_completion", sa.String(7)),
    sa.Column("imported_at", sa.Double, nullable=False),
    sa.Column("source", sa.Text),
)

presence_log = sa.Table(
    "presence_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("online", sa.Boolean, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("session", sa.BigInteger, nullable=False),
    sa.Index("presence_by_store", "store_id", "at"),
    sa.Index("presence_by_time", "at"),
)

stage_log = sa.Table(
    "stage_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("stage_reached", sa.String(32)),
    sa.Column("stage", sa.String(32)),
    sa.Index("stage_by_store", "store_id", "at"),
)

kcp_log = sa.Table(
    "kcp_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("kcp", sa.String(32), nullable=False),
    sa.Column("covered", sa.Boolean, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Index("kcp_by_store", "store_id", "at"),
)

alarm_log = sa.Table(
    "alarm_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("camera_id", sa.String(128), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16)),
    sa.Column("raised_at", sa.Double, nullable=False),
    sa.Column("cleared_at", sa.Double),
    sa.Index("alarm_open", "store_id", "camera_id", "code", "cleared_at"),
    sa.Index("alarm_by_time", "raised_at"),
)

event_ids = sa.Table(
    "event_ids",
    metadata,
    sa.Column("msg_id", sa.String(128), primary_key=True),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("received_at", sa.Double, nullable=False, index=True),
)

consumers = sa.Table(
    "consumers",
    metadata,
    sa.Column("instance", sa.String(128), primary_key=True),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("stats", sa.JSON, nullable=False),
)

meta = sa.Table(
    "fleet_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(StoreRecord))
# Built once, so SQLAlchemy compiles them once: the consumer runs them for every store of
# every batch.
READ_STORE = sa.select(stores).where(stores.c.store_id == sa.bindparam("key_store_id"))
LOCK_STORE = READ_STORE.with_for_update()
UPDATE_STORE = (
    stores.update()
    .where(stores.c.store_id == sa.bindparam("key_store_id"))
    .values({name: sa.bindparam(name) for name in RECORD_FIELDS if name != "store_id"})
)
TUPLE_FIELDS = {"kcps", "cameras", "live_cameras"}


def record_from_row(row: Mapping[Any, Any]) -> StoreRecord:
    values = {name: row[name] for name in RECORD_FIELDS}
    for name in TUPLE_FIELDS:
        values[name] = tuple(values[name] or ())
    values["coverage"] = dict(values["coverage"] or {})
    return StoreRecord(**values)


def row_from_record(record: StoreRecord) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in RECORD_FIELDS}
    for name in TUPLE_FIELDS:
        values[name] = list(values[name])
    return values
