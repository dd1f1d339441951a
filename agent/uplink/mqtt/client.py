"""The paho side of the MQTT link: a bounded client, its callbacks' notes, link events.

paho callbacks run on a connection's network thread and only put :class:`Note` values on a
queue; the owner thread turns them into :data:`LinkEvent` values (:mod:`.link`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from agent.uplink.mqtt.settings import TrackingContext

Protocol = Literal["5", "3.1.1"]
PAHO_PROTOCOL = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}
# CONNACK codes meaning "I do not speak this protocol": 3.1.1's 1, MQTT 5's 0x84.
UNSUPPORTED_PROTOCOL = {1, 0x84}
# The broker must not send the box a packet larger than this (the MQTT 5 CONNECT property
# Maximum Packet Size; a 3.1.1 connection that receives one anyway is dropped before the
# packet is read). Commands are at most 64 KiB: the margin lets an oversized one arrive and
# be answered "rejected" rather than vanish.
MAX_INCOMING_PACKET = 256 * 1024
# Incoming messages waiting for the owner thread, in bytes (each counts at least
# NOTE_OVERHEAD, so a flood of empty messages is bounded too); beyond it they are dropped.
INCOMING_BYTES_LIMIT = 1024 * 1024
NOTE_OVERHEAD = 256
_READ_CHUNK = 64 * 1024


class BoundedClient(mqtt.Client):
    """A paho client that never reads an incoming packet larger than
    :data:`MAX_INCOMING_PACKET`: paho 2 has no such limit, and reads a packet's whole
    announced length (up to 256 MB) in one ``recv``."""

    def _sock_recv(self, bufsize: int) -> bytes:
        packet = self._in_packet
        if packet["have_remaining"] and packet["remaining_length"] > MAX_INCOMING_PACKET:
            # paho treats this like a broken socket: the connection is dropped and redone.
            raise OSError(f"incoming MQTT packet of {packet['remaining_length']} bytes refused")
        return super()._sock_recv(min(bufsize, _READ_CHUNK))


@dataclass(frozen=True)
class Note:
    """What a paho callback tells the owner thread."""

    kind: Literal["connected", "refused", "disconnected", "acked", "message"]
    generation: int
    mid: int = 0
    at: float = 0.0
    ok: bool = True
    reason: str = ""
    topic: str = ""
    payload: bytes = b""
    cost: int = 0  # bytes counted against INCOMING_BYTES_LIMIT until drained


@dataclass
class Connection:
    client: mqtt.Client
    generation: int
    session: int
    protocol: Protocol
    started: float
    thread: threading.Thread | None = None
    stop: threading.Event | None = None
    connected: bool = False
    context: TrackingContext | None = None


@dataclass(frozen=True)
class Connected:
    session: int
    protocol: Protocol


@dataclass(frozen=True)
class Acked:
    mid: int
    ok: bool
    rtt_s: float | None
    reason: str


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Disconnected:
    reason: str


LinkEvent = Connected | Acked | Incoming | Disconnected


def network_loop(client: mqtt.Client, stop: threading.Event) -> None:
    while not stop.is_set():
        rc = client.loop(timeout=0.2)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            break


def release(client: mqtt.Client) -> None:
    """Close the client's sockets now rather than whenever the GC gets to them."""
    with contextlib.suppress(OSError):
        # paho has no public way to free its wake-up socketpair before garbage collection.
        client._reset_sockets()


def describe(reason: ReasonCode | MQTTErrorCode | int) -> str:
    if isinstance(reason, ReasonCode):
        return f"{reason.getName()} ({reason.value})"
    return str(reason)


def reason_value(described: str) -> int | None:
    """The numeric code from :func:`describe`'s ``name (value)`` text."""
    if described.endswith(")") and "(" in described:
        with contextlib.suppress(ValueError):
            return int(described.rsplit("(", 1)[1][:-1])
    return None


def broker_reachable(host: str, port: int, timeout_s: float = 3.0) -> bool:
    """A cheap TCP check for diagnostics (`diagnose`); never used to gate startup."""
    try:
        with socket.create_connection((host, port), timeout_s):
            return True
    except OSError:
        return False
