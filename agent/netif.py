"""The one listing of this host's network interfaces (discovery, the Hello listener and
``diagnose`` all read it), and the pure choice of those worth probing from."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Interface:
    name: str
    address: str  # IPv4
    up: bool = True  # administratively up (IFF_UP)
    multicast: bool = True
    loopback: bool = False
    running: bool = True  # operationally up: carrier, or a link that does not tell


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


def _running(name: str) -> bool:
    """The link's operational state; "unknown" is what loopback and tunnels report."""
    try:
        state = Path(f"/sys/class/net/{name}/operstate").read_text(encoding="ascii").strip()
    except OSError:
        return True
    return state in ("up", "unknown")


def system_interfaces() -> list[Interface]:
    """IPv4 interfaces of this host (ifaddr), with flags and state from /sys if there."""
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
                    running=_running(str(adapter.name)),
                )
            )
    return found
