"""Pure address handling: repairing advertised device-service URLs, choosing one, ranges.

Repairs seen in the field: ``http://0.0.0.0/...`` and other unroutable hosts (replaced by
the packet's source), ``host:port:port``, a missing scheme or path, stray punctuation.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

from agent.errors import UsageError

MAX_SCAN_HOSTS = 4096  # a /20; scanning more from a kitchen box is a mistake, not a need
DEFAULT_DEVICE_PATH = "/onvif/device_service"


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
