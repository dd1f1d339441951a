"""CPU per heartbeat and per event of the agent's MQTT path, against a real local mosquitto.

Baseline, measured in the same run: a raw paho-mqtt QoS 1 publish of the very same payload
(loop thread + wait for PUBACK). The agent's path adds the work it must do on top:

- heartbeat: read /proc and /sys, snapshot AgentState (8 cameras), build and validate the
  pydantic model, serialise, publish QoS 1 through MqttLink, handle the PUBACK;
- event: store in SQLite (WAL, synchronous=FULL), read back in order, build the event
  message, publish QoS 1, delete the row on PUBACK.

CPU is process CPU time (all threads, including paho's network thread). Run:
``.venv/bin/python benchmarks/mqtt.py [N]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
import structlog  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from agent.config import AgentConfig  # noqa: E402
from agent.state import AgentState  # noqa: E402
from agent.uplink.mqtt.client import Acked, Connected  # noqa: E402
from agent.uplink.mqtt.heartbeat import build_event  # noqa: E402
from agent.uplink.mqtt.link import MqttLink  # noqa: E402
from agent.uplink.mqtt.outbox import Outbox, OutboxBounds, StoredEvent  # noqa: E402
from agent.uplink.mqtt.session import SessionCounter  # noqa: E402
from agent.uplink.mqtt.settings import LinkSettings, Topics  # noqa: E402
from testkit.agent_runner import config_dict, populate, reporter_for  # noqa: E402
from testkit.mosquitto import Mosquitto  # noqa: E402


def measure(fn: object, n: int) -> tuple[float, float]:
    """(CPU ms per item, wall ms per item)."""
    assert callable(fn)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    fn(n)
    return (time.process_time() - cpu0) * 1000 / n, (time.perf_counter() - wall0) * 1000 / n


def raw_paho(broker: Mosquitto, payload: bytes, topic: str) -> Callable[[int], None]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port, 60)
    client.loop_start()

    def run(n: int) -> None:
        for _ in range(n):
            client.publish(topic, payload, qos=1).wait_for_publish(5)

    run.client = client  # type: ignore[attr-defined]
    return run


def connected_link(broker: Mosquitto, state_dir: Path, topics: Topics) -> MqttLink:
    settings = LinkSettings(broker.host, broker.port, False, "bench-agent", keepalive_s=60)
    link = MqttLink(settings, topics, SessionCounter(state_dir))
    deadline = time.monotonic() + 10
    while not link.connected:
        link.maintain()
        for event in link.drain(0.05):
            if isinstance(event, Connected):
                break
        if time.monotonic() > deadline:
            raise RuntimeError("benchmark link did not connect")
    return link


def wait_acked(link: MqttLink, mids: set[int]) -> list[Acked]:
    acked = []
    while mids:
        for event in link.drain(1.0):
            if isinstance(event, Acked) and event.mid in mids:
                mids.discard(event.mid)
                acked.append(event)
    return acked


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "broker")
        broker.start()
        try:
            config = AgentConfig.model_validate(config_dict(broker.url, work / "state", cameras=8))
            state = AgentState()
            populate(state, 8)
            reporter = reporter_for(config, state, None)
            link = connected_link(broker, work / "state", reporter.topics)
            sample = reporter.snapshot_heartbeat(1, 1, 1.0, 0).model_dump_json().encode()

            # --- heartbeat ------------------------------------------------------------
            baseline = raw_paho(broker, sample, reporter.topics.heartbeat)
            baseline(20)  # warm up

            def agent_heartbeats(count: int) -> None:
                for seq in range(1, count + 1):
                    beat = reporter.snapshot_heartbeat(link.session, seq, 1.0, 0)
                    mid = link.publish(reporter.topics.heartbeat, beat.model_dump_json().encode())
                    assert mid is not None
                    wait_acked(link, {mid})

            agent_heartbeats(20)
            base_hb = measure(baseline, n)
            agent_hb = measure(agent_heartbeats, n)

            # --- event ----------------------------------------------------------------
            outbox = Outbox(work / "bench-outbox.sqlite3", OutboxBounds())
            event_data: dict[str, object] = {
                "camera_id": "cam-03",
                "error": {"code": "timeout", "message": "x"},
            }
            event_sample = (
                build_event(_stored(outbox, event_data), 1, time.time(), 30)
                .model_dump_json()
                .encode()
            )
            base_event = raw_paho(broker, event_sample, reporter.topics.event)
            base_event(20)

            counter = [0]

            def agent_events(count: int) -> None:
                for _ in range(count):
                    counter[0] += 1
                    outbox.add("camera_offline", event_data, f"bench-{counter[0]}", time.time())
                    (stored,) = outbox.pending(limit=1)
                    message = build_event(stored, link.session, time.time(), 30)
                    mid = link.publish(reporter.topics.event, message.model_dump_json().encode())
                    assert mid is not None
                    wait_acked(link, {mid})
                    outbox.acknowledge(stored.row_id)

            agent_events(20)
            base_ev = measure(base_event, n)
            agent_ev = measure(agent_events, n)
            for run in (baseline, base_event):
                run.client.disconnect()  # type: ignore[attr-defined]
                run.client.loop_stop()  # type: ignore[attr-defined]
            link.close()
        finally:
            broker.stop()

    size = len(sample)
    print(f"MQTT benchmark: {n} messages each, QoS 1, local mosquitto 2.0.11, 8 cameras")
    print(f"{'':28}{'CPU ms/msg':>12}{'wall ms/msg':>13}{'CPU ratio':>11}")
    rows = [
        ("raw paho publish (heartbeat)", base_hb, None),
        ("agent heartbeat", agent_hb, agent_hb[0] / base_hb[0]),
        ("raw paho publish (event)", base_ev, None),
        ("agent event (durable)", agent_ev, agent_ev[0] / base_ev[0]),
    ]
    for name, (cpu, wall), ratio in rows:
        shown = f"{ratio:>10.1f}x" if ratio is not None else f"{'1.0x':>11}"
        print(f"{name:28}{cpu:>12.3f}{wall:>13.3f}{shown}")
    print()
    print("Results block for the README:")
    print("```")
    print(
        f"heartbeat ({size} B, 8 cameras): agent {agent_hb[0]:.2f} ms CPU "
        f"= {agent_hb[0] / base_hb[0]:.1f}x a raw paho QoS 1 publish ({base_hb[0]:.2f} ms)"
    )
    print(
        f"event (SQLite WAL, synchronous=FULL): agent {agent_ev[0]:.2f} ms CPU, "
        f"{agent_ev[1]:.2f} ms wall = {agent_ev[0] / base_ev[0]:.1f}x raw paho "
        f"({base_ev[0]:.2f} ms)"
    )
    print(f"at one heartbeat per 30 s: {agent_hb[0] / 30 / 10:.4f} % of one core")
    print("```")
    return 0


def _stored(outbox: Outbox, data: dict[str, object]) -> StoredEvent:
    outbox.add("camera_offline", data, "bench-sample", time.time())
    (stored,) = outbox.pending(limit=1)
    outbox.acknowledge(stored.row_id)
    return stored


if __name__ == "__main__":
    raise SystemExit(main())
