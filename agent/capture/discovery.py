"""WS-Discovery: find ONVIF cameras by multicast, by unicast scan, or from static addresses.

What we take from the ``wsdiscovery`` library and what we do ourselves:

- Probe messages are built with ``wsdiscovery`` (``constructProbe`` + ``createSOAPMessage``).
- Replies are parsed here, by :func:`parse_discovery_message`: the library's parser needs a
  MessageID, a RelatesTo and a MetadataVersion in every ProbeMatch and raises on anything
  else, and its networking thread silently drops a reply whose MessageID equals one of our
  probes' (cameras that reuse the prober's MessageID). Real cameras do all of that.
- Sockets are ours: the library's ``ThreadedWSDiscovery`` skips loopback, sends from a
  polling thread (100 ms ticks), has no notion of a deadline or of unicast scanning of a
  range, and starts address-monitor threads a short CLI run does not need.

The parsing core is pure (bytes in, dataclasses out) and tested exhaustively; the socket
shell around it is thin.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import structlog

from agent.errors import NoNetworkError, UsageError

log = structlog.get_logger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
MAX_DATAGRAM = 65535
MAX_SCAN_HOSTS = 4096  # a /20; scanning more from a kitchen box is a mistake, not a need

NS_DEVICE_WSDL = "http://www.onvif.org/ver10/device/wsdl"
NS_NETWORK_WSDL = "http://www.onvif.org/ver10/network/wsdl"

# Probe variants: cameras differ in which Types they answer. Some only match on the
# `dn:` prefix literally, some on `tds:Device`, some only on an untyped Probe.
PROBE_VARIANTS: tuple[tuple[str, str, str] | None, ...] = (
    (NS_NETWORK_WSDL, "NetworkVideoTransmitter", "dn"),
    (NS_DEVICE_WSDL, "Device", "tds"),
    None,
)

DEFAULT_DEVICE_PATH = "/onvif/device_service"


# --- pure core: messages -----------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveryMessage:
    """One device described by a ProbeMatch, Hello or Bye (several per packet possible)."""

    kind: str  # "probe_match" | "hello" | "bye"
    endpoint: str | None  # EndpointReference address, usually urn:uuid:...
    xaddrs: tuple[str, ...]  # repaired device-service URLs; the truth, not the source
    source: str  # IP the datagram came from
    types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    message_id: str | None = None
    relates_to: str | None = None

    @property
    def primary_xaddr(self) -> str | None:
        return pick_xaddr(self.xaddrs, self.source)

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the *device instance* in one discovery round.

        The endpoint alone is not enough (cloned firmware reuses UUIDs) and the source is
        not either (an NVR answers for several cameras), so the pair endpoint + where its
        device service lives is what tells two devices apart.
        """
        return (self.endpoint or "", self.primary_xaddr or self.source)


_SOAP_ACTION_KINDS = {
    "probematches": "probe_match",
    "probematch": "probe_match",
    "hello": "hello",
    "bye": "bye",
    "probe": "probe",
    "resolvematches": "probe_match",
}

_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+")
_UUID_IN_TEXT = re.compile(r"urn:uuid:[0-9a-fA-F-]{32,36}")


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""  # comments / processing instructions
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _text(element: object) -> str:
    text = getattr(element, "text", None)
    return text.strip() if isinstance(text, str) else ""


def _parse_xml(data: bytes) -> object | None:
    """lxml in recover mode: truncated or badly escaped packets still yield a tree."""
    from lxml import etree

    parser = etree.XMLParser(
        recover=True,
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
    )
    try:
        root: object | None = etree.fromstring(data, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    return root


def _find_all(root: object, local_name: str) -> list[object]:
    iterator = getattr(root, "iter", None)
    if iterator is None:
        return []
    return [el for el in iterator() if _local(el.tag) == local_name]


def _first_text(root: object, local_name: str) -> str | None:
    for element in _find_all(root, local_name):
        value = _text(element)
        if value:
            return value
    return None


def parse_discovery_message(data: bytes, source: str) -> list[DiscoveryMessage]:
    """Every device described in one WS-Discovery datagram; [] for probes and noise.

    Tolerates: missing ProbeMatches/ProbeMatch wrappers, any namespace prefix (or none, or
    a wrong namespace), a missing or reused MessageID/RelatesTo, several matches in one
    packet, XAddrs spread over several elements, and broken XML (URLs and urn:uuid values
    are then recovered from the raw text).
    """
    if not data or not data.strip():
        return []
    root = _parse_xml(data)
    if root is None:
        return _salvage_from_text(data, source)

    action = _first_text(root, "action") or ""
    kind = _SOAP_ACTION_KINDS.get(action.rstrip("/").rsplit("/", 1)[-1].lower())
    if kind is None:
        for candidate in ("probematches", "probematch", "hello", "bye", "probe", "resolvematch"):
            if _find_all(root, candidate):
                kind = _SOAP_ACTION_KINDS.get(candidate, "probe_match")
                break
    if kind == "probe":
        return []
    if kind is None:
        # No action and no known body element: a camera that sent only the match fields.
        if not _find_all(root, "xaddrs"):
            return []
        kind = "probe_match"

    message_id = _first_text(root, "messageid")
    relates_to = _first_text(root, "relatesto")
    containers = _find_all(root, "probematch") or _find_all(root, "resolvematch")
    if not containers:
        containers = _find_all(root, kind) if kind in ("hello", "bye") else []
    if not containers:
        containers = [root]  # missing wrappers: the fields sit directly in the body

    messages = []
    for container in containers:
        endpoint = None
        for reference in _find_all(container, "endpointreference"):
            endpoint = _first_text(reference, "address")
            if endpoint:
                break
        if endpoint is None:
            # Some firmwares put the Address straight in the match, without the EPR.
            for element in _find_all(container, "address"):
                value = _text(element)
                if value and not value.lower().startswith(("http://", "https://")):
                    endpoint = value
                    break
        raw_xaddrs: list[str] = []
        for element in _find_all(container, "xaddrs"):
            raw_xaddrs.extend(_text(element).split())
        types = tuple(t for el in _find_all(container, "types") for t in _text(el).split())
        scopes = tuple(s for el in _find_all(container, "scopes") for s in _text(el).split())
        xaddrs = repair_xaddrs(raw_xaddrs, source)
        if kind != "bye" and not xaddrs and endpoint is None:
            continue
        messages.append(
            DiscoveryMessage(
                kind=kind,
                endpoint=endpoint,
                xaddrs=xaddrs,
                source=source,
                types=types,
                scopes=scopes,
                message_id=message_id,
                relates_to=relates_to,
            )
        )
    if not messages:
        return _salvage_from_text(data, source)
    return messages


def _salvage_from_text(data: bytes, source: str) -> list[DiscoveryMessage]:
    """Last resort for XML too broken for a tree: pull URLs and the uuid from the text."""
    text = data.decode("utf-8", "replace")
    if "probe" not in text.lower() and "hello" not in text.lower():
        return []
    if re.search(r"<[^>]*:?Probe[\s>]", text) and "ProbeMatch" not in text:
        return []  # somebody else's Probe, not an answer
    urls = [u for u in _URL_IN_TEXT.findall(text) if "onvif" in u.lower() or "device" in u.lower()]
    xaddrs = repair_xaddrs(urls, source)
    if not xaddrs:
        return []
    uuid_match = _UUID_IN_TEXT.search(text)
    lowered = text.lower()
    kind = "hello" if "hello" in lowered and "probematch" not in lowered else "probe_match"
    return [
        DiscoveryMessage(
            kind=kind,
            endpoint=uuid_match.group(0) if uuid_match else None,
            xaddrs=xaddrs,
            source=source,
        )
    ]


_HOST_PORT_PORT = re.compile(r"^(?P<host>\[[^\]]+\]|[^:/\[\]]+):(?P<port>\d+)(?::\d+)+$")


def repair_xaddr(xaddr: str, source: str) -> str | None:
    """A usable device-service URL from an advertised one, or None if hopeless.

    Repairs seen in the field: ``http://0.0.0.0/...`` and other unroutable hosts (replaced
    by the packet's source), ``host:port:port`` (duplicate port dropped), a missing scheme
    or path, stray whitespace and trailing punctuation.
    """
    candidate = xaddr.strip().strip(",;")
    if not candidate:
        return None
    if "://" not in candidate:
        candidate = "http://" + candidate
    scheme, _, rest = candidate.partition("://")
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        return None
    netloc, slash, path = rest.partition("/")
    netloc = netloc.rsplit("@", 1)[-1]  # never keep userinfo from a packet
    fixed = _HOST_PORT_PORT.match(netloc)
    if fixed:
        netloc = f"{fixed.group('host')}:{fixed.group('port')}"
    try:
        parts = urlsplit(f"{scheme}://{netloc}/{path if slash else ''}")
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if _unroutable(host, source):
        host = source
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    new_netloc = host if port is None else f"{host}:{port}"
    new_path = parts.path if parts.path not in ("", "/") else DEFAULT_DEVICE_PATH
    return urlunsplit((scheme, new_netloc, new_path, parts.query, ""))


def _unroutable(host: str, source: str) -> bool:
    if host in ("", "localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: leave it to DNS
    if address.is_unspecified:
        return True
    try:
        source_address = ipaddress.ip_address(source)
    except ValueError:
        return False
    # A camera saying 127.0.0.1 (or link-local) from a LAN address means "me".
    return (address.is_loopback and not source_address.is_loopback) or (
        address.is_link_local and not source_address.is_link_local
    )


def repair_xaddrs(xaddrs: Iterable[str], source: str) -> tuple[str, ...]:
    seen: list[str] = []
    for raw in xaddrs:
        fixed = repair_xaddr(raw, source)
        if fixed and fixed not in seen:
            seen.append(fixed)
    return tuple(seen)


def pick_xaddr(xaddrs: Sequence[str], source: str) -> str | None:
    """The device-service URL to use: IPv4 first, the packet's source host if listed."""

    def rank(url: str) -> tuple[int, int]:
        host = urlsplit(url).hostname or ""
        try:
            is_v6 = ipaddress.ip_address(host).version == 6
        except ValueError:
            is_v6 = False
        return (1 if is_v6 else 0, 0 if host == source else 1)

    return min(xaddrs, key=rank) if xaddrs else None


def xaddr_host(xaddr: str) -> str:
    return urlsplit(xaddr).hostname or ""


def build_probe(variant: tuple[str, str, str] | None, message_id: str | None = None) -> bytes:
    """A Probe datagram (built by the wsdiscovery library) for one of PROBE_VARIANTS."""
    from wsdiscovery.actions.probe import constructProbe
    from wsdiscovery.message import createSOAPMessage
    from wsdiscovery.qname import QName

    types = [] if variant is None else [QName(variant[0], variant[1], variant[2])]
    envelope = constructProbe(types, [])
    if message_id is not None:
        envelope.setMessageId(message_id)
    text: str = createSOAPMessage(envelope)
    return text.encode("utf-8")


def static_message(entry: str) -> DiscoveryMessage:
    """A configured ``host[:port]`` (or full URL) as if the camera had answered a probe."""
    value = entry.strip()
    if not value:
        raise UsageError("empty static camera address")
    netloc = value.split("://", 1)[-1].split("/", 1)[0]
    if "@" in netloc:
        raise UsageError(
            f"static camera address {value.split('@')[-1]!r} must not carry "
            "credentials; the password belongs in the credentials directory"
        )
    url = repair_xaddr(value, "")
    host = xaddr_host(url) if url else ""
    if not url or not host:
        raise UsageError(f"not a camera address: {value!r} (expected host[:port] or a URL)")
    return DiscoveryMessage(kind="static", endpoint=None, xaddrs=(url,), source=host)


def scan_hosts(cidr: str) -> list[str]:
    """Every host address of a CIDR range (a single address works too)."""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise UsageError(f"--scan {cidr!r}: not a CIDR range such as 192.168.1.0/24") from None
    if network.version != 4:
        raise UsageError(f"--scan {cidr}: only IPv4 ranges can be scanned")
    if network.num_addresses > MAX_SCAN_HOSTS + 2:
        raise UsageError(
            f"--scan {cidr}: {network.num_addresses} addresses is too many; "
            f"scan at most /{32 - (MAX_SCAN_HOSTS.bit_length() - 1)} at a time"
        )
    hosts = [str(h) for h in network.hosts()]
    return hosts or [str(network.network_address)]


# --- pure core: interfaces ---------------------------------------------------------------


@dataclass(frozen=True)
class Interface:
    name: str
    address: str  # IPv4
    up: bool = True
    multicast: bool = True
    loopback: bool = False


def usable_interfaces(
    candidates: Iterable[Interface], include_loopback: bool = False
) -> list[Interface]:
    """Interfaces worth probing from: up, multicast-capable IPv4, not link-local."""
    chosen: list[Interface] = []
    for interface in candidates:
        try:
            address = ipaddress.IPv4Address(interface.address)
        except ValueError:
            continue
        if not interface.up or not interface.multicast or address.is_link_local:
            continue
        if (interface.loopback or address.is_loopback) and not include_loopback:
            continue
        if any(c.address == interface.address for c in chosen):
            continue
        chosen.append(interface)
    return chosen


_IFF_UP, _IFF_LOOPBACK, _IFF_MULTICAST = 0x1, 0x8, 0x1000


def system_interfaces() -> list[Interface]:
    """IPv4 interfaces of this host (ifaddr), with flags from /sys when available."""
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        flags = None
        with contextlib.suppress(OSError, ValueError):
            flags = int(Path(f"/sys/class/net/{adapter.name}/flags").read_text(), 16)
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6 (tuple form)
            found.append(
                Interface(
                    name=str(adapter.name),
                    address=ip.ip,
                    up=True if flags is None else bool(flags & _IFF_UP),
                    multicast=True if flags is None else bool(flags & _IFF_MULTICAST),
                    loopback=ip.ip.startswith("127.")
                    or (flags is not None and bool(flags & _IFF_LOOPBACK)),
                )
            )
    return found


# --- I/O shell: probing ------------------------------------------------------------------


@dataclass
class DiscoveryResult:
    devices: dict[tuple[str, str], DiscoveryMessage] = field(default_factory=dict)
    interfaces: list[Interface] = field(default_factory=list)
    probes_sent: int = 0
    send_errors: int = 0

    def add(self, message: DiscoveryMessage) -> bool:
        if message.kind == "bye" or not message.xaddrs:
            return False
        if message.key in self.devices:
            return False
        self.devices[message.key] = message
        return True

    def messages(self) -> list[DiscoveryMessage]:
        return list(self.devices.values())


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
        while True:
            try:
                data, (host, _port) = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # an ICMP error surfaced on the socket: nothing to read
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
    if scan_targets and not multicast and result.probes_sent == 0 and result.send_errors:
        raise NoNetworkError(
            f"no unicast probe could be sent: this box has no route to {', '.join(scan)}"
        )
    return result


# --- I/O shell: Hello/Bye listener ---------------------------------------------------------


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
