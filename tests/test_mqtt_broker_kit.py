"""The mosquitto test kit itself: plain, restartable, password + ACL and TLS brokers."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from testkit.mosquitto import BrokerOptions, CertAuthority, Mosquitto, Subscriber, TlsSetup


def _publish(broker: Mosquitto, topic: str, payload: bytes, **kwargs: object) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    username = kwargs.get("username")
    if username:
        client.username_pw_set(str(username), str(kwargs.get("password")))
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_session_broker_delivers(
    mosquitto: Mosquitto, subscriber_factory: Callable[..., Subscriber]
) -> None:
    sub = subscriber_factory(mosquitto, ("kit/#",))
    _publish(mosquitto, "kit/hello", b"hi")
    sub.wait_for(lambda msgs: any(m.payload == b"hi" for m in msgs), 5)


def test_broker_restarts_on_same_port(broker_factory: Callable[..., Mosquitto]) -> None:
    broker = broker_factory()
    port = broker.port
    broker.stop()
    assert not broker.running
    broker.start()
    assert broker.port == port and broker.running


def test_persistent_subscriber_keeps_its_session_across_a_broker_restart(
    broker_factory: Callable[..., Mosquitto], subscriber_factory: Callable[..., Subscriber]
) -> None:
    """What ops' durable consumer relies on: messages published after the broker came back
    but before the subscriber reconnected are queued for it, not lost."""
    broker = broker_factory(BrokerOptions(persistence=True))
    sub = subscriber_factory(broker, ("kit/#",), persistent=True)
    sub.hold_reconnect()  # it comes back only after the publisher is done
    broker.stop()
    broker.start()
    for n in range(3):
        _publish(broker, "kit/queued", f"m{n}".encode())
    sub.release_reconnect()
    sub.wait_for(lambda msgs: len(msgs) >= 3, 10)
    assert [m.payload for m in sub.messages] == [b"m0", b"m1", b"m2"]
    assert sub.connects == 2 and sub.sessions_lost == 0


def test_acl_broker_refuses_foreign_topic(
    broker_factory: Callable[..., Mosquitto], subscriber_factory: Callable[..., Subscriber]
) -> None:
    broker = broker_factory(
        BrokerOptions(
            users={"ops": "ops-pw", "a": "a-pw"},
            acl="user ops\ntopic read #\n\npattern write t/%u/#\n",
        )
    )
    sub = subscriber_factory(broker, ("t/#",), username="ops", password="ops-pw")
    _publish(broker, "t/b/x", b"forged", username="a", password="a-pw")
    _publish(broker, "t/a/x", b"own", username="a", password="a-pw")
    sub.wait_for(lambda msgs: any(m.payload == b"own" for m in msgs), 5)
    assert [m.payload for m in sub.messages] == [b"own"]


def test_tls_broker_accepts_right_ca_and_refuses_wrong_one(
    broker_factory: Callable[..., Mosquitto],
    test_ca: CertAuthority,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    cert, key = test_ca.issue("localhost", server=True)
    broker = broker_factory(BrokerOptions(tls=TlsSetup(test_ca, cert, key)))
    with Subscriber(broker, ("x",), tls_ca=test_ca.cert):
        pass
    wrong = CertAuthority.create(tmp_path_factory.mktemp("wrong"), "wrong-ca")
    context = ssl.create_default_context(cafile=str(wrong.cert))
    with (
        socket.create_connection((broker.host, broker.port), 5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname=broker.host)
