"""The MQTT link against a real mosquitto: presence, sessions, reconnects, TLS, backoff."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from agent.uplink.mqtt.client import (
    INCOMING_BYTES_LIMIT,
    MAX_INCOMING_PACKET,
    NOTE_OVERHEAD,
    Acked,
    Connected,
    Disconnected,
    Incoming,
    LinkEvent,
)
from agent.uplink.mqtt.link import MqttLink
from agent.uplink.mqtt.session import SessionCounter
from agent.uplink.mqtt.settings import LinkSettings, Topics
from testkit.mosquitto import (
    BrokerOptions,
    CertAuthority,
    Mosquitto,
    Subscriber,
    TlsSetup,
    free_port,
    publish_once,
)

TOPICS = Topics("kitchen/v1", "xuhui", "store-1")


class Driver:
    """Runs a link's owner loop in a thread, the way the reporter does, and records events."""

    def __init__(self, link: MqttLink) -> None:
        self.link = link
        self.events: list[LinkEvent] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._calls: list[Callable[[], None]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.link.maintain()
            with self._lock:
                calls, self._calls = self._calls, []
            for call in calls:
                call()
            for event in self.link.drain(0.05):
                with self._lock:
                    self.events.append(event)

    def call(self, fn: Callable[[], object]) -> None:
        with self._lock:
            self._calls.append(lambda: (fn(), None)[1])

    def wait_event(self, kind: type, count: int = 1, timeout_s: float = 10) -> list[LinkEvent]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                found = [e for e in self.events if isinstance(e, kind)]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise TimeoutError(f"no {count} x {kind.__name__}; have {self.events}")

    def start(self) -> Driver:
        self.thread.start()
        return self

    def stop(self, close: bool = True) -> None:
        self._stop.set()
        self.thread.join(5)
        if close:
            self.link.close()


def settings_for(broker: Mosquitto, **overrides: object) -> LinkSettings:
    base: dict[str, object] = {
        "host": broker.host,
        "port": broker.port,
        "use_tls": False,
        "client_id": f"agent-{broker.port}",
        "keepalive_s": 5,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
        "connect_timeout_s": 3.0,
    }
    base.update(overrides)
    return LinkSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
def drivers() -> Iterator[list[Driver]]:
    made: list[Driver] = []
    yield made
    for driver in made:
        driver.stop()


def make_driver(drivers: list[Driver], settings: LinkSettings, state_dir: Path) -> Driver:
    link = MqttLink(settings, TOPICS, SessionCounter(state_dir), subscriptions=(TOPICS.cmd,))
    driver = Driver(link).start()
    drivers.append(driver)
    return driver


def test_backoff_grows_with_jitter_and_caps() -> None:
    """Reconnects wait the agent's one backoff (agent.backoff): +-20 % around min*2^(n-1)."""
    backoff = LinkSettings("h", 1883, False, "c", reconnect_min_s=1, reconnect_max_s=60).backoff
    assert backoff.delay(1, rng=lambda: 0.5) == 1
    assert backoff.delay(3, rng=lambda: 0.5) == 4
    assert backoff.delay(30, rng=lambda: 0.5) == 60
    assert backoff.delay(1, rng=lambda: 1.0) == pytest.approx(1.2)
    assert backoff.delay(30, rng=lambda: 0.0) == pytest.approx(48)
    assert len({backoff.delay(5) for _ in range(20)}) > 1


def test_the_link_schedules_its_reconnect_with_that_backoff(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: every attempt fails at once
    settings = LinkSettings("127.0.0.1", port, False, "c", reconnect_min_s=2, reconnect_max_s=60)
    now = [100.0]
    link = MqttLink(
        settings,
        TOPICS,
        SessionCounter(tmp_path),
        clock=lambda: now[0],
        rng=lambda: 1.0,
    )
    waits = []
    for _ in range(3):
        now[0] = link._next_attempt
        link.maintain()
        waits.append(round(link._next_attempt - now[0], 3))
    assert waits == [2.4, 4.8, 9.6]


def test_online_on_connect_offline_on_clean_stop(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    drivers: list[Driver],
    tmp_path: Path,
) -> None:
    broker = broker_factory()
    sub = subscriber_factory(broker, ("kitchen/#",))
    driver = make_driver(drivers, settings_for(broker), tmp_path)
    (connected,) = driver.wait_event(Connected)
    assert isinstance(connected, Connected) and connected.protocol == "5"
    online = sub.wait_json("state", lambda b: b["online"], 10)
    assert online["session"] == 1 and online["reason"] == "connected"
    assert SessionCounter(tmp_path).last == 1
    driver.stop()
    offline = sub.wait_json("state", lambda b: not b["online"], 10)
    assert offline == {**offline, "session": 1, "reason": "stopped"}
    # Retained: a consumer that connects later still learns the box stopped.
    late = subscriber_factory(broker, (TOPICS.state,))
    retained = late.wait_for(lambda msgs: msgs, 5)[0]
    assert retained.retain and retained.json()["reason"] == "stopped"


def test_stop_right_after_connack_says_stopped_not_connection_lost(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    """The daemon may stop before its owner loop looked at a fresh CONNACK: the connection is
    up all the same, so ops must hear "stopped", not the Last Will."""
    broker = broker_factory()
    sub = subscriber_factory(broker, (TOPICS.state,))
    link = MqttLink(settings_for(broker), TOPICS, SessionCounter(tmp_path))
    try:
        link.maintain()  # CONNECT; nobody drains the link's notes
        sub.wait_json("state", lambda b: b["online"], 10)  # CONNACK handled by paho
    finally:
        link.close()
    offline = sub.wait_json("state", lambda b: not b["online"], 10)
    assert offline["reason"] == "stopped" and offline["session"] == 1


def test_broker_restart_reconnects_with_next_session(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    drivers: list[Driver],
    tmp_path: Path,
) -> None:
    broker = broker_factory()
    driver = make_driver(drivers, settings_for(broker), tmp_path)
    driver.wait_event(Connected)
    broker.stop()
    driver.wait_event(Disconnected)
    broker.start()
    second = driver.wait_event(Connected, count=2)[1]
    assert isinstance(second, Connected) and second.session == 2
    sub = subscriber_factory(broker, (TOPICS.state,))
    state = sub.wait_json("state", lambda b: True, 5)
    assert state["online"] and state["session"] == 2
    mids: list[int | None] = []
    driver.call(lambda: mids.append(driver.link.publish(TOPICS.event, b"{}", 1)))
    deadline = time.monotonic() + 5
    while not mids:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    mine = [e for e in driver.wait_event(Acked) if isinstance(e, Acked) and e.mid == mids[0]]
    while not mine:
        assert time.monotonic() < deadline
        time.sleep(0.01)
        mine = [e for e in driver.events if isinstance(e, Acked) and e.mid == mids[0]]
    assert mine[0].ok and mine[0].rtt_s is not None and mine[0].rtt_s < 2


def test_unreachable_broker_uses_no_session_numbers(
    drivers: list[Driver], tmp_path: Path, broker_factory: Callable[..., Mosquitto]
) -> None:
    broker = broker_factory(start=False)
    driver = make_driver(drivers, settings_for(broker, reconnect_min_s=0.05), tmp_path)
    deadline = time.monotonic() + 5
    while driver.link._failures < 3:  # several refused attempts
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert driver.link.last_error and "Connection refused" in driver.link.last_error
    assert not driver.link.connected and SessionCounter(tmp_path).last == 0
    broker.start()
    driver.wait_event(Connected)
    assert SessionCounter(tmp_path).last == 1


def test_memory_queue_is_bounded_and_flushed_on_connect(
    broker_factory: Callable[..., Mosquitto],
    subscriber_factory: Callable[..., Subscriber],
    drivers: list[Driver],
    tmp_path: Path,
) -> None:
    broker = broker_factory(start=False)
    link = MqttLink(settings_for(broker, queue_max_messages=3), TOPICS, SessionCounter(tmp_path))
    for n in range(5):
        link.publish_or_queue(TOPICS.cmd_result, str(n).encode())
    assert link.queued == 3 and link.queue_dropped == 2
    broker.start()
    # Raw payloads, not results: this is about the queue, not the contract.
    sub = subscriber_factory(broker, (TOPICS.cmd_result,), check_contract=False)
    driver = Driver(link).start()
    drivers.append(driver)
    sub.wait_for(lambda msgs: len(msgs) == 3, 10)
    assert [m.payload for m in sub.messages] == [b"2", b"3", b"4"]


def test_tls_with_test_ca_and_refusal_of_wrong_ca(
    broker_factory: Callable[..., Mosquitto],
    test_ca: CertAuthority,
    drivers: list[Driver],
    tmp_path: Path,
) -> None:
    cert, key = test_ca.issue("localhost", server=True)
    broker = broker_factory(BrokerOptions(tls=TlsSetup(test_ca, cert, key)))
    good = make_driver(
        drivers, settings_for(broker, use_tls=True, ca_file=test_ca.cert), tmp_path / "good"
    )
    good.wait_event(Connected)
    wrong = CertAuthority.create(tmp_path / "wrong", "wrong-ca")
    bad = make_driver(
        drivers,
        settings_for(broker, use_tls=True, ca_file=wrong.cert, client_id="other"),
        tmp_path / "bad",
    )
    deadline = time.monotonic() + 10
    while not (bad.link.last_error and "CERTIFICATE_VERIFY_FAILED" in bad.link.last_error):
        assert time.monotonic() < deadline, bad.link.last_error
        time.sleep(0.05)
    # The CONNECT never left (handshake refused): no session number was used.
    assert not bad.link.connected and SessionCounter(tmp_path / "bad").last == 0


def test_tls_client_certificate_required(
    broker_factory: Callable[..., Mosquitto],
    test_ca: CertAuthority,
    drivers: list[Driver],
    tmp_path: Path,
) -> None:
    cert, key = test_ca.issue("localhost", server=True)
    broker = broker_factory(
        BrokerOptions(tls=TlsSetup(test_ca, cert, key, require_certificate=True))
    )
    client_cert, client_key = test_ca.issue("store-1", server=False)
    driver = make_driver(
        drivers,
        settings_for(
            broker, use_tls=True, ca_file=test_ca.cert, cert_file=client_cert, key_file=client_key
        ),
        tmp_path,
    )
    driver.wait_event(Connected)


def test_falls_back_to_mqtt_311_when_broker_refuses_5(
    drivers: list[Driver], tmp_path: Path
) -> None:
    """A 3.1.1-only broker answers an MQTT 5 CONNECT with CONNACK 'unacceptable protocol'."""
    port = free_port()
    levels: list[int] = []
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(10)

    def serve() -> None:
        with server:
            for _ in range(2):
                conn, _addr = server.accept()
                with conn:
                    data = conn.recv(1024)
                    level = data[data.index(b"MQTT") + 4]
                    levels.append(level)
                    conn.sendall(bytes([0x20, 0x02, 0x00, 0x01 if level == 5 else 0x00]))
                    if level == 4:
                        conn.recv(1024)  # wait for the client to go away

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    link = MqttLink(
        LinkSettings("127.0.0.1", port, False, "fallback", keepalive_s=5, reconnect_min_s=0.1),
        TOPICS,
        SessionCounter(tmp_path),
    )
    driver = Driver(link).start()
    drivers.append(driver)
    (connected,) = driver.wait_event(Connected)
    assert isinstance(connected, Connected) and connected.protocol == "3.1.1"
    assert levels == [5, 4]


# --- what the broker may send the box -----------------------------------------------------------


def _publish_cmd(broker: Mosquitto, payload: bytes) -> None:
    publish_once(broker, TOPICS.cmd, payload)


def _incoming(driver: Driver) -> list[bytes]:
    with driver._lock:
        return [e.payload for e in driver.events if isinstance(e, Incoming)]


def _received(driver: Driver, payload: bytes, timeout_s: float) -> bool:
    """Whether the link has had ``payload`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while payload not in _incoming(driver):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _publish_until_received(broker: Mosquitto, driver: Driver, payload: bytes) -> None:
    """Publish a command until the link has it. The link subscribes as it connects, but
    the broker may take the test's publish (another connection) before that SUBSCRIBE,
    and a command nobody is subscribed to yet is dropped."""
    for _ in range(10):
        _publish_cmd(broker, payload)
        if _received(driver, payload, timeout_s=1):
            return
    raise TimeoutError(f"{payload!r} never reached the link")


def test_the_broker_is_told_not_to_send_a_packet_over_256_kib(
    broker_factory: Callable[..., Mosquitto], drivers: list[Driver], tmp_path: Path
) -> None:
    broker = broker_factory()
    driver = make_driver(drivers, settings_for(broker), tmp_path)
    driver.wait_event(Connected)
    _publish_until_received(broker, driver, b"ready")  # subscribed
    _publish_cmd(broker, b"x" * (MAX_INCOMING_PACKET + 1000))  # mosquitto drops it for us
    _publish_cmd(broker, b"small")
    assert _received(driver, b"small", timeout_s=10)
    assert set(_incoming(driver)) == {b"ready", b"small"}
    with driver._lock:  # the connection itself was never at risk
        assert not [e for e in driver.events if isinstance(e, Disconnected)]


def test_an_oversized_packet_over_3_1_1_is_refused_before_it_is_read(
    broker_factory: Callable[..., Mosquitto], drivers: list[Driver], tmp_path: Path
) -> None:
    """MQTT 3.1.1 has no maximum packet size: the link drops the connection when a packet
    announces more than it accepts, instead of reading megabytes into memory."""
    broker = broker_factory()
    driver = make_driver(drivers, settings_for(broker, protocol="3.1.1"), tmp_path)
    driver.wait_event(Connected)
    _publish_until_received(broker, driver, b"ready")  # subscribed
    _publish_cmd(broker, b"y" * (4 * 1024 * 1024))
    driver.wait_event(Disconnected)
    driver.wait_event(Connected, count=2)  # and it comes back
    _publish_until_received(broker, driver, b"small")
    assert set(_incoming(driver)) == {b"ready", b"small"}


def test_incoming_messages_wait_bounded_in_bytes_not_in_count(tmp_path: Path) -> None:
    """Before: up to 1000 messages of any size waited for the owner (256 MB of commands)."""
    settings = LinkSettings("127.0.0.1", free_port(), False, "c")
    link = MqttLink(settings, TOPICS, SessionCounter(tmp_path), subscriptions=(TOPICS.cmd,))
    on_message = link._make_on_message(link._generation)

    def deliver(size: int) -> None:
        message = mqtt.MQTTMessage(topic=TOPICS.cmd.encode())
        message.payload = b"z" * size
        on_message(None, None, message)

    for _ in range(40):
        deliver(200 * 1024)
    held = link._notes.qsize()
    assert held * 200 * 1024 <= INCOMING_BYTES_LIMIT and held >= 4
    assert link.incoming_dropped == 40 - held
    for _ in range(100_000):
        deliver(0)  # empty messages cost their bookkeeping: a flood of them is bounded too
    assert link._notes.qsize() < INCOMING_BYTES_LIMIT // NOTE_OVERHEAD
    link.drain(0.0)  # the owner takes them: room again
    deliver(200 * 1024)
    assert link._notes.qsize() == 1
