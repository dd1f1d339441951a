"""Whole-process behaviour against a real mosquitto: Last Will on kill -9 and on a frozen box,
outages with kill -9 in the middle, and a pattern ACL that keeps stores apart."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from agent.uplink.mqtt.session import SessionCounter
from testkit.acl import documented_acl
from testkit.agent_runner import ChildAgent, Harness, config_dict
from testkit.mosquitto import BrokerOptions, Mosquitto, Subscriber, publish_once, wait_until

BASE = "kitchen/v1/xuhui/store-1"
KEEPALIVE_S = 5
# How late mosquitto 2.0.11 can notice a silent client: it counts whole seconds, drops a
# client only when more than keepalive*3//2 of them have passed since its last packet, and
# looks at keepalives at most every 6 s. Worst case: keepalive*3//2 + 6 s after the last
# packet (13 s for keepalive 5; measured 6.2 to 12.2 s depending on the broker's phase).
MOSQUITTO_KEEPALIVE_CHECK_S = 6
DELIVERY_SLACK_S = 2  # the will reaching ops and this test noticing, on a loaded machine


@pytest.fixture
def children() -> Iterator[list[ChildAgent]]:
    made: list[ChildAgent] = []
    yield made
    for child in made:
        child.stop()
        # Shown by pytest only when the test failed: what each agent process logged.
        print(f"--- agent child log {child.log_path} ---\n{child.log_tail()}")


def start_child(
    children: list[ChildAgent], tmp_path: Path, broker: Mosquitto, **broker_opts: Any
) -> ChildAgent:
    config = config_dict(broker.url, tmp_path / "state", keepalive_s=KEEPALIVE_S, **broker_opts)
    child = ChildAgent(tmp_path, config)
    children.append(child)
    return child.start()


def test_last_will_on_kill_9(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    children: list[ChildAgent],
    tmp_path: Path,
) -> None:
    broker = broker_factory()
    ops = subscriber_factory(broker, (f"{BASE}/state",))
    child = start_child(children, tmp_path, broker)
    online = ops.wait_json("state", lambda b: b["online"], 15)
    killed_at = time.monotonic()
    child.kill9()
    will = ops.wait_json("state", lambda b: not b["online"], 1.5 * KEEPALIVE_S)
    assert time.monotonic() - killed_at <= 1.5 * KEEPALIVE_S
    assert will["reason"] == "connection_lost" and will["session"] == online["session"]


@pytest.mark.slow
def test_last_will_when_the_box_freezes_within_one_and_a_half_keepalives(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    children: list[ChildAgent],
    tmp_path: Path,
) -> None:
    """SIGSTOP = a hung box or a cut cable: no FIN, only the keepalive can tell."""
    broker = broker_factory()
    ops = subscriber_factory(broker, (f"{BASE}/state",))
    child = start_child(children, tmp_path, broker)
    online = ops.wait_json("state", lambda b: b["online"], 15)
    child.signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    will = ops.wait_json("state", lambda b: not b["online"], 30)
    elapsed = time.monotonic() - frozen_at
    # MQTT allows 1.5 x keepalive of silence; mosquitto 2.0.11 notices it later (see above).
    # A keepalive the agent did not set (paho's 60 s) would take 90 s or more.
    limit = KEEPALIVE_S * 3 // 2 + MOSQUITTO_KEEPALIVE_CHECK_S + DELIVERY_SLACK_S
    assert elapsed <= limit, elapsed
    assert will["session"] == online["session"] and will["reason"] == "connection_lost"
    # Thawed, it comes back with a newer session: ops ignore the older session's will.
    child.signal(signal.SIGCONT)
    again = ops.wait_json("state", lambda b: b["online"] and b["session"] > online["session"], 20)
    assert again["reason"] == "connected"


def _events(ops: Subscriber) -> list[dict[str, Any]]:
    """Events as a consumer keeps them: each msg_id once, in arrival order.

    Only the broker's own redelivery (DUP set: it never got ops' PUBACK before it went
    down) may repeat an id; a repeat without DUP would be the agent publishing twice.
    """
    kept: dict[str, dict[str, Any]] = {}
    for message in ops.messages:
        if message.topic != f"{BASE}/event":
            continue
        event = message.json()
        if event["msg_id"] in kept:
            assert message.dup, f"published twice by the agent: {event}"
            continue
        kept[event["msg_id"]] = event
    return list(kept.values())


@pytest.mark.parametrize(
    "outage_s",
    [
        pytest.param(3, id="short"),
        pytest.param(120, id="two-minutes", marks=[pytest.mark.slow, pytest.mark.timeout(240)]),
    ],
)
def test_outage_with_kill_9_delivers_every_event_once_and_in_order(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    children: list[ChildAgent],
    tmp_path: Path,
    outage_s: float,
) -> None:
    broker = broker_factory(BrokerOptions(persistence=True))
    # A persistent session: the broker keeps ops' subscription and queues for it across its
    # own restart, so ops miss nothing that was published while they were reconnecting (the
    # agent often gets back first).
    ops = subscriber_factory(broker, (f"{BASE}/event", f"{BASE}/state"), persistent=True)
    late_after_s = 2.0
    outbox_opts = {"outbox": {"late_after_s": late_after_s}}
    first = start_child(children, tmp_path, broker, **outbox_opts)
    ops.wait_json("state", lambda b: b["online"], 15)
    ids = [first.emit("agent_started", version="0", config_hash="h")]
    ops.wait_json("event", lambda b: b["msg_id"] == ids[0], 10)
    # Ops having it is not the box knowing it: only once the PUBACK is in the outbox may the
    # box never send it again (before that, a power cut rightly means sending it again).
    wait_until(lambda: not list_pending(tmp_path), 10)

    broker.stop()
    outage_started = time.monotonic()
    ids += [
        first.emit("camera_offline", camera_id=f"cam-{n:02d}", address=None, error=None)
        for n in (1, 2, 3)
    ]
    first.kill9()  # power cut in the middle of the outage
    second = start_child(children, tmp_path, broker, **outbox_opts)
    ids.append(second.emit("camera_online", camera_id="cam-04", address=None, error=None))
    last_emitted = time.monotonic()
    while time.monotonic() - outage_started < outage_s:
        ids.append(second.emit("quality_reference_reset", camera_id=f"cam-{len(ids):02d}"))
        last_emitted = time.monotonic()
        time.sleep(min(20.0, max(0.0, outage_s - (time.monotonic() - outage_started))))
    # All but the last event must have waited longer than late_after_s when the broker is
    # back, however long the second agent took to start on a loaded machine.
    time.sleep(max(0.0, last_emitted + late_after_s + 0.5 - time.monotonic()))
    ids.append(second.emit("stream_up", camera_id=f"cam-{len(ids):02d}", route=None, cap_kbps=None))

    broker.start()
    ops.wait_for(lambda _: {e["msg_id"] for e in _events(ops)} >= set(ids), 30)
    wait_until(lambda: second.process and not list_pending(tmp_path), 10)
    assert ops.sessions_lost == 0, "ops' session must survive the broker's restart"
    events = _events(ops)
    assert [e["msg_id"] for e in events] == ids, "each event exactly once, in order"
    assert [e["data"].get("camera_id", "cam-00") for e in events] == [
        f"cam-{n:02d}" for n in range(len(ids))
    ]
    assert not events[0]["late"] and all(e["late"] for e in events[1:-1])
    assert all(e["queued_s"] >= 0 for e in events)


def list_pending(tmp_path: Path) -> list[Any]:
    """msg_ids still in the agent's outbox (not acknowledged by the broker yet)."""
    db = sqlite3.connect(tmp_path / "state" / "outbox.sqlite3", timeout=10)
    try:
        return db.execute("SELECT msg_id FROM events").fetchall()
    finally:
        db.close()


# --- pattern ACL -----------------------------------------------------------------------------

ACL = documented_acl()  # docs/mqtt.md's: usernames are <district>/<store id>
USERS = {"ops": "ops-secret", "xuhui/store-1": "pw-store-1", "xuhui/store-2": "pw-store-2"}


def _publish_as(broker: Mosquitto, user: str, topic: str, payload: bytes) -> None:
    publish_once(broker, topic, payload, user, USERS[user], protocol=MQTTProtocolVersion.MQTTv311)


def test_pattern_acl_keeps_one_store_off_another_stores_topics(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    broker = broker_factory(BrokerOptions(users=USERS, acl=ACL))
    # The test itself publishes forged, off-contract payloads as store-2.
    ops = subscriber_factory(
        broker, ("kitchen/v1/#",), username="ops", password="ops-secret", check_contract=False
    )
    # A box provisioned as store-1 but holding store-2's credentials (a copied SD card). Its
    # session numbers differ from the honest box's, so anything of its would show.
    SessionCounter(tmp_path / "impostor").commit(41)
    impostor = Harness(
        broker,
        tmp_path / "impostor",
        password=USERS["xuhui/store-2"],
        username="xuhui/store-2",
        client_id="kitchen-agent-impostor",
        allow_plaintext=True,
    ).start()
    honest = Harness(
        broker,
        tmp_path / "honest",
        password=USERS["xuhui/store-1"],
        username="xuhui/store-1",
        allow_plaintext=True,
    ).start()
    try:
        ops.wait_json("birth", lambda b: True, 10)
        ops.wait_for(lambda msgs: len([m for m in msgs if m.topic.endswith("/heartbeat")]) >= 1, 10)
        _publish_as(broker, "xuhui/store-2", f"{BASE}/event", b'{"forged": true}')
        _publish_as(broker, "xuhui/store-2", "kitchen/v1/xuhui/store-2/event", b'{"own": true}')
        ops.wait_json("event", lambda b: b.get("own") is True, 5)
        honest_link = honest.reporter.link
        assert honest_link is not None and honest_link.session == 1
        store_1 = [m for m in ops.messages if m.topic.startswith(BASE + "/")]
        sessions = {m.json().get("session") for m in store_1 if not m.topic.endswith("/event")}
        # Everything on store-1's topics came from the honest box's connection.
        assert sessions == {honest_link.session}, sessions
        assert not any(b'"forged"' in m.payload for m in ops.messages)
    finally:
        impostor.stop()
        honest.stop()
    # The broker forwards the honest box's last word to ops after the box has moved on.
    stopped = ops.wait_json("state", lambda b: b["reason"] == "stopped", 5)
    assert stopped["session"] == 1 and ops.on("state")[-1].json() == stopped
