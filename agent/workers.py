"""Which workers the daemon runs for a config: the one place that wires the agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.daemon import Runtime
    from agent.supervisor import Worker


def build_workers(runtime: Runtime) -> list[Worker]:
    """Workers in start order; the supervisor stops them in reverse."""
    workers: list[Worker] = []
    return workers
