"""Ports for the test kit's servers.

A server that a test stops and starts again (a broker outage) must get its port back. A
port the kernel hands out for ``bind(0)`` lies in the ephemeral range, where any outgoing
connection, among them the agent's own reconnect attempts to that very port (TCP
self-connect), may take it while the server is down. So servers listen below that range.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_LOW = 20000
_lock = threading.Lock()
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port below the ephemeral range that nobody holds now (TCP or UDP)."""
    high = max(_LOW + 1000, _ephemeral_start()) - 1
    with _lock:
        for _ in range(1000):
            port = random.randint(_LOW, high)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port in {_LOW}-{high}")
