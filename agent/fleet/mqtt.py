"""The fleet's MQTT client: paho-mqtt 2, MQTT 5, TLS and the ops user from the config.

One factory for every fleet command (the consumer, the one-shot retained read of a report
with ``--broker``, and ``fleet command``), so they connect the same way. The broker is told
the largest packet we accept (MQTT 5 Maximum Packet Size): bigger ones never reach us.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.fleet.config import MQTT_PASSWORD, FleetConfig, read_secret
from agent.fleet.contract import UnavailableError, scrub

MessageHandler = Callable[[mqtt.MQTTMessage], None]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool


def endpoint(url: str) -> Endpoint:
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return Endpoint(parts.hostname or "localhost", parts.port or (8883 if tls else 1883), tls)


def make_client(
    config: FleetConfig,
    client_id: str | None = None,
    *,
    max_packet_bytes: int,
    persistent: bool = False,
) -> mqtt.Client:
    """A configured, not yet connected client (MQTT 5)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"kitchen-fleet-cli-{uuid.uuid4().hex[:10]}",
        protocol=mqtt.MQTTv5,
    )
    client.reconnect_delay_set(1, 30)
    broker = config.broker
    if broker.username is not None:
        client.username_pw_set(broker.username, read_secret(config, MQTT_PASSWORD))
    if endpoint(broker.url).tls:
        context = ssl.create_default_context(
            cafile=str(broker.tls.ca_file) if broker.tls.ca_file else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if broker.tls.cert_file is not None:
            context.load_cert_chain(
                str(broker.tls.cert_file),
                str(broker.tls.key_file) if broker.tls.key_file else None,
            )
        client.tls_set_context(context)
    client.user_data_set({"max_packet_bytes": max_packet_bytes, "persistent": persistent})
    return client


def connect_properties(max_packet_bytes: int, session_expiry_s: int) -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.MaximumPacketSize = max_packet_bytes
    if session_expiry_s:
        properties.SessionExpiryInterval = session_expiry_s
    return properties


class OneShot:
    """Connect, subscribe, collect for a while, disconnect: for commands and reports that
    run without the consumer. ``collect`` returns when the retained messages have arrived
    (the broker sends them right after SUBACK; ``quiet_s`` without one ends the wait) and,
    if asked, after listening ``listen_s`` more."""

    def __init__(self, config: FleetConfig, max_packet_bytes: int) -> None:
        self.config = config
        self.client = make_client(config, max_packet_bytes=max_packet_bytes)
        self.max_packet_bytes = max_packet_bytes
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._failure: str | None = None
        self._lock = threading.Condition()
        self._last_message = 0.0
        self._handler: MessageHandler | None = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            self._failure = str(rc)
        self._connected.set()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any
    ) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._last_message = time.monotonic()
            if self._handler is not None:
                self._handler(message)
            self._lock.notify_all()

    def connect(self) -> OneShot:
        where = endpoint(self.config.broker.url)
        timeout = self.config.broker.connect_timeout_s
        try:
            self.client.connect(
                where.host,
                where.port,
                keepalive=self.config.broker.keepalive_s,
                properties=connect_properties(self.max_packet_bytes, 0),
            )
        except (OSError, ssl.SSLError) as error:
            raise UnavailableError(
                f"cannot reach the broker {scrub(self.config.broker.url)}: {error}"
            ) from None
        self.client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise UnavailableError(
                f"the broker {scrub(self.config.broker.url)} did not answer in {timeout:g} s"
            )
        if self._failure is not None:
            self.close()
            raise UnavailableError(
                f"the broker {scrub(self.config.broker.url)} refused us: {self._failure}"
            )
        return self

    def subscribe(self, topics: list[str], handler: MessageHandler) -> None:
        self._handler = handler
        self._subscribed.clear()
        self.client.subscribe([(topic, 1) for topic in topics])
        if not self._subscribed.wait(self.config.broker.connect_timeout_s):
            raise UnavailableError("the broker did not confirm our subscription")
        with self._lock:
            self._last_message = time.monotonic()

    def settle(self, quiet_s: float = 0.5, max_s: float = 30.0) -> None:
        """Wait until ``quiet_s`` passed without a message (retained delivery is over)."""
        deadline = time.monotonic() + max_s
        with self._lock:
            while True:
                now = time.monotonic()
                if now - self._last_message >= quiet_s or now >= deadline:
                    return
                self._lock.wait(min(quiet_s, deadline - now))

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.5))
            return True

    def publish(self, topic: str, payload: bytes, timeout_s: float = 10.0) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=False)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise UnavailableError(f"the broker did not acknowledge our message on {topic}")

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
