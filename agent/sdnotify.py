"""What the daemon tells systemd (``Type=notify``): readiness, status, watchdog pings.

Standard library only, no-ops outside systemd. The watchdog is honest: the daemon pings
at half of ``WatchdogSec`` only while every worker has checked in within
:attr:`Watchdog.worker_deadline_s`, so a wedged worker (alive, never returning) stops the
pings and systemd restarts the agent; a timer that pinged regardless would hide it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

WORKER_DEADLINE_MAX_S = 60.0


def sd_notify(message: str) -> bool:
    """Send ``message`` (``KEY=value`` lines) to systemd; False outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Watchdog:
    """systemd's watchdog as this process is given it (``WatchdogSec=``)."""

    period_s: float

    @property
    def ping_every_s(self) -> float:
        """Half the period, as sd_watchdog_enabled(3) advises."""
        return self.period_s / 2

    @property
    def worker_deadline_s(self) -> float:
        """How long a worker may go without checking in before the pings stop: the period
        itself, at most a minute (a camera call or a discovery round checks in well within)."""
        return min(WORKER_DEADLINE_MAX_S, self.period_s)


def systemd_watchdog(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> Watchdog | None:
    """The watchdog systemd set for this process, or None when it is off. Pure."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None  # meant for another process (we were started by the service's child)
    return Watchdog(int(usec) / 1_000_000)
