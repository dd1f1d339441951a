"""The Hello/Bye listener: cameras that boot (or leave) between discovery rounds."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence

import structlog

from agent.capture.discovery.limits import (
    ANNOUNCEMENT_WINDOW_S,
    DATAGRAMS_PER_SOURCE,
    DATAGRAMS_TOTAL,
    DEVICES_PER_SOURCE,
    DEVICES_TOTAL,
    MAX_DATAGRAM,
    SourceBudget,
)
from agent.capture.discovery.messages import (
    DISCOVERY_PORT,
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

    Anyone on the LAN can send here, so within each ANNOUNCEMENT_WINDOW_S it parses at
    most DATAGRAMS_PER_SOURCE datagrams per sender (DATAGRAMS_TOTAL in all) and passes on
    Hellos of at most DEVICES_PER_SOURCE distinct devices per sender (DEVICES_TOTAL in
    all); the rest is dropped, and counted in one log line per window.
    """

    def __init__(
        self,
        on_message: Callable[[DiscoveryMessage], None],
        interfaces: Sequence[Interface] | None = None,
        window_s: float = ANNOUNCEMENT_WINDOW_S,
    ) -> None:
        self._on_message = on_message
        self._interfaces = interfaces
        self._sock: socket.socket | None = None
        self._joined: set[str] = set()
        self._window_s = window_s
        self._window_start = time.monotonic()
        self._datagrams = SourceBudget(DATAGRAMS_PER_SOURCE, DATAGRAMS_TOTAL)
        self._devices = SourceBudget(DEVICES_PER_SOURCE, DEVICES_TOTAL)
        self._announced: set[tuple[str, str]] = set()

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
        try:
            data, (host, _port) = self._sock.recvfrom(MAX_DATAGRAM + 1)
        except (TimeoutError, BlockingIOError, InterruptedError):
            return 0
        return self.handle(data, host)

    def handle(self, data: bytes, host: str) -> int:
        """One datagram from ``host``: its Hellos and Byes, within the caps, go to
        ``on_message``; returns how many did."""
        self._next_window()
        handled = 0
        if len(data) > MAX_DATAGRAM or not self._datagrams.take(host):
            return 0
        for message in parse_discovery_message(data, host):
            if message.kind == "hello" and not self._admit(message):
                continue
            if message.kind in ("hello", "bye"):
                handled += 1
                self._on_message(message)
        return handled

    def _admit(self, message: DiscoveryMessage) -> bool:
        """A device already announced in this window passes again (a camera re-sending
        its Hello); a new one takes its sender's share."""
        if message.key in self._announced:
            return True
        if not self._devices.take(message.source):
            return False
        self._announced.add(message.key)
        return True

    def _next_window(self) -> None:
        now = time.monotonic()
        if now - self._window_start < self._window_s:
            return
        if self._datagrams.refused or self._devices.refused:
            log.warning(
                "announcements_capped",
                window_s=self._window_s,
                datagrams_dropped=self._datagrams.worst(),
                devices_refused=self._devices.worst(),
            )
        self._window_start = now
        self._datagrams.reset()
        self._devices.reset()
        self._announced.clear()

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
