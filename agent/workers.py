"""Which workers the daemon runs for a config: the one place that wires the agent.

Capture and uplink never import each other; they meet here, through the shared model
(:mod:`agent.model`): the relay reads cameras from the state and asks for encoder changes
through the :class:`agent.model.EncoderControl` the capture side implements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from agent.capture.discovery_worker import DiscoveryWorker
from agent.capture.encoder import OnvifEncoderControl
from agent.capture.quality_worker import QualityWorker
from agent.hooks import DaemonHooks
from agent.secrets import MQTT_PASSWORD, STREAM_TOKEN
from agent.status.channel import StatusServer
from agent.uplink.mqtt.reporter import Reporter
from agent.uplink.video.feeds import feeds_from_state
from agent.uplink.video.manager import StreamManager

if TYPE_CHECKING:
    from agent.daemon import Runtime
    from agent.supervisor import Worker

log = structlog.get_logger(__name__)


def build_stream_manager(runtime: Runtime) -> StreamManager | None:
    """The daemon's streams worker for ``runtime``, or None when no ingest is configured."""
    config = runtime.config
    if config.streams.ingest_url is None:
        return None
    token = runtime.credentials.get(STREAM_TOKEN)  # registered with the scrubber on read
    if "{token}" in config.streams.ingest_url and token is None:
        log.warning("stream_token_missing", credential=STREAM_TOKEN)
    return StreamManager(
        config.streams,
        config.store.id,
        runtime.state,
        feeds_from_state(config.cameras.enrolled, runtime.state, runtime.logins),
        token,
        encoder=OnvifEncoderControl(),
    )


def build_workers(runtime: Runtime) -> list[Worker]:
    """Workers in start order; the supervisor stops them in reverse.

    The reporter is built first so that it stores every event from the start, and is
    stopped last so that `agent_stopping` and the last stream/camera events still go out.
    """
    discovery = DiscoveryWorker.from_runtime(runtime)
    streams = build_stream_manager(runtime)
    reporter = Reporter(
        runtime.config,
        runtime.state,
        runtime.events,
        runtime.sessions,
        password=runtime.credentials.get(MQTT_PASSWORD),
        hooks=DaemonHooks(runtime, discovery, streams),
    )
    status = StatusServer(runtime.config.paths.runtime, runtime.report_status)
    workers: list[Worker] = [reporter, status, discovery, QualityWorker.from_runtime(runtime)]
    if streams is not None:
        workers.append(streams)
    return workers
