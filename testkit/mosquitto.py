"""A real mosquitto 2.0 broker for tests, plus TLS material and a collecting subscriber.

Each :class:`Mosquitto` runs ``mosquitto -c FILE`` in the foreground on a free loopback port
(persistence off unless asked for) and can be stopped and started again on the same port, which
is how the outage tests cut the agent off from its broker. Variants: password file + pattern
ACL, and TLS with a throw-away CA made by ``openssl`` (optionally requiring client certificates).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from testkit import ports
from testkit.contract import check_topic

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on right now, outside the ephemeral range (testkit.ports)."""
    return ports.free_port(socket.SOCK_STREAM, LOOPBACK)


def wait_until(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; raise TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


# --- TLS material --------------------------------------------------------------------------


def publish_once(
    broker: Mosquitto,
    topic: str,
    payload: bytes,
    username: str | None = None,
    password: str | None = None,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
) -> None:
    """Connect, publish one QoS 1 message, wait for its PUBACK, disconnect (as ops, or as a
    forger with a box's credentials)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
    if username is not None:
        client.username_pw_set(username, password)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class CertAuthority:
    """A throw-away CA able to sign server and client certificates."""

    directory: Path
    name: str
    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path, name: str = "test-ca") -> CertAuthority:
        directory.mkdir(parents=True, exist_ok=True)
        key, cert = directory / f"{name}.key", directory / f"{name}.crt"
        _openssl(
            "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory
        )
        _openssl(
            "req",
            "-x509",
            "-new",
            "-key",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )
        return cls(directory, name, cert, key)

    def issue(self, common_name: str, *, server: bool) -> tuple[Path, Path]:
        """Sign a leaf certificate; returns (cert, key)."""
        stem = f"{self.name}-{common_name}"
        key, csr, cert = (self.directory / f"{stem}.{ext}" for ext in ("key", "csr", "crt"))
        ext_file = self.directory / f"{stem}.ext"
        usage = "serverAuth" if server else "clientAuth"
        lines = [
            "basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature,keyAgreement",
            f"extendedKeyUsage={usage}",
            "authorityKeyIdentifier=keyid,issuer",
            "subjectKeyIdentifier=hash",
        ]
        if server:
            lines.append("subjectAltName=IP:127.0.0.1,DNS:localhost")
        ext_file.write_text("\n".join(lines) + "\n")
        _openssl(
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            str(key),
            cwd=self.directory,
        )
        _openssl(
            "req",
            "-new",
            "-key",
            str(key),
            "-out",
            str(csr),
            "-subj",
            f"/CN={common_name}",
            cwd=self.directory,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(self.cert),
            "-CAkey",
            str(self.key),
            "-CAcreateserial",
            "-out",
            str(cert),
            "-days",
            "2",
            "-extfile",
            str(ext_file),
            cwd=self.directory,
        )
        return cert, key


@dataclass(frozen=True)
class TlsSetup:
    ca: CertAuthority
    server_cert: Path
    server_key: Path
    require_certificate: bool = False


# --- the broker ------------------------------------------------------------------------------


@dataclass
class BrokerOptions:
    """How a test broker is configured."""

    users: dict[str, str] | None = None  # username -> password; None: anonymous allowed
    acl: str | None = None  # acl_file contents (needs users, or use_identity_as_username)
    tls: TlsSetup | None = None
    persistence: bool = False  # keep sessions across restarts (saved on clean stop)
    extra: list[str] = field(default_factory=list)


class Mosquitto:
    """One mosquitto process bound to 127.0.0.1 on a fixed port across restarts."""

    def __init__(self, workdir: Path, options: BrokerOptions | None = None) -> None:
        self.workdir = workdir
        self.options = options or BrokerOptions()
        self.host = LOOPBACK
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self._write_config()

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.options.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    def _write_config(self) -> Path:
        opts = self.options
        lines = [
            # As root mosquitto would switch to the `mosquitto` user, who cannot read our tmp dir.
            "user root" if os.geteuid() == 0 else "",
            f"listener {self.port} {LOOPBACK}",
            "persistence true" if self.options.persistence else "persistence false",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if opts.users is None and not (opts.tls and opts.tls.require_certificate):
            lines.append("allow_anonymous true")
        else:
            lines.append("allow_anonymous false")
        if opts.users is not None:
            password_file = self.workdir / "passwords"
            password_file.write_text("")
            for user, password in opts.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(password_file), user, password],
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
            lines.append(f"password_file {password_file}")
        if opts.acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(opts.acl)
            lines.append(f"acl_file {acl_file}")
        if opts.tls is not None:
            lines += [
                f"cafile {opts.tls.ca.cert}",
                f"certfile {opts.tls.server_cert}",
                f"keyfile {opts.tls.server_key}",
            ]
            if opts.tls.require_certificate:
                lines += ["require_certificate true", "use_identity_as_username true"]
        lines += opts.extra
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(line for line in lines if line) + "\n")
        return path

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                ["mosquitto", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited {self.process.returncode}: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); the port stays ours for a restart.

        With persistence on, mosquitto writes its database on the way out of a SIGTERM: this
        returns only once the process is gone, so a restart reads what it saved. A SIGKILL
        would lose that, hence the generous wait before it on a loaded machine.
        """
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def client_kwargs(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port}


# --- a collecting subscriber -----------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    at: float
    # The broker's own redelivery of a QoS 1 message whose PUBACK it never got (e.g. across
    # its restart): a protocol repeat, not a second publish by the sender.
    dup: bool = False

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client that records every message on its subscriptions.

    ``wait_for(predicate, timeout_s)`` blocks until ``predicate(messages)`` is truthy (and
    returns its value) or raises TimeoutError listing what did arrive.

    ``persistent=True`` is ops' durable consumer: an MQTT 5 session (expiry 1 h) that a
    broker with persistence keeps across its own restart, queueing QoS 1 messages for it
    while it reconnects. Its first CONNECT already has Clean Start = 0 (a fresh client id, so
    there is nothing stale to resume): mosquitto 2.0 saves only sessions whose connection
    said Clean Start = 0, whatever their expiry, and paho's default (clean only on the first
    connect) would silently make the session vanish at the broker's restart, and with it
    whatever was published before this client had subscribed again. ``sessions_lost``
    counts reconnects that found no session.
    """

    def __init__(
        self,
        broker: Mosquitto,
        topics: Iterable[str] = ("#",),
        *,
        username: str | None = None,
        password: str | None = None,
        tls_ca: Path | None = None,
        client_cert: tuple[Path, Path] | None = None,
        persistent: bool = False,
        check_contract: bool = True,
    ) -> None:
        self.broker = broker
        self.check_contract = check_contract
        self.topics = list(topics)
        self.messages: list[Received] = []
        self.contract_violations: list[str] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.persistent = persistent  # survive broker restarts: session kept, QoS 1 queued
        self.connects = 0
        self.sessions_lost = 0
        self._may_connect = threading.Event()
        self._may_connect.set()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        # paho sleeps these as floats; its stub says int.
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls_ca is not None:
            certfile, keyfile = client_cert if client_cert else (None, None)
            self.client.tls_set(
                ca_certs=str(tls_ca),
                certfile=str(certfile) if certfile else None,
                keyfile=str(keyfile) if keyfile else None,
            )
        self.client.on_pre_connect = self._hold_until_allowed
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            return
        self.connects += 1
        if self.persistent and self.connects > 1:
            if flags.session_present:
                return  # subscriptions and the messages queued meanwhile are still ours
            self.sessions_lost += 1
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any
    ) -> None:
        self._subscribed.set()

    def _hold_until_allowed(self, client: mqtt.Client, userdata: Any) -> None:
        # Holds paho's reconnect loop while a test keeps this subscriber offline.
        self._may_connect.wait(60)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # What a box publishes must keep the published contract (docs/schemas).
        broken = check_topic(msg.topic, bytes(msg.payload)) if self.check_contract else []
        with self._cond:
            self.contract_violations += broken
            self.messages.append(
                Received(
                    msg.topic,
                    bytes(msg.payload),
                    bool(msg.retain),
                    msg.qos,
                    time.monotonic(),
                    bool(msg.dup),
                )
            )
            self._cond.notify_all()

    def start(self, timeout_s: float = 10.0) -> Subscriber:
        properties = None
        clean_start: bool | Literal[3] = mqtt.MQTT_CLEAN_START_FIRST_ONLY
        if self.persistent:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
            clean_start = False
        self.client.connect(
            self.broker.host,
            self.broker.port,
            keepalive=30,
            clean_start=clean_start,
            properties=properties,
        )
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"subscriber could not subscribe: {self.broker.log_tail()}")
        return self

    def hold_reconnect(self) -> None:
        """Keep this client from (re)connecting until :meth:`release_reconnect`: a consumer
        that comes back late (its network thread waits before each attempt)."""
        self._may_connect.clear()

    def release_reconnect(self) -> None:
        self._may_connect.set()

    def stop(self) -> None:
        self._may_connect.set()
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()
        assert not self.contract_violations, self.contract_violations[:5]

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on(self, suffix: str) -> list[Received]:
        """Messages whose topic ends with ``/suffix`` (or equals it)."""
        with self._cond:
            return [m for m in self.messages if m.topic == suffix or m.topic.endswith("/" + suffix)]

    def wait_for(self, predicate: Callable[[list[Received]], Any], timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                value = predicate(list(self.messages))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(m.topic, m.payload[:200]) for m in self.messages[-20:]]
                    lost = f"; sessions lost: {self.sessions_lost}" if self.persistent else ""
                    raise TimeoutError(
                        f"condition not met within {timeout_s} s{lost}; last: {seen}"
                    )
                self._cond.wait(min(remaining, 0.5))

    def wait_json(self, suffix: str, predicate: Callable[[Any], bool], timeout_s: float) -> Any:
        """Wait for a JSON message on ``.../suffix`` that satisfies ``predicate``; return it."""

        def match(messages: list[Received]) -> Any:
            for message in messages:
                if message.topic == suffix or message.topic.endswith("/" + suffix):
                    body = message.json()
                    if predicate(body):
                        return body
            return None

        return self.wait_for(match, timeout_s)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()
