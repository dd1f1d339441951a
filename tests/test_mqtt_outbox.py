"""The durable outbox alone: order, acknowledgement, bounds, drop accounting, corruption."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from agent.scrub import forget_secrets, register_secret
from agent.uplink.mqtt.outbox import Outbox, OutboxBounds, _rows_to_drop
from agent.uplink.mqtt.session import SessionCounter
from testkit.disk_fixtures import SmallDisk, fault_code


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
        steady=lambda: now[0],
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


def test_a_wall_clock_step_does_not_age_what_was_stored_since(tmp_path: Path) -> None:
    # A box booted on its shutdown time; NTP then steps its clock by the ten days it was
    # off. What it stored meanwhile is seconds old, not ten days: kept and sent.
    wall, steady = [1_700_000_000.0], [50.0]
    bounds = OutboxBounds(max_events=100, max_bytes=100_000, max_age_s=7 * 86400)
    box = Outbox(tmp_path / "o.db", bounds, clock=lambda: wall[0], steady=lambda: steady[0])
    box.add("agent_started", {}, "boot", wall[0])
    box.add("camera_online", {"camera_id": "c"}, "camera", wall[0] + 1)
    steady[0] += 5
    wall[0] += 10 * 86400 + 5
    box.add("quality_alarm", {"camera_id": "c"}, "after", wall[0])
    assert box.expire() == 0
    assert [e.msg_id for e in box.pending()] == ["boot", "camera", "after"]
    assert box.dropped_unreported() == 0
    box.close()
    # Stored before this opening, an event is as old as its time says (a box that was off
    # for over a week with events unsent: they are past the bound).
    again = Outbox(tmp_path / "o.db", bounds, clock=lambda: wall[0], steady=lambda: steady[0])
    assert again.expire() == 2
    assert [e.msg_id for e in again.pending()] == ["after"]
    # Once open longer than the bound, the wall clock judges everything again.
    steady[0] += 7 * 86400 + 1
    wall[0] += 7 * 86400 + 1
    assert again.expire() == 1 and again.count() == 0


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


# --- storage faults: corruption, a full disk ---------------------------------------------------


def _filled(path: Path, events: int = 400) -> Outbox:
    box = Outbox(path, reserve_bytes=0)
    for n in range(events):
        box.add("camera_offline", {"camera_id": f"cam-{n}", "pad": "x" * 200}, f"m{n}", 1e12)
    box.close()
    return box


def _damage(path: Path, page: int) -> None:
    """Scribble over one page's cell pointers (its structure, not just a row's bytes)."""
    data = bytearray(path.read_bytes())
    offset = 4096 * page + 8
    data[offset : offset + 32] = random.Random(page).randbytes(32)
    path.write_bytes(bytes(data))


def test_corrupt_pages_are_found_at_open_and_their_events_carried_over(tmp_path: Path) -> None:
    """Before: the file opened, then every use raised 'malformed' (a reporter crash loop)."""
    path = tmp_path / "o.db"
    _filled(path)
    pages = path.stat().st_size // 4096
    _damage(path, pages - 6)
    box = Outbox(path)
    rescued = box.pending(limit=1000)
    assert 370 <= len(rescued) < 400  # the rows on the damaged page are lost, not the rest
    assert [e.msg_id for e in rescued] == sorted(
        (e.msg_id for e in rescued), key=lambda m: int(m[1:])
    )
    assert box.add("camera_online", {"camera_id": "cam-x"}, "after", 1e12)
    box.acknowledge(rescued[0].row_id)
    assert box.count() == len(rescued) and fault_code(box) is None
    assert len(list(tmp_path.glob("o.db.corrupt-*[0-9]"))) == 1  # kept for a technician
    box.close()
    reopened = Outbox(path)  # the new file is sound: no second rotation
    assert reopened.count() == len(rescued) + 1 - 1
    assert len(list(tmp_path.glob("o.db.corrupt-*[0-9]"))) == 1


def test_a_row_damaged_in_place_costs_that_row_only(tmp_path: Path) -> None:
    """Garbled bytes inside one event (the page itself intact): before, reading it raised
    a decode error on every pending() call."""
    path = tmp_path / "o.db"
    _filled(path, 100)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE events SET data = CAST(X'7b22ff' AS TEXT) WHERE msg_id = 'm5'")
    box = Outbox(path)
    events = box.pending(limit=1000)
    assert len(events) == 99 and "m5" not in {e.msg_id for e in events}
    assert box.dropped_unreported() == 1 and not list(tmp_path.glob("o.db.corrupt-*"))


def test_a_healthy_outbox_on_a_full_disk_is_kept_and_delivered_later(
    small_disk: Callable[[int], SmallDisk],
) -> None:
    """Before: it failed to open, was moved aside as corrupt, and its events were lost."""
    disk = small_disk(1024)
    path = disk.root / "o.db"
    _filled(path, 50)
    filler = disk.fill()
    box = Outbox(path, reserve_bytes=0, reopen_after_s=0)
    assert not list(disk.root.glob("o.db.corrupt-*"))
    assert fault_code(box) == "storage_full"
    assert not box.add("camera_online", {"camera_id": "c"}, "during", 1e12)
    filler.unlink()
    events = box.pending(limit=100)  # opened again now that there is room
    assert [e.msg_id for e in events] == [f"m{n}" for n in range(50)]
    assert box.add("camera_online", {"camera_id": "c"}, "after", 1e12) and fault_code(box) is None
    assert box.dropped_unreported() == 1  # the event that could not be stored is counted


def test_the_disk_filling_up_while_running_degrades_then_recovers(
    small_disk: Callable[[int], SmallDisk],
) -> None:
    disk = small_disk(2048)
    box = Outbox(disk.root / "o.db", reserve_bytes=0)
    assert box.add("camera_online", {"camera_id": "c"}, "first", 1e12)
    filler = disk.fill()
    stored = [box.add("e", {"pad": "y" * 2000, "n": n}, f"full-{n}", 1e12) for n in range(50)]
    assert not all(stored)  # at least the last ones did not fit
    assert fault_code(box) == "storage_full"
    lost = stored.count(False)
    assert box.dropped_unreported() == lost
    for event in box.pending(limit=100):
        box.acknowledge(event.row_id)  # deleting works or is a no-op, never a crash
    box.expire()
    filler.unlink()
    assert box.add("camera_online", {"camera_id": "c"}, "later", 1e12)
    assert fault_code(box) is None
    box.dropped_reported(lost)
    assert box.dropped_unreported() == 0


def test_the_reserve_is_left_for_the_rest_of_the_box(
    small_disk: Callable[[int], SmallDisk],
) -> None:
    disk = small_disk(1024)
    box = Outbox(disk.root / "o.db", reserve_bytes=4 * 1024 * 1024)  # more than the disk has
    assert not box.add("camera_online", {"camera_id": "c"}, "x", 1e12)
    assert fault_code(box) == "storage_full"
    assert box.count() == 0 and box.dropped_unreported() == 1


def test_the_outbox_file_is_not_world_readable(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        box = Outbox(tmp_path / "o.db")
        box.add("camera_online", {"camera_id": "c"}, "x", 1e12)
    finally:
        os.umask(previous)
    assert (tmp_path / "o.db").stat().st_mode & 0o777 == 0o640
