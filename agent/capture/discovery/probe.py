"""One WS-Discovery probing window: multicast out of every usable interface, unicast scans.

The sockets are ours, not ``wsdiscovery``'s: its ``ThreadedWSDiscovery`` skips loopback,
sends from a polling thread (100 ms ticks), has no notion of a deadline or of unicast
scanning of a range, and starts address-monitor threads a short CLI run does not need.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from agent.capture.discovery.addresses import scan_hosts
from agent.capture.discovery.limits import (
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
    PROBE_VARIANTS,
    DiscoveryMessage,
    build_probe,
    parse_discovery_message,
)
from agent.errors import NoNetworkError
from agent.netif import Interface, system_interfaces, usable_interfaces

log = structlog.get_logger(__name__)

_BATCH = 64  # datagrams read per readiness before the deadline is looked at again


@dataclass
class DiscoveryResult:
    """The devices of one round, at most DEVICES_PER_SOURCE per address and DEVICES_TOTAL
    in all (a flood beyond is counted in ``refused``, not logged into)."""

    devices: dict[tuple[str, str], DiscoveryMessage] = field(default_factory=dict)
    interfaces: list[Interface] = field(default_factory=list)
    probes_sent: int = 0
    send_errors: int = 0
    budget: SourceBudget = field(
        default_factory=lambda: SourceBudget(DEVICES_PER_SOURCE, DEVICES_TOTAL)
    )
    datagrams: SourceBudget = field(
        default_factory=lambda: SourceBudget(DATAGRAMS_PER_SOURCE, DATAGRAMS_TOTAL)
    )

    def add(self, message: DiscoveryMessage) -> bool:
        if message.kind == "bye" or not message.xaddrs:
            return False
        if message.key in self.devices:
            return False
        if not self.budget.take(message.source):
            return False
        self.devices[message.key] = message
        return True

    def messages(self) -> list[DiscoveryMessage]:
        return list(self.devices.values())

    def log_refusals(self) -> None:
        if self.budget.refused or self.datagrams.refused:
            log.warning(
                "discovery_flood_capped",
                devices_refused=self.budget.worst(),
                datagrams_dropped=self.datagrams.worst(),
            )


ProgressCallback = Callable[[str], None]


def _open_probe_socket(bind_address: str, multicast_if: str | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setblocking(False)
    if multicast_if is not None:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(multicast_if))
    sock.bind((bind_address, 0))
    return sock


class _Prober:
    """Sockets, selector and result of one discovery round."""

    def __init__(
        self, result: DiscoveryResult, on_found: Callable[[DiscoveryMessage], None] | None
    ) -> None:
        self.result = result
        self.on_found = on_found
        self.selector = selectors.DefaultSelector()
        self.sockets: list[socket.socket] = []

    def open(self, bind_address: str, multicast_if: str | None) -> socket.socket:
        sock = _open_probe_socket(bind_address, multicast_if)
        self.sockets.append(sock)
        self.selector.register(sock, selectors.EVENT_READ)
        return sock

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.selector.close()

    def send(self, sock: socket.socket, data: bytes, target: tuple[str, int]) -> None:
        try:
            sock.sendto(data, target)
            self.result.probes_sent += 1
        except OSError as error:
            self.result.send_errors += 1
            log.debug("probe_send_failed", target=target[0], error=str(error))

    def drain(self, until: float) -> None:
        """Read and parse replies until the monotonic time ``until``."""
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            for key, _ in self.selector.select(min(remaining, 0.2)):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                self._read_all(sock)

    def _read_all(self, sock: socket.socket) -> None:
        # A bounded batch, then back to the select loop: a flood that never lets the
        # socket run dry must not keep the round past its deadline.
        for _ in range(_BATCH):
            try:
                data, (host, _port) = sock.recvfrom(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # an ICMP error surfaced on the socket: nothing to read
            if len(data) > MAX_DATAGRAM or not self.result.datagrams.take(host):
                continue  # over-long, or past this sender's share: dropped unparsed
            for message in parse_discovery_message(data, host):
                if self.result.add(message):
                    log.debug(
                        "camera_discovered",
                        xaddr=message.primary_xaddr,
                        source=host,
                        kind=message.kind,
                    )
                    if self.on_found is not None:
                        self.on_found(message)

    def scan(
        self,
        sock: socket.socket,
        targets: Sequence[str],
        probes: Sequence[bytes],
        concurrency: int,
        deadline: float,
        progress: ProgressCallback | None,
    ) -> None:
        # A batch of `concurrency` hosts is probed, then replies are read briefly before
        # the next batch: a /24 takes well under a second and a small switch is not flooded.
        batch = max(1, concurrency)
        for start in range(0, len(targets), batch):
            if time.monotonic() >= deadline:
                return
            for host in targets[start : start + batch]:
                for probe in probes:
                    self.send(sock, probe, (host, DISCOVERY_PORT))
            self.drain(min(deadline, time.monotonic() + 0.02))
            if progress is not None:
                done = min(len(targets), start + batch)
                progress(
                    f"scanned {done}/{len(targets)} addresses, "
                    f"{len(self.result.devices)} camera(s) so far"
                )


def discover(
    timeout_s: float = 3.0,
    *,
    multicast: bool = True,
    scan: Sequence[str] = (),
    interfaces: Sequence[Interface] | None = None,
    retries: int = 2,
    scan_concurrency: int = 64,
    progress: ProgressCallback | None = None,
    on_found: Callable[[DiscoveryMessage], None] | None = None,
) -> DiscoveryResult:
    """Probe for cameras until ``timeout_s`` has passed; returns every device that answered.

    Multicast goes out of every usable interface with every probe variant, repeated
    ``retries`` more times spread over the first part of the window (UDP is lossy and
    cameras are slow to wake). ``scan`` ranges get unicast probes, ``scan_concurrency``
    addresses at a time. Raises NoNetworkError when multicast was asked for but no usable
    interface exists, or when no unicast probe could leave the box.
    """
    result = DiscoveryResult()
    deadline = time.monotonic() + timeout_s
    scan_targets = [host for cidr in scan for host in scan_hosts(cidr)]
    if multicast:
        # Interfaces given explicitly (tests, a loopback-only namespace) may include lo.
        result.interfaces = (
            usable_interfaces(system_interfaces())
            if interfaces is None
            else usable_interfaces(interfaces, include_loopback=True)
        )
        if not result.interfaces:
            raise NoNetworkError(
                "no usable network interface (an up IPv4 interface with multicast); "
                "connect the box to the camera network, or use --no-multicast with --scan"
            )
    probes = [build_probe(variant) for variant in PROBE_VARIANTS]
    prober = _Prober(result, on_found)
    try:
        multicast_sockets = []
        for interface in result.interfaces:
            try:
                multicast_sockets.append(prober.open(interface.address, interface.address))
            except OSError as error:
                log.warning("probe_socket_failed", interface=interface.name, error=str(error))
        unicast_socket = (
            prober.open("0.0.0.0", None) if scan_targets else None  # noqa: S104 - any source
        )
        rounds = retries + 1
        spread = min(timeout_s / 2, 1.5)
        for round_index in range(rounds):
            round_at = time.monotonic()
            for sock in multicast_sockets:
                for probe in probes:
                    prober.send(sock, probe, (MULTICAST_GROUP, DISCOVERY_PORT))
            if unicast_socket is not None:
                prober.scan(
                    unicast_socket,
                    scan_targets,
                    probes,
                    scan_concurrency,
                    deadline,
                    progress if round_index == 0 else None,
                )
            if time.monotonic() >= deadline:
                break
            if round_index + 1 < rounds:
                prober.drain(min(deadline, round_at + spread / rounds))
        prober.drain(deadline)
    finally:
        prober.close()
    result.log_refusals()
    if scan_targets and not multicast and result.probes_sent == 0 and result.send_errors:
        raise NoNetworkError(
            f"no unicast probe could be sent: this box has no route to {', '.join(scan)}"
        )
    return result
