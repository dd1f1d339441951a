"""The reporter against a real mosquitto: birth, heartbeats, events, commands, budgets."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.kcp import Kcp
from agent.model import (
    AgentStarted,
    AgentStopping,
    Camera,
    CameraOffline,
    ErrorInfo,
    KcpCoverage,
    QualityCheck,
    QualityIssue,
    QualityStatus,
    Severity,
    Stage,
    StageStatus,
    StoreCoverage,
    StreamState,
    StreamStatus,
    UplinkState,
    UplinkStatus,
    Verdict,
)
from agent.supervisor import WorkerContext
from agent.uplink.messages import SystemInfo
from agent.uplink.mqtt.heartbeat import build_heartbeat
from testkit.agent_runner import Harness
from testkit.disk_fixtures import SmallDisk
from testkit.mosquitto import BrokerOptions, Mosquitto, Subscriber, wait_until

BASE = "kitchen/v1/xuhui/store-1"


# --- pure heartbeat ------------------------------------------------------------------------


def _system() -> SystemInfo:
    return SystemInfo(
        uptime_s=123456.7,
        load=[1.25, 0.75, 0.5],
        mem_total_mb=3882.4,
        mem_available_mb=2712.9,
        disk_total_mb=29804.1,
        disk_free_mb=21011.6,
        temperature_c=61.3,
    )


def test_heartbeat_for_8_cameras_is_at_most_5kb_in_the_worst_case() -> None:
    """Longest ids, every issue and alarm raised (the longest real codes), every number."""
    ids = [f"{'x' * 60}-{n:02d}" for n in range(8)]
    # The longest real codes: quality checks, and alarms on KCP regions of interest.
    codes = sorted((c.value for c in QualityCheck), key=len, reverse=True)
    alarms = sorted((f"roi:{k.value}" for k in Kcp), key=len, reverse=True) + codes
    declared = ["cooking", "cold_room", "prep", "dishwashing", "packing", "storage"]
    beat = build_heartbeat(
        session=123456,
        seq=99999,
        now=1.7e9,
        started_at=1.6e9,
        system=_system(),
        broker_rtt_ms=123.4,
        enrolled=ids,
        cameras={
            cid: Camera(
                id=cid,
                address="192.0.2.10",
                xaddr="http://192.0.2.10/onvif/device_service",
                online=False,
                error=ErrorInfo(code="auth_failed", message="x" * 500),
                clock_skew_s=-1234.56,
            )
            for cid in ids
        },
        quality={
            cid: QualityStatus(
                verdict=Verdict.FAIL,
                issues=tuple(QualityIssue(c, Severity.FAIL, 1.0, 2.0) for c in codes),
                alarms=tuple(alarms),
            )
            for cid in ids
        },
        streams={
            cid: StreamStatus(state=StreamState.STARTING, bitrate_kbps=7999.9, fps=29.97)
            for cid in ids
        },
        declared_kcps=declared,
        coverage=StoreCoverage(tuple(KcpCoverage(k, False, (), (), None) for k in declared)),
        stage=StageStatus(Stage.EQUIPMENT_INSTALLED, Stage.VIDEO_CONNECTED, 1.6e9),
        outbox_pending=10000,
        outbox_dropped=123456,
    )
    size = len(beat.model_dump_json().encode("utf-8"))
    assert size <= 5 * 1024, size
    assert all(len(c.issues) == 8 and len(c.alarms) == 8 for c in beat.cameras)


def test_heartbeat_lists_enrolled_cameras_first_and_unseen_ones_as_not_found() -> None:
    beat = build_heartbeat(
        session=2,
        seq=1,
        now=1000.0,
        started_at=900.0,
        system=_system(),
        broker_rtt_ms=None,
        enrolled=["b", "a"],
        cameras={
            cid: Camera(id=cid, address="192.0.2.1", xaddr="http://192.0.2.1/onvif", online=True)
            for cid in ("a", "z")
        },
        quality={},
        streams={"a": StreamStatus(state=StreamState.UP, bitrate_kbps=480.44, fps=15.04)},
        declared_kcps=["cooking", "prep"],
        coverage=StoreCoverage((KcpCoverage("cooking", True, ("a",), ("a",), None),)),
        stage=StageStatus(Stage.VIDEO_CONNECTED, Stage.COMPLETED),
        outbox_pending=0,
        outbox_dropped=0,
    )
    assert [c.id for c in beat.cameras] == ["b", "a", "z"]
    assert beat.cameras[0].error == "not_found" and not beat.cameras[0].online
    assert beat.cameras[1].kbps == 480 and beat.cameras[1].fps == 15.0
    assert beat.coverage.ratio == 0.5 and beat.coverage.kcps == {"cooking": True, "prep": False}
    assert [c.enrolled for c in beat.cameras] == [True, True, False]
    assert beat.uptime_s == 100.0
    # The live stage (with hysteresis) and the stage held for 10 minutes, told apart.
    assert (beat.stage, beat.stage_reached) == (Stage.VIDEO_CONNECTED, Stage.COMPLETED)


# --- one reporter for the module, against the session broker --------------------------------


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reporter")


@pytest.fixture(scope="module")
def ops(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    with Subscriber(mosquitto, (f"{BASE}/#",)) as subscriber:
        yield subscriber


@pytest.fixture(scope="module")
def harness(mosquitto: Mosquitto, ops: Subscriber, module_dir: Path) -> Iterator[Harness]:
    running = Harness(mosquitto, module_dir).start()
    ops.wait_json("birth", lambda b: True, 10)  # subscribed to cmd before birth is sent
    yield running
    running.stop()


def send(broker: Mosquitto, body: Any) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        client.publish(f"{BASE}/cmd", raw, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def results(
    ops: Subscriber, command_id: str | None, count: int, timeout_s: float = 10
) -> list[Any]:
    def match(messages: list[Any]) -> list[Any] | None:
        found = [
            m.json()
            for m in messages
            if m.topic == f"{BASE}/cmd/result" and m.json()["command_id"] == command_id
        ]
        return found if len(found) >= count else None

    return list(ops.wait_for(match, timeout_s))


def future(seconds: float = 3600) -> float:  # params are built at collection time
    return time.time() + seconds


def test_birth_is_retained_and_describes_the_store(harness: Harness, mosquitto: Mosquitto) -> None:
    with Subscriber(mosquitto, (f"{BASE}/birth",)) as late:
        (message,) = late.wait_for(lambda msgs: msgs, 5)
    birth = message.json()
    assert message.retain
    assert birth["store"]["name"] == "老王面馆 徐汇店" and birth["store"]["kcps"] == [
        "cooking",
        "cold_room",
        "prep",
    ]
    assert [c["kcps"] for c in birth["cameras"]] == [["cooking"], ["cold_room"], ["prep"]]
    assert birth["stage"] == "equipment_installed"  # cameras online, prep not covered
    assert birth["stage_reached"] == "equipment_installed"
    assert birth["store"]["expected_completion"] == "2024-09"
    assert len(birth["config_hash"]) == 16 and birth["protocol"] == "5"


def test_birth_is_sent_again_when_the_stage_reached_changes(
    harness: Harness, ops: Subscriber
) -> None:
    def births(reached: str) -> Any:
        return ops.wait_json("birth", lambda b: b["stage_reached"] == reached, 10)

    births("equipment_installed")
    harness.state.set_stage(StageStatus(Stage.VIDEO_CONNECTED, Stage.VIDEO_CONNECTED, 5.0))
    birth = births("video_connected")
    assert birth["stage"] == "video_connected"
    beat = ops.wait_json("heartbeat", lambda b: b["stage_reached"] == "video_connected", 10)
    assert beat["stage"] == "video_connected"
    # A live stage change alone is the heartbeat's news, not a new birth.
    count = len(ops.on("birth"))
    harness.state.set_stage(StageStatus(Stage.EQUIPMENT_INSTALLED, Stage.VIDEO_CONNECTED, 5.0))
    ops.wait_json("heartbeat", lambda b: b["stage"] == "equipment_installed", 10)
    assert len(ops.on("birth")) == count
    harness.state.set_stage(StageStatus(Stage.EQUIPMENT_INSTALLED, Stage.EQUIPMENT_INSTALLED))


def test_heartbeats_are_consecutive_and_complete(harness: Harness, ops: Subscriber) -> None:
    beats = ops.wait_for(
        lambda msgs: (
            [m.json() for m in msgs if m.topic.endswith("/heartbeat")][:2]
            if len([m for m in msgs if m.topic.endswith("/heartbeat")]) >= 2
            else None
        ),
        12,
    )
    assert [b["seq"] for b in beats] == [1, 2]
    assert beats[0]["session"] == beats[1]["session"]
    second = beats[1]
    assert second["broker_rtt_ms"] is not None and second["broker_rtt_ms"] < 1000
    assert second["cameras"][0] == {
        "id": "cam-00",
        "online": True,
        "error": None,
        "fps": 15.0,
        "stream": "up",
        "kbps": 480.0,
        "quality": "warn",
        "issues": ["too_dark"],
        "alarms": [],
        "enrolled": True,
        "clock_skew_s": 0.4,
    }
    assert second["coverage"] == {
        "ratio": 0.667,
        "kcps": {"cooking": True, "cold_room": True, "prep": False},
    }
    assert second["system"]["mem_total_mb"] > 0 and second["outbox"]["pending"] == 0


def test_events_are_delivered_with_ids_and_not_late(harness: Harness, ops: Subscriber) -> None:
    emitted = harness.state.emit(
        CameraOffline(
            camera_id="cam-01",
            address="192.0.2.11",
            error=ErrorInfo(code="timeout", message="no answer"),
        )
    )
    event = ops.wait_json("event", lambda b: b["msg_id"] == emitted.msg_id, 5)
    assert event["type"] == "camera_offline" and event["data"]["camera_id"] == "cam-01"
    assert event["late"] is False and event["queued_s"] < 5
    wait_until(lambda: harness.reporter.outbox.count() == 0, 5)  # removed on PUBACK


def test_command_runs_once_and_repeats_are_answered_as_duplicates(
    harness: Harness, ops: Subscriber, mosquitto: Mosquitto, module_dir: Path
) -> None:
    command = {"command_id": "rescan-1", "name": "rescan", "args": {}, "expires_at": future()}
    send(mosquitto, command)
    accepted, succeeded = results(ops, "rescan-1", 2)
    assert (accepted["status"], succeeded["status"]) == ("accepted", "succeeded")
    assert succeeded["result"]["found"] == 2
    assert "secret" not in json.dumps(succeeded)  # password in a URL is scrubbed
    send(mosquitto, command)
    repeat = results(ops, "rescan-1", 3)[2]
    assert repeat["duplicate"] is True and repeat["status"] == "succeeded"
    assert harness.hooks.calls.count(("rescan", None)) == 1
    stored = dict(json.loads((module_dir / "commands-seen.json").read_text())["seen"])
    assert stored["rescan-1"]["status"] == "succeeded" and stored["rescan-1"]["error"] is None


@pytest.mark.parametrize(
    ("command_id", "body", "code"),
    [
        (
            "old-1",
            {"command_id": "old-1", "name": "rescan", "expires_at": time.time() - 1},
            "command_expired",
        ),
        (
            "what-1",
            {"command_id": "what-1", "name": "selfdestruct", "expires_at": future()},
            "command_unknown",
        ),
        (
            "snap-bad",
            {"command_id": "snap-bad", "name": "snapshot", "expires_at": future()},
            "command_bad_args",
        ),
        ("noexp-1", {"command_id": "noexp-1", "name": "rescan"}, "command_malformed"),
        (None, b"\xff\xfe not json", "command_malformed"),
        (None, b"[1, 2]", "command_malformed"),
        (None, b"x" * 70000, "command_malformed"),
        (None, b"[" * 64000, "command_malformed"),  # crashed the reporter (RecursionError)
        (
            "far-1",
            {"command_id": "far-1", "name": "rescan", "expires_at": "9999-12-31T00:00:00Z"},
            "command_expiry_too_far",
        ),
    ],
)
def test_bad_commands_are_rejected_and_never_run(
    harness: Harness,
    ops: Subscriber,
    mosquitto: Mosquitto,
    command_id: str | None,
    body: Any,
    code: str,
) -> None:
    before = len(harness.hooks.calls)
    ops.clear()
    send(mosquitto, body)
    (result,) = results(ops, command_id, 1)
    assert result["status"] == "rejected" and result["error"]["code"] == code
    assert len(harness.hooks.calls) == before
    assert harness.supervisor.status()["mqtt"]["restarts"] == 0  # answered, not crashed


def test_failures_are_reported_and_the_reporter_survives_a_crashing_action(
    harness: Harness, ops: Subscriber, mosquitto: Mosquitto
) -> None:
    send(mosquitto, {"command_id": "diag-1", "name": "diagnose", "expires_at": future()})
    failed = results(ops, "diag-1", 2)[1]
    assert failed["status"] == "failed" and failed["error"]["code"] == "agent_error"
    send(
        mosquitto,
        {
            "command_id": "rs-1",
            "name": "restart_stream",
            "args": {"camera_id": "broken"},
            "expires_at": future(),
        },
    )
    failed = results(ops, "rs-1", 2)[1]
    assert failed["error"]["code"] == "ffmpeg_exited"
    send(
        mosquitto,
        {
            "command_id": "rs-2",
            "name": "restart_stream",
            "args": {"camera_id": "cam-00"},
            "expires_at": future(),
        },
    )
    assert results(ops, "rs-2", 2)[1]["status"] == "succeeded"


def test_snapshot_is_a_bounded_jpeg(
    harness: Harness, ops: Subscriber, mosquitto: Mosquitto
) -> None:
    send(
        mosquitto,
        {
            "command_id": "snap-1",
            "name": "snapshot",
            "args": {"camera_id": "cam-00", "max_bytes": 60000},
            "expires_at": future(),
        },
    )
    result = results(ops, "snap-1", 2, timeout_s=20)[1]
    assert result["status"] == "succeeded", result
    jpeg = base64.b64decode(result["result"]["jpeg_base64"])
    assert len(jpeg) == result["result"]["bytes"] <= 60000
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[1] == result["result"]["width"] < 1920


def test_rebirth_republishes_birth(harness: Harness, ops: Subscriber, mosquitto: Mosquitto) -> None:
    births = len(ops.on("birth"))
    send(mosquitto, {"command_id": "rb-1", "name": "rebirth", "expires_at": future()})
    assert results(ops, "rb-1", 2)[1]["status"] == "succeeded"
    ops.wait_for(lambda msgs: len([m for m in msgs if m.topic.endswith("/birth")]) > births, 5)


def test_seen_commands_survive_a_restart(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    mosquitto = broker_factory()  # its own broker: the module's agent uses the same client id
    sub = subscriber_factory(mosquitto, (f"{BASE}/cmd/result", f"{BASE}/birth"))
    first = Harness(mosquitto, tmp_path).start()
    try:
        # The agent subscribes to cmd before it publishes birth: birth seen = ready.
        sub.wait_json("birth", lambda b: True, 10)
        send(
            mosquitto, {"command_id": "persist-1", "name": "reload_config", "expires_at": future()}
        )
        results(sub, "persist-1", 2)
    finally:
        first.stop()
    sub.clear()
    second = Harness(mosquitto, tmp_path).start()
    try:
        sub.wait_json("birth", lambda b: True, 10)
        send(
            mosquitto, {"command_id": "persist-1", "name": "reload_config", "expires_at": future()}
        )
        (repeat,) = results(sub, "persist-1", 1)
        assert repeat["duplicate"] and second.hooks.calls == []
    finally:
        second.stop()


def test_starts_without_a_broker_and_delivers_once_it_appears(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    # Ops' subscription must be on the broker before the agent can reach it: the agent may
    # well connect and publish before a subscriber started after the broker gets to SUBSCRIBE.
    # A persistent session on a broker with persistence is there the moment it starts.
    broker = broker_factory(BrokerOptions(persistence=True))
    ops = subscriber_factory(broker, (f"{BASE}/event",), persistent=True)
    broker.stop()
    box = Harness(broker, tmp_path).start()
    try:
        emitted = box.state.emit(AgentStarted(version="test", config_hash="0" * 16))
        wait_until(lambda: box.reporter.link is not None and box.reporter.link.last_error, 5)
        assert box.supervisor.healthy() and box.reporter.outbox.count() == 1
        broker.start()
        event = ops.wait_json("event", lambda b: b["msg_id"] == emitted.msg_id, 15)
        assert event["type"] == "agent_started"
        assert ops.sessions_lost == 0
    finally:
        box.stop()


def test_the_link_is_offline_from_the_start_not_stopped(
    broker_factory: Callable[..., Mosquitto], tmp_path: Path
) -> None:
    # `kitchen-agent status` asked as the agent starts, its broker down: the link it is
    # about to open is `offline`, not `stopped` (which says the reporter is not running).
    broker = broker_factory()
    broker.stop()
    box = Harness(broker, tmp_path)
    seen: list[UplinkStatus] = []

    class FirstBeat(WorkerContext):
        def beat(self) -> None:
            seen.append(box.state.uplink())
            self.stopping.set()

    box.reporter.run(FirstBeat("mqtt", threading.Event(), watchdog_s=30.0))
    assert seen and seen[0].state is UplinkState.OFFLINE
    assert seen[0].broker == box.config.broker.url


def test_clean_stop_delivers_agent_stopping_before_saying_stopped(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    broker = broker_factory()
    ops = subscriber_factory(broker, (f"{BASE}/event", f"{BASE}/state"))
    box = Harness(broker, tmp_path).start()
    ops.wait_json("state", lambda b: b["online"], 10)
    box.state.emit(AgentStopping(reason="stopped"))  # what the daemon does, then stops
    box.stop()
    ops.wait_json("state", lambda b: b["reason"] == "stopped", 5)
    kinds = [
        (m.topic.rsplit("/", 1)[1], m.json().get("type") or m.json().get("reason"))
        for m in ops.messages
    ]
    assert kinds.index(("event", "agent_stopping")) < kinds.index(("state", "stopped"))


def test_a_state_disk_without_room_is_reported_and_nothing_stops(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    small_disk: Callable[[int], SmallDisk],
) -> None:
    """A state filesystem below the box's free-space reserve: events are counted as dropped
    instead of stored, command ids are kept in memory, the heartbeat says why, and neither
    the reporter nor its commands stop."""
    mosquitto = broker_factory()
    disk = small_disk(1024)  # smaller than the 32 MiB reserve: nothing more goes on it
    sub = subscriber_factory(mosquitto, (f"{BASE}/#",))
    running = Harness(mosquitto, disk.root).start()
    try:
        sub.wait_json("birth", lambda b: True, 10)
        running.state.emit(
            CameraOffline(
                camera_id="cam-01",
                address="192.0.2.11",
                error=ErrorInfo(code="timeout", message="no answer"),
            )
        )
        send(mosquitto, {"command_id": "full-1", "name": "rescan", "expires_at": future()})
        assert [r["status"] for r in results(sub, "full-1", 2)] == ["accepted", "succeeded"]
        beat = sub.wait_json("heartbeat", lambda b: b["storage"]["commands"] is not None, 15)
        assert beat["storage"] == {"outbox": "storage_full", "commands": "storage_full"}
        assert beat["outbox"]["dropped"] >= 1
        send(mosquitto, {"command_id": "full-1", "name": "rescan", "expires_at": future()})
        assert results(sub, "full-1", 3)[2]["duplicate"] is True  # remembered in memory
        assert running.supervisor.status()["mqtt"]["restarts"] == 0
    finally:
        running.stop()
