"""The one ACL of docs/mqtt.md, loaded as written into a real mosquitto: every box does its
job, and nothing else — no other district's or store's topics, no reading another box's
commands, no commanding itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from agent.model import CameraOffline, ErrorInfo
from testkit.acl import documented_acl
from testkit.agent_runner import Harness
from testkit.mosquitto import BrokerOptions, Mosquitto, Subscriber, publish_once

BASE = "kitchen/v1/xuhui/store-1"
USERS = {
    "ops": "ops-pw",
    "xuhui/store-1": "pw-xuhui-1",
    "xuhui/store-2": "pw-xuhui-2",
    "minhang/store-1": "pw-minhang-1",
}


def publish_as(broker: Mosquitto, user: str, topic: str, payload: bytes) -> None:
    publish_once(broker, topic, payload, username=user, password=USERS[user])


def test_the_acl_block_is_what_the_docs_show() -> None:
    acl = documented_acl()
    assert "pattern write kitchen/v1/%u/state" in acl
    assert "pattern read kitchen/v1/%u/cmd" in acl
    assert "%u/#" not in acl  # no catch-all for a box


def test_a_box_does_its_job_under_the_documented_acl(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    broker = broker_factory(BrokerOptions(users=USERS, acl=documented_acl()))
    ops = subscriber_factory(broker, ("kitchen/v1/#",), username="ops", password="ops-pw")
    box = Harness(
        broker,
        tmp_path / "box",
        password=USERS["xuhui/store-1"],
        username="xuhui/store-1",
        allow_plaintext=True,
    ).start()
    try:
        ops.wait_json("birth", lambda b: True, 10)
        ops.wait_json("heartbeat", lambda b: True, 10)
        assert ops.wait_json("state", lambda b: b["online"], 5)["session"] == 1
        emitted = box.state.emit(
            CameraOffline(
                camera_id="cam-01",
                address="192.0.2.11",
                error=ErrorInfo(code="timeout", message="no answer"),
            )
        )
        ops.wait_json("event", lambda b: b["msg_id"] == emitted.msg_id, 5)
        command = b'{"command_id": "acl-1", "name": "rescan", "expires_at": %d}' % (
            time.time() + 600
        )
        publish_as(broker, "ops", f"{BASE}/cmd", command)
        ops.wait_json("cmd/result", lambda b: b["status"] == "succeeded", 10)
        assert box.reporter.outbox.count() == 0  # every event acknowledged, none refused
    finally:
        box.stop()
    ops.wait_json("state", lambda b: b["reason"] == "stopped", 5)
    assert ops.contract_violations == []


def test_a_box_cannot_write_outside_its_own_topics(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
) -> None:
    broker = broker_factory(BrokerOptions(users=USERS, acl=documented_acl()))
    ops = subscriber_factory(
        broker, ("kitchen/v1/#",), username="ops", password="ops-pw", check_contract=False
    )
    forged = [
        "kitchen/v1/xuhui/store-2/event",  # another store of its district
        "kitchen/v1/minhang/store-1/state",  # its store id under another district
        f"{BASE}/cmd",  # its own commands: only ops command a box
        "kitchen/v1/xuhui/store-1x/heartbeat",  # a store whose id starts like its own
        f"{BASE}/anything",  # a topic of its store the contract does not have
        "kitchen/v1/xuhui/store-1",  # its store's root
    ]
    for topic in forged:
        publish_as(broker, "xuhui/store-1", topic, b'{"forged": true}')
    publish_as(broker, "xuhui/store-1", f"{BASE}/event", b'{"own": true}')  # the control
    ops.wait_for(lambda msgs: [m for m in msgs if m.payload == b'{"own": true}'], 5)
    assert not [m.topic for m in ops.messages if m.payload == b'{"forged": true}']


def test_a_box_reads_its_own_commands_and_nothing_else(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
) -> None:
    broker = broker_factory(BrokerOptions(users=USERS, acl=documented_acl()))
    spy = subscriber_factory(
        broker,
        ("#", "kitchen/v1/+/+/cmd", "kitchen/v1/xuhui/store-2/cmd"),
        username="xuhui/store-1",
        password=USERS["xuhui/store-1"],
        check_contract=False,
    )
    publish_as(broker, "ops", "kitchen/v1/xuhui/store-2/cmd", b"for store-2")
    publish_as(broker, "ops", "kitchen/v1/minhang/store-1/cmd", b"for minhang")
    publish_as(broker, "xuhui/store-2", "kitchen/v1/xuhui/store-2/heartbeat", b"{}")
    publish_as(broker, "ops", f"{BASE}/cmd", b"mine")
    spy.wait_for(lambda msgs: [m for m in msgs if m.payload == b"mine"], 5)
    assert {m.payload for m in spy.messages} == {b"mine"}
