"""What central operations may do to a box remotely (the MQTT commands' actions).

The reporter calls these from its command thread; each one is bounded in time and raises
an :class:`agent.errors.AgentError` subclass whose code becomes the command's result code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from agent.config import config_hash, load_config
from agent.errors import CommandBadArgs, CommandNotSupported, FrameUnavailable

if TYPE_CHECKING:
    from agent.capture.discovery_worker import DiscoveryWorker
    from agent.daemon import Runtime
    from agent.uplink.video.manager import StreamManager

log = structlog.get_logger(__name__)

SNAPSHOT_TIMEOUT_S = 8.0


class DaemonHooks:
    """The actions, for the config in force (``runtime``). The workers they act on are
    looked up when a command comes, so a worker rebuilt by a reload is the one addressed."""

    def __init__(self, runtime: Runtime, worker: Callable[[str], object | None]) -> None:
        self.runtime = runtime
        self._worker = worker

    @property
    def discovery(self) -> DiscoveryWorker | None:
        from agent.capture.discovery_worker import DiscoveryWorker

        found = self._worker("discovery")
        return found if isinstance(found, DiscoveryWorker) else None

    @property
    def streams(self) -> StreamManager | None:
        from agent.uplink.video.manager import StreamManager

        found = self._worker("streams")
        return found if isinstance(found, StreamManager) else None

    def rescan(self) -> dict[str, Any]:
        discovery = self.discovery
        if discovery is None:
            raise CommandNotSupported("camera discovery is not running")
        discovery.request_rescan()
        return {"requested": True, "known_cameras": len(self.runtime.state.cameras())}

    def snapshot(self, camera_id: str) -> bytes:
        from agent.capture.acquire import acquire_jpeg

        camera = self.runtime.state.cameras().get(camera_id)
        if camera is None:
            raise CommandBadArgs(f"unknown camera {camera_id!r}")
        if not camera.online:
            raise FrameUnavailable(f"camera {camera_id} is offline")
        return acquire_jpeg(camera, self.runtime.logins(camera_id), SNAPSHOT_TIMEOUT_S)

    def restart_stream(self, camera_id: str) -> None:
        streams = self.streams
        if streams is None:
            raise CommandNotSupported("streaming is not configured (streams.ingest_url)")
        streams.restart(camera_id)

    def _on_demand(self, camera_id: str) -> StreamManager:
        """The streams worker, for an enrolled on-demand camera; else the reason why not."""
        streams = self.streams
        if streams is None:
            raise CommandNotSupported("streaming is not configured (streams.ingest_url)")
        config = self.runtime.config
        if camera_id not in {camera.id for camera in config.cameras.enrolled}:
            raise CommandBadArgs(f"camera {camera_id!r} is not enrolled")
        if not config.streams.enabled_for(camera_id):
            raise CommandNotSupported(f"streaming is off for camera {camera_id}")
        if config.streams.mode_of(camera_id) != "on_demand":
            raise CommandNotSupported(
                f"camera {camera_id} streams always (streams.mode); start_stream and "
                "stop_stream are for on-demand cameras"
            )
        return streams

    def start_stream(self, camera_id: str, duration_s: int | None) -> dict[str, Any]:
        from agent.uplink.messages import StreamCommandResult, from_epoch

        streams = self._on_demand(camera_id)
        seconds = duration_s or self.runtime.config.streams.idle_timeout_s
        streams.start_on_demand(camera_id, seconds)
        until = from_epoch(time.time() + seconds)
        return StreamCommandResult(camera_id=camera_id, streaming=True, until=until).model_dump(
            mode="json"
        )

    def stop_stream(self, camera_id: str) -> dict[str, Any]:
        from agent.uplink.messages import StreamCommandResult

        self._on_demand(camera_id).stop(camera_id)
        return StreamCommandResult(camera_id=camera_id, streaming=False, until=None).model_dump(
            mode="json"
        )

    def reload_config(self) -> dict[str, Any]:
        # Validate here so ops get the problems in the command result; the daemon's main
        # loop then applies it (stopping workers from this thread would stop ourselves).
        config = load_config(self.runtime.config_path)
        self.runtime.request_reload()
        return {
            "scheduled": True,
            "config_hash": config_hash(config),
            "changed": config != self.runtime.config,
        }

    def reset_reference(self, camera_id: str) -> dict[str, Any]:
        from agent.capture.reference import ReferenceStore

        enrolled = {camera.id for camera in self.runtime.config.cameras.enrolled}
        if camera_id not in enrolled:
            raise CommandBadArgs(f"camera {camera_id!r} is not enrolled")
        # The quality worker notices the stored reference is gone at its next sample.
        forgotten = ReferenceStore(self.runtime.state_dir).delete(camera_id)
        return {"camera_id": camera_id, "had_reference": forgotten}

    def diagnose(self) -> dict[str, Any]:
        from agent.diagnose import run_diagnosis

        report = run_diagnosis(self.runtime.config_path, timeout_s=2.0)
        cameras = self.runtime.state.cameras()
        report["cameras"] = {
            camera_id: {
                "online": camera.online,
                "error": camera.error.model_dump() if camera.error else None,
                "address": camera.address,
            }
            for camera_id, camera in cameras.items()
        }
        report["streams"] = {
            camera_id: {
                "state": stream.state.value,
                "route": stream.route.value if stream.route else None,
                "error": stream.error.model_dump() if stream.error else None,
            }
            for camera_id, stream in self.runtime.state.streams().items()
        }
        return report
