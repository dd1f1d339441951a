"""Which workers the daemon runs for a config: the one place that wires the agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.capture.discovery_worker import DiscoveryWorker
from agent.capture.quality_worker import QualityWorker
from agent.hooks import DaemonHooks
from agent.uplink.relay import build_stream_manager
from agent.uplink.reporter import make_reporter

if TYPE_CHECKING:
    from agent.daemon import Runtime
    from agent.supervisor import Worker


def build_workers(runtime: Runtime) -> list[Worker]:
    """Workers in start order; the supervisor stops them in reverse.

    The reporter is built first so that it stores every event from the start, and is
    stopped last so that `agent_stopping` and the last stream/camera events still go out.
    """
    discovery = DiscoveryWorker.from_runtime(runtime)
    streams = build_stream_manager(runtime)
    reporter = make_reporter(runtime, DaemonHooks(runtime, discovery, streams))
    workers: list[Worker] = [reporter, discovery, QualityWorker.from_runtime(runtime)]
    if streams is not None:
        workers.append(streams)
    return workers
