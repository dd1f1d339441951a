"""The Hello/Bye listener: cameras that boot (or leave) between discovery rounds."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence

import structlog

from agent.capture.discovery.messages import (
    DISCOVERY_PORT,
    MAX_DATAGRAM,
    MULTICAST_GROUP,
    DiscoveryMessage,
    parse_discovery_message,
)
from agent.netif import Interface, system_interfaces, usable_interfaces

log = structlog.get_logger(__name__)


def _membership(group: str, interface_address: str) -> bytes:
    return struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface_address))


class AnnouncementListener:
    """Listens on 239.255.255.250:3702 for Hello/Bye so cameras that boot later are seen.

    Several listeners (and a fake camera in a test) can share the port: SO_REUSEADDR makes
    Linux hand every multicast datagram to each of them.
    """

    def __init__(
        self,
        on_message: Callable[[DiscoveryMessage], None],
        interfaces: Sequence[Interface] | None = None,
    ) -> None:
        self._on_message = on_message
        self._interfaces = interfaces
        self._sock: socket.socket | None = None
        self._joined: set[str] = set()

    def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((MULTICAST_GROUP, DISCOVERY_PORT))
        sock.settimeout(0.5)
        self._sock = sock
        self.refresh_memberships()

    def refresh_memberships(self) -> None:
        """Join the group on interfaces that appeared since (DHCP, cable plugged in)."""
        if self._sock is None:
            return
        interfaces = usable_interfaces(
            system_interfaces() if self._interfaces is None else self._interfaces
        )
        for interface in interfaces:
            if interface.address in self._joined:
                continue
            try:
                self._sock.setsockopt(
                    socket.IPPROTO_IP,
                    socket.IP_ADD_MEMBERSHIP,
                    _membership(MULTICAST_GROUP, interface.address),
                )
                self._joined.add(interface.address)
            except OSError as error:
                log.debug("multicast_join_failed", interface=interface.name, error=str(error))

    @property
    def joined(self) -> frozenset[str]:
        return frozenset(self._joined)

    def poll(self, timeout_s: float = 0.5) -> int:
        """Read announcements for up to ``timeout_s``; returns how many were handled."""
        if self._sock is None:
            return 0
        self._sock.settimeout(max(0.01, timeout_s))
        handled = 0
        try:
            data, (host, _port) = self._sock.recvfrom(MAX_DATAGRAM)
        except (TimeoutError, BlockingIOError, InterruptedError):
            return 0
        for message in parse_discovery_message(data, host):
            if message.kind in ("hello", "bye"):
                handled += 1
                self._on_message(message)
        return handled

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._joined.clear()

    def serve(self, stopping: threading.Event, refresh_every_s: float = 30.0) -> None:
        """Loop until ``stopping`` is set (for a thread of its own)."""
        last_refresh = time.monotonic()
        while not stopping.is_set():
            self.poll(0.5)
            if time.monotonic() - last_refresh > refresh_every_s:
                self.refresh_memberships()
                last_refresh = time.monotonic()
