"""How much any host on the LAN can make discovery do: caps on datagrams and devices.

A kitchen has a few dozen cameras at most, each answering a handful of datagrams per
round. Anything past these caps is dropped without parsing (datagrams) or without a login
(devices), so a flood costs the box a bounded amount of CPU, memory and outbox.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_DATAGRAM = 32 * 1024  # bytes; real ProbeMatches are 1-4 KB, UDP allows 64 KB
MAX_MATCHES_PER_DATAGRAM = 16  # devices one datagram may describe (an NVR: a few)
DATAGRAMS_PER_SOURCE = 64  # parsed per source per round / window (a camera sends ~10)
DATAGRAMS_TOTAL = 2048  # parsed per round / window from everyone
DEVICES_PER_SOURCE = 16  # devices one address may announce per round / window
DEVICES_TOTAL = 128  # devices logged into per round / window
ANNOUNCEMENT_WINDOW_S = 300.0  # the Hello listener's caps count over this window


@dataclass
class SourceBudget:
    """Counts per source address against a per-source and a total cap (one round, or one
    window of the Hello listener). ``refused`` tells how many were turned away."""

    per_source: int
    total: int
    counts: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def take(self, source: str) -> bool:
        if self.counts[source] >= self.per_source or self.counts.total() >= self.total:
            self.refused[source] += 1
            return False
        self.counts[source] += 1
        return True

    def reset(self) -> None:
        self.counts.clear()
        self.refused.clear()

    def worst(self, limit: int = 5) -> dict[str, int]:
        """The sources refused most (for one log line, not one per datagram)."""
        return dict(self.refused.most_common(limit))
