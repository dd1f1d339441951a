"""The fleet's database on SQLite and on a real PostgreSQL: the same code path, the same
answers, and two writers folding the same traffic record each change once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.fleet.contract import UnavailableError
from agent.fleet.db import Database, SelectedStore, open_database
from agent.fleet.ingest import Incoming, Observation, parse
from agent.fleet.tables import presence_log, stage_log
from testkit.fleet_sim import make_stores
from testkit.postgres import Postgres

T0 = 1_714_550_400.0
STALE = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fleet.db'}"
    postgres: Postgres = request.getfixturevalue("postgres")
    return postgres.create_database()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url, None, writer=True, create=True)
    yield db
    db.close()


def traffic(count: int = 6) -> tuple[list[Observation], list[Observation]]:
    """Connections of ``count`` stores, then a Will for half of them."""
    stores = make_stores(count, heartbeat_interval_s=30, seed=3)
    connects: list[Observation] = []
    wills: list[Observation] = []
    for index, store in enumerate(stores):
        at = T0 + index
        for kind, payload in (
            ("state", store.state(True, "connected", at)),
            ("birth", store.birth(at)),
            ("heartbeat", store.heartbeat(at)),
            ("event", store.event("kcp_uncovered", {"kcp": store.kcps[0]}, at)),
        ):
            parsed = parse(
                Incoming(f"{store.root}/{kind}", payload, False, at), "kitchen/v1", 65536
            )
            connects.append(parsed)  # type: ignore[arg-type]
        if index % 2 == 0:
            will = store.state(False, "connection_lost", at)
            wills.append(
                parse(Incoming(f"{store.root}/state", will, True, at + 50), "kitchen/v1", 65536)  # type: ignore[arg-type]
            )
    return connects, wills


def test_folding_the_same_traffic_twice_changes_nothing(database: Database) -> None:
    connects, wills = traffic()
    first = database.apply_batch(connects + wills, STALE)
    assert first.applied == len(connects) + len(wills) and first.duplicates == 0
    stores_before = database.load_stores()
    again = database.apply_batch(connects + wills, STALE)
    assert again.duplicates == 6  # the events, deduplicated on msg_id
    assert database.load_stores() == stores_before
    # One "online" per store, one "offline" per Will: nothing doubled.
    assert database.count(presence_log) == 6 + 3
    online = {r.store_id: r.online for r in stores_before}
    assert sorted(online.values()) == [False] * 3 + [True] * 3
    assert database.count(stage_log) == 6


def test_two_writers_at_once_record_each_change_once(database_url: str) -> None:
    """What two consumer instances do when the broker hands both the same retained state."""
    connects, wills = traffic(12)
    writers = [open_database(database_url, None, writer=True, create=True) for _ in range(2)]
    errors: list[BaseException] = []

    def work(db: Database) -> None:
        try:
            for chunk in range(0, len(connects), 5):
                db.apply_batch(connects[chunk : chunk + 5], STALE)
            db.apply_batch(wills, STALE)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(db,)) for db in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not errors, errors
        reader = writers[0]
        assert reader.count(presence_log) == 12 + 6
        history = reader.presence_history(T0 + 1000)
        assert all(len(changes) in (1, 2) for changes in history.values())
        assert sum(not r.online for r in reader.load_stores()) == 6
    finally:
        for db in writers:
            db.close()


def test_the_sweep_waits_a_stale_window_after_the_consumer_starts(database: Database) -> None:
    connects, _ = traffic(2)
    database.apply_batch(connects, STALE)
    # The consumer started long after the last heartbeat: silence means nothing yet.
    assert database.sweep(T0 + 1000, STALE, watching_since=T0 + 950) == []
    changes = database.sweep(T0 + 1000, STALE, watching_since=T0)
    assert sorted(c.at for c in changes) == [pytest.approx(T0 + 90), pytest.approx(T0 + 91)]
    assert not any(r.online for r in database.load_stores())
    assert database.sweep(T0 + 2000, STALE, watching_since=T0) == []


def test_selected_stores_import_is_an_upsert(database: Database) -> None:
    rows = [
        SelectedStore("sh-xh-0001", "xuhui", "老王面馆", "徐汇区1号", "JY1", "2024-06"),
        SelectedStore("sh-xh-0002", "xuhui", "小李烧烤", "徐汇区2号", "JY2"),
    ]
    assert database.import_selected(rows, T0, "a.csv") == {"added": 2, "updated": 0, "unchanged": 0}
    rows[1] = SelectedStore("sh-xh-0002", "xuhui", "小李烧烤（新址）", "徐汇区3号", "JY2")
    assert database.import_selected(rows, T0 + 1, "b.csv") == {
        "added": 0,
        "updated": 1,
        "unchanged": 1,
    }
    assert [s.name for s in database.load_selected("xuhui")] == ["老王面馆", "小李烧烤（新址）"]


def test_a_reader_without_a_database_is_told_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UnavailableError, match="fleet run"):
        open_database(f"sqlite:///{tmp_path / 'none.db'}", None, writer=False, create=False)
    assert not (tmp_path / "none.db").exists()
