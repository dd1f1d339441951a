"""The durable outbox alone: order, acknowledgement, bounds, drop accounting, corruption."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from agent.scrub import forget_secrets, register_secret
from agent.uplink.mqtt.outbox import Outbox, OutboxBounds, _rows_to_drop
from agent.uplink.mqtt.session import SessionCounter


def test_drop_policy_oldest_first_until_both_bounds_fit() -> None:
    bounds = OutboxBounds(max_events=3, max_bytes=100)
    assert _rows_to_drop([(1, 10), (2, 10), (3, 10)], bounds) == []
    assert _rows_to_drop([(1, 10), (2, 10), (3, 10), (4, 10)], bounds) == [1]
    assert _rows_to_drop([(1, 60), (2, 30), (3, 30)], bounds) == [1]
    assert _rows_to_drop([(1, 10), (2, 200)], bounds) == [1, 2]


def test_events_come_out_in_order_and_go_only_when_acknowledged(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for n in range(5):
        assert box.add("camera_offline", {"n": n}, f"m{n}", time.time() + n)
    assert not box.add("camera_offline", {"n": 0}, "m0", time.time())  # same msg_id: once
    first = box.pending(limit=3)
    assert [e.data["n"] for e in first] == [0, 1, 2]
    assert [e.data["n"] for e in box.pending(after_row=first[-1].row_id)] == [3, 4]
    box.acknowledge(first[0].row_id)
    box.close()
    reopened = Outbox(tmp_path / "o.db")  # a restart keeps what was not acknowledged
    assert [e.msg_id for e in reopened.pending()] == ["m1", "m2", "m3", "m4"]


def test_bounds_drop_oldest_and_count_until_reported(tmp_path: Path) -> None:
    now = [10_000.0]
    box = Outbox(
        tmp_path / "o.db",
        OutboxBounds(max_events=3, max_bytes=10_000, max_age_s=100),
        clock=lambda: now[0],
    )
    for n in range(5):
        box.add("e", {"n": n}, f"m{n}", now[0])
    assert [e.data["n"] for e in box.pending()] == [2, 3, 4]
    assert box.dropped_unreported() == 2
    now[0] += 101
    assert box.expire() == 3 and box.count() == 0
    assert box.dropped_unreported() == 5
    box.dropped_reported(4)
    assert box.dropped_unreported() == 1 and box.dropped_total() == 5


def test_bytes_bound(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", OutboxBounds(max_events=1000, max_bytes=65536))
    for n in range(40):
        box.add("e", {"blob": "x" * 4000, "n": n}, f"m{n}", 1e12)
    kept = box.pending(limit=1000)
    assert 10 <= len(kept) < 17 and kept[-1].data["n"] == 39


def test_secrets_are_scrubbed_before_storage(tmp_path: Path) -> None:
    register_secret("hunter2-secret")
    try:
        box = Outbox(tmp_path / "o.db")
        box.add(
            "stream_down", {"url": "rtsp://admin:pw@10.0.0.5/x", "msg": "hunter2-secret"}, "m", 1
        )
    finally:
        forget_secrets()
    raw = (tmp_path / "o.db").read_bytes() + (tmp_path / "o.db-wal").read_bytes()
    assert b"hunter2-secret" not in raw and b":pw@" not in raw


def test_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database" * 100)
    box = Outbox(path)
    assert box.count() == 0 and list(tmp_path.glob("o.db.corrupt-*"))
    sqlite3.connect(path).close()


def test_session_counter_persists(tmp_path: Path) -> None:
    counter = SessionCounter(tmp_path)
    assert counter.last == 0 and counter.peek() == 1
    counter.commit(1)
    counter.commit(1)
    assert SessionCounter(tmp_path).peek() == 2
    (tmp_path / "mqtt-session.json").write_text("garbage")
    assert SessionCounter(tmp_path).last == 0
