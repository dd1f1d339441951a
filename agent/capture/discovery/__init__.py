"""WS-Discovery: find ONVIF cameras by multicast, by unicast scan, or from static addresses.

- :mod:`.addresses` — repairing, choosing and ranging device-service addresses (pure);
- :mod:`.limits` — how much any host on the LAN can make discovery do;
- :mod:`.messages` — parsing what devices send and building our probes (pure);
- :mod:`.probe` — one probing window over our own sockets;
- :mod:`.announce` — the Hello/Bye listener between rounds.

The parsing core is pure (bytes in, dataclasses out) and tested exhaustively; the socket
shell around it is thin. Interfaces come from :mod:`agent.netif`.
"""

from agent.capture.discovery.addresses import (
    DEFAULT_DEVICE_PATH,
    MAX_SCAN_HOSTS,
    pick_xaddr,
    repair_xaddr,
    repair_xaddrs,
    scan_hosts,
    xaddr_host,
)
from agent.capture.discovery.announce import AnnouncementListener
from agent.capture.discovery.limits import MAX_DATAGRAM
from agent.capture.discovery.messages import (
    DISCOVERY_PORT,
    MULTICAST_GROUP,
    PROBE_VARIANTS,
    DiscoveryMessage,
    build_probe,
    parse_discovery_message,
    static_message,
)
from agent.capture.discovery.probe import DiscoveryResult, ProgressCallback, discover
from agent.netif import Interface, system_interfaces, usable_interfaces

__all__ = [
    "DEFAULT_DEVICE_PATH",
    "DISCOVERY_PORT",
    "MAX_DATAGRAM",
    "MAX_SCAN_HOSTS",
    "MULTICAST_GROUP",
    "PROBE_VARIANTS",
    "AnnouncementListener",
    "DiscoveryMessage",
    "DiscoveryResult",
    "Interface",
    "ProgressCallback",
    "build_probe",
    "discover",
    "parse_discovery_message",
    "pick_xaddr",
    "repair_xaddr",
    "repair_xaddrs",
    "scan_hosts",
    "static_message",
    "system_interfaces",
    "usable_interfaces",
    "xaddr_host",
]
