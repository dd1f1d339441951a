"""Past one machine: two consumer instances behind an MQTT 5 shared subscription
(``$share/fleet/kitchen/v1/#``) on mosquitto 2.0.11, sharing one PostgreSQL database.

The broker hands each live message to one instance; retained births and states reach each
instance through its plain bootstrap subscription (brokers do not deliver retained
messages to shared subscriptions). Together they keep one correct picture and record each
change once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.fleet.db import open_database
from agent.fleet.rules import StoreRecord
from agent.fleet.tables import presence_log
from testkit.acl import documented_acl
from testkit.fleet_fixtures import FleetConsumer, FleetRun
from testkit.fleet_sim import Fleet, make_stores
from testkit.mosquitto import Mosquitto, wait_until

pytestmark = pytest.mark.slow
STORES = 24


def test_two_instances_share_the_live_load_and_one_database(
    broker_factory: Callable[..., Mosquitto],
    postgres_url: str,
    sim_fleet_factory: Callable[..., Fleet],
    fleet_config_factory: Callable[..., Path],
    fleet_consumer_factory: Callable[[Path], FleetConsumer],
    fleet_cli: Callable[..., FleetRun],
) -> None:
    broker = broker_factory()
    shared = {"shared_group": "fleet"}
    first = fleet_consumer_factory(fleet_config_factory(broker, postgres_url, broker=shared))
    fleet = sim_fleet_factory(broker, STORES)
    reader = None
    try:
        wait_until(lambda: _has_tables(postgres_url), 20)
        reader = open_database(postgres_url, None, writer=False, create=False)
        wait_until(lambda: sum(r.online for r in reader.load_stores()) == STORES, 30)
        # The second instance starts late: it learns every store from the retained messages.
        second_config = fleet_config_factory(broker, postgres_url, broker=shared)
        second = fleet_consumer_factory(second_config)

        def both_working() -> bool:
            stats = {c["instance"]: c["stats"] for c in reader.load_consumers()}
            return len(stats) == 2 and all(
                s["by_kind"].get("HeartbeatSeen", 0) >= 5
                and s["by_kind"].get("BirthSeen", 0) >= STORES
                for s in stats.values()
            )

        wait_until(both_working, 30)

        ids = sorted(fleet.links)
        fleet.power_cut(ids[0])
        fleet.set_stage(ids[1], "video_connected")
        wait_until(lambda: not _record(reader, ids[0]).online, 20)
        wait_until(lambda: _record(reader, ids[1]).stage_reached == "video_connected", 20)
        fleet.power_on(ids[0])
        wait_until(lambda: _record(reader, ids[0]).online, 20)

        # Each store went online once, then the cut store off and on again: recorded once,
        # though both instances received its retained Will and state.
        history = reader.presence_history(float("inf"))
        assert [online for _, online in history[ids[0]]] == [True, False, True]
        assert all(len(history[s]) == 1 for s in ids[1:])
        assert reader.count(presence_log) == STORES + 2

        # The live traffic was split: each instance received part of the heartbeats, and
        # the broker handed each heartbeat to one member of the group.
        stats = {c["instance"]: c["stats"] for c in reader.load_consumers()}
        beats = [s["by_kind"]["HeartbeatSeen"] for s in stats.values()]
        assert all(b > 0 for b in beats)
        watch = fleet_cli("watch", "--json", config=second_config).json()
        assert watch["counts"] == {
            "stores": STORES,
            "online": STORES,
            "offline": 0,
            "with_alarms": 0,
        }
        assert len(watch["consumers"]) == 2
    finally:
        if reader is not None:
            reader.close()
    assert first.stop() == 0 and second.stop() == 0


def _record(reader: object, store_id: str) -> StoreRecord:
    from agent.fleet.db import Database

    assert isinstance(reader, Database)
    return next(r for r in reader.load_stores() if r.store_id == store_id)


def _has_tables(url: str) -> bool:
    try:
        open_database(url, None, writer=False, create=False).close()
    except Exception:
        return False
    return True


def test_the_consumer_rides_out_a_database_outage(
    broker_factory: Callable[..., Mosquitto],
    sim_fleet_factory: Callable[..., Fleet],
    fleet_config_factory: Callable[..., Path],
    fleet_consumer_factory: Callable[[Path], FleetConsumer],
) -> None:
    """PostgreSQL restarts under a running consumer: it retries, then writes what it kept."""
    from testkit.postgres import Postgres

    database = Postgres().start()
    try:
        url = database.create_database()
        broker = broker_factory()
        consumer = fleet_consumer_factory(fleet_config_factory(broker, url))
        fleet = sim_fleet_factory(broker, 6)
        wait_until(lambda: _has_tables(url), 20)
        reader = open_database(url, None, writer=False, create=False)
        wait_until(lambda: sum(r.online for r in reader.load_stores()) == 6, 30)
        reader.close()
        ids = sorted(fleet.links)

        database.stop_server()
        fleet.power_cut(ids[0])
        fleet.set_stage(ids[1], "equipment_installed")
        fleet.emit(ids[2], "kcp_uncovered", {"kcp": fleet.links[ids[2]].store.kcps[0]})
        wait_until(lambda: "fleet_database_error" in consumer.log_tail(), 20)
        database.start()

        reader = open_database(url, None, writer=False, create=False)
        try:
            wait_until(lambda: not _record(reader, ids[0]).online, 40)
            wait_until(lambda: _record(reader, ids[1]).stage_reached == "equipment_installed", 20)
            kcp = fleet.links[ids[2]].store.kcps[0]
            wait_until(
                lambda: _record(reader, ids[2]).coverage.get(kcp, {}).get("covered") is False, 20
            )
            wait_until(lambda: reader.load_consumers()[0]["stats"]["db_errors"] > 0, 20)
            stats = reader.load_consumers()[0]["stats"]
            assert stats["dropped"] == 0 and consumer.alive
        finally:
            reader.close()
    finally:
        database.stop()


def test_the_ops_user_of_the_documented_acl_runs_the_shared_consumer(
    broker_factory: Callable[..., Mosquitto],
    postgres_url: str,
    sim_fleet_factory: Callable[..., Fleet],
    fleet_config_factory: Callable[..., Path],
    fleet_consumer_factory: Callable[[Path], FleetConsumer],
    fleet_cli: Callable[..., FleetRun],
    tmp_path: Path,
) -> None:
    """docs/mqtt.md's ACL is all the fleet needs (plain and shared subscriptions as the ops
    user), its password comes from the credentials directory and never reaches a log."""
    from testkit.mosquitto import BrokerOptions

    ops_password = "ops-Secret-7f31c9"
    stores = [f"{s.district}/{s.store_id}" for s in make_stores(5)]  # as the fleet makes them
    users = {"ops": ops_password, **dict.fromkeys(stores, "box-pw")}
    broker = broker_factory(BrokerOptions(users=users, acl=documented_acl()))
    creds = tmp_path / "fleet-creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text(ops_password + "\n", encoding="utf-8")
    config = fleet_config_factory(
        broker,
        postgres_url,
        broker={"username": "ops", "shared_group": "fleet"},
        paths={"credentials_dir": str(creds)},
    )
    consumer = fleet_consumer_factory(config)
    sim_fleet_factory(broker, len(stores), password="box-pw")
    wait_until(lambda: _has_tables(postgres_url), 20)
    reader = open_database(postgres_url, None, writer=False, create=False)
    try:
        wait_until(
            lambda: sum(r.online and r.hb_ts is not None for r in reader.load_stores()) == 5, 30
        )
    finally:
        reader.close()
    direct = fleet_cli("cameras", "--json", "--broker", broker.url, config=config)
    assert direct.returncode == 0, direct.stderr
    assert direct.json()["counts"]["online"] > 0
    assert consumer.stop() == 0
    assert ops_password not in consumer.log_tail(100_000)
    assert ops_password not in direct.stdout + direct.stderr
