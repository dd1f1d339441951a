"""Sharing the store's uplink between cameras.

The uplink is small and shared with the till, so the sum of the caps of active streams
never exceeds ``streams.uplink_kbps``. When every camera cannot have its full cap:

1. cameras are ranked by priority (their riskiest key control point: cold_room > cooking >
   prep > dishwashing > packing > storage, or a per-camera override), ties by camera id;
2. from the top, each camera is promised the minimum cap while the budget lasts; the
   cameras left over pause (lowest priority first);
3. what remains of the budget tops the active cameras up towards their wanted cap, again
   from the top: high-priority cameras keep full quality, lower ones are squeezed.

Pure and deterministic: the same demands always give the same allocation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.kcp import CATALOGUE, Kcp

DEFAULT_PRIORITY = 0  # a camera with no KCP assignment streams last


def kcp_priority(kcps: Iterable[Kcp | str]) -> int:
    """The priority of a camera from the riskiest key control point it shows."""
    best = DEFAULT_PRIORITY
    for code in kcps:
        try:
            info = CATALOGUE[Kcp(code)]
        except ValueError:
            continue
        best = max(best, info.stream_priority)
    return best


def primary_kcp(kcps: Iterable[Kcp | str]) -> Kcp | None:
    """The riskiest KCP of a camera (its ``{kcp}`` in the ingest URL)."""
    known = []
    for code in kcps:
        try:
            known.append(Kcp(code))
        except ValueError:
            continue
    if not known:
        return None
    return max(known, key=lambda k: CATALOGUE[k].stream_priority)


@dataclass(frozen=True)
class Demand:
    camera_id: str
    priority: int
    want_kbps: int


@dataclass(frozen=True)
class Allocation:
    camera_id: str
    cap_kbps: int | None  # None: paused for lack of uplink
    priority: int
    squeezed: bool = False  # got less than it wanted

    @property
    def paused(self) -> bool:
        return self.cap_kbps is None


def allocate(demands: Iterable[Demand], uplink_kbps: int, min_kbps: int) -> dict[str, Allocation]:
    """Caps for every demanding camera within ``uplink_kbps`` (see the module docstring)."""
    ranked = sorted(demands, key=lambda d: (-d.priority, d.camera_id))
    budget = uplink_kbps
    promised: dict[str, int] = {}
    for demand in ranked:
        floor = min(min_kbps, demand.want_kbps)
        if floor <= budget and demand.want_kbps > 0:
            promised[demand.camera_id] = floor
            budget -= floor
    for demand in ranked:
        if demand.camera_id not in promised:
            continue
        extra = min(budget, demand.want_kbps - promised[demand.camera_id])
        promised[demand.camera_id] += extra
        budget -= extra
    return {
        demand.camera_id: Allocation(
            camera_id=demand.camera_id,
            cap_kbps=promised.get(demand.camera_id),
            priority=demand.priority,
            squeezed=promised.get(demand.camera_id, 0) < demand.want_kbps,
        )
        for demand in ranked
    }


def total_kbps(allocations: Mapping[str, Allocation]) -> int:
    return sum(a.cap_kbps or 0 for a in allocations.values())
