"""Which workers the daemon runs for a config: the one place that wires the agent.

Capture and uplink never import each other; they meet here, through the shared model
(:mod:`agent.model`): the relay reads cameras from the state and asks for encoder changes
through the :class:`agent.model.EncoderControl` the capture side implements.

Each worker is described by a :class:`~agent.reload.WorkerSpec`: how to build it from a
:class:`~agent.daemon.Runtime`, and the **settings slice** it is built from — the part of
the config (and of the credentials) that, when it changes, means the worker must be
rebuilt. A reload rebuilds only the workers whose slice changed (:mod:`agent.reload`);
the others are kept and handed the new runtime (``update``) for what they read live (the
camera list of the streams worker, the store details of the reporter's birth). That is
why a changed quality threshold no longer drops the MQTT session or any ffmpeg relay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from agent.capture.discovery_worker import DiscoveryWorker
from agent.capture.encoder import OnvifEncoderControl
from agent.capture.quality_worker import QualityWorker
from agent.hooks import DaemonHooks
from agent.reload import WorkerSpec
from agent.secrets import MQTT_PASSWORD, STREAM_TOKEN
from agent.stage_worker import StageWorker
from agent.status.channel import StatusServer
from agent.uplink.mqtt.reporter import Reporter
from agent.uplink.video.feeds import feeds_from_state
from agent.uplink.video.manager import StreamManager

if TYPE_CHECKING:
    from agent.daemon import Runtime
    from agent.supervisor import Worker

log = structlog.get_logger(__name__)


# --- the agent's workers -----------------------------------------------------------------------


def _hooks(runtime: Runtime) -> DaemonHooks:
    return DaemonHooks(runtime, runtime.worker)


def _build_reporter(runtime: Runtime) -> Worker:
    return Reporter(
        runtime.config,
        runtime.state,
        runtime.events,
        runtime.sessions,
        password=runtime.credentials.get(MQTT_PASSWORD),
        hooks=_hooks(runtime),
    )


def _update_reporter(reporter: Reporter, runtime: Runtime) -> None:
    reporter.reconfigure(runtime.config, _hooks(runtime))


def _reporter_slice(runtime: Runtime) -> object:
    # The connection: broker settings, the topic and client id (store id and district),
    # the session counter's folder and the password. Store details, cameras and KCPs go
    # out in the next birth (a rebirth) over the same session.
    config = runtime.config
    return (
        config.broker,
        config.store.id,
        config.store.district,
        config.paths.state_dir,
        runtime.credentials.get(MQTT_PASSWORD),
    )


def _build_status(runtime: Runtime) -> Worker:
    return StatusServer(runtime.config.paths.runtime, runtime.report_status)


def _build_discovery(runtime: Runtime) -> Worker:
    return DiscoveryWorker.from_runtime(runtime)


def _discovery_slice(runtime: Runtime) -> object:
    # The hosts a camera's media may be on are here too: the records discovery holds were
    # checked against them (agent.trust), and a rebuilt worker checks its saved inventory
    # again at once; a kept one would hand out URIs on a host no longer trusted until its
    # next round.
    cameras = runtime.config.cameras
    usernames = tuple((c.id, c.username) for c in cameras.enrolled if c.username)
    media_hosts = tuple((c.id, tuple(c.media_hosts)) for c in cameras.enrolled if c.media_hosts)
    return (
        cameras.username,
        cameras.discovery,
        cameras.static,
        usernames,
        media_hosts,
        runtime.state_dir,
    )


def _update_logins(worker: DiscoveryWorker | QualityWorker, runtime: Runtime) -> None:
    worker.logins = runtime.logins  # camera password files are read afresh through it


def _update_discovery(worker: DiscoveryWorker, runtime: Runtime) -> None:
    # Enrolling or removing a camera is no reason to start discovery over (a new round,
    # the listener reopened), but its events and pruning follow the enrolment.
    _update_logins(worker, runtime)
    worker.enrol(camera.id for camera in runtime.config.cameras.enrolled)


def _build_quality(runtime: Runtime) -> Worker:
    return QualityWorker.from_runtime(runtime)


def _quality_slice(runtime: Runtime) -> object:
    config = runtime.config
    return (config.quality, config.store.kcps, config.cameras.enrolled, runtime.state_dir)


def _build_stage(runtime: Runtime) -> Worker:
    # Built with the others, before any starts: it puts the saved stage into the state,
    # so the first birth already tells the stage reached.
    return StageWorker.from_runtime(runtime)


def _stage_slice(runtime: Runtime) -> object:
    # What the stage worker is built from: the declared KCPs and the enrolment (its
    # ceiling, checked at build). How each camera's video goes out (ingest URL, stream
    # modes) it reads live from the config it is handed, so such a change is no rebuild.
    config = runtime.config
    enrolled = tuple((c.id, tuple(str(a.kcp) for a in c.kcps)) for c in config.cameras.enrolled)
    return (tuple(config.store.kcps), enrolled, runtime.state_dir)


def _update_stage(worker: StageWorker, runtime: Runtime) -> None:
    worker.config = runtime.config


def build_stream_manager(runtime: Runtime) -> StreamManager:
    """The daemon's streams worker for ``runtime`` (which has an ingest URL)."""
    config = runtime.config
    token = runtime.credentials.get(STREAM_TOKEN)  # registered with the scrubber on read
    if config.streams.ingest_url and "{token}" in config.streams.ingest_url and token is None:
        log.warning("stream_token_missing", credential=STREAM_TOKEN)
    return StreamManager(
        config.streams,
        config.store.id,
        runtime.state,
        feeds_from_state(config.cameras.enrolled, runtime.state, runtime.logins),
        token,
        encoder=OnvifEncoderControl(),
    )


def _streams_slice(runtime: Runtime) -> object:
    # Per-camera overrides (streams.cameras) are not in the slice: the manager takes them
    # live, so a change to one camera restarts that camera's relay alone.
    config = runtime.config
    if config.streams.ingest_url is None:
        return None
    return (
        config.streams.model_copy(update={"cameras": {}}),
        config.store.id,
        runtime.credentials.get(STREAM_TOKEN),
    )


def _update_streams(manager: StreamManager, runtime: Runtime) -> None:
    config = runtime.config
    manager.reconfigure(
        config.streams,
        feeds_from_state(config.cameras.enrolled, runtime.state, runtime.logins),
    )


# Start order; the supervisor stops the producers together and these last: the reporter
# (which tells ops the others' last words, then `stopped`) and the status socket.
WORKER_SPECS: tuple[WorkerSpec, ...] = (
    WorkerSpec("mqtt", _reporter_slice, _build_reporter, _update_reporter),
    WorkerSpec("status", lambda rt: rt.config.paths.runtime, _build_status),
    WorkerSpec("discovery", _discovery_slice, _build_discovery, _update_discovery),
    WorkerSpec("quality", _quality_slice, _build_quality, _update_logins),
    WorkerSpec("streams", _streams_slice, build_stream_manager, _update_streams),
    WorkerSpec("stage", _stage_slice, _build_stage, _update_stage),
)


def build_workers(runtime: Runtime) -> list[Worker]:
    """Every worker the config wants, in start order (the reporter first, so that it
    stores every event from the start)."""
    return [spec.build(runtime) for spec in WORKER_SPECS if spec.settings(runtime) is not None]
