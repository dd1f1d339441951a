"""The daemon's discovery worker: keeps the camera inventory fresh and tells ops about it.

- A full round (multicast + scan ranges + static cameras + a recheck of every known camera)
  runs at start, every ``cameras.discovery.interval_s`` and when :meth:`request_rescan` is
  called (the MQTT ``rescan`` command).
- Between rounds it listens for WS-Discovery Hello/Bye: a camera that boots later is
  inventoried at once, one that says Bye goes offline at once.
- Every camera's record (:class:`agent.model.Camera`), its URIs as the trust model allows
  (:func:`agent.trust.trusted_camera`), goes into :class:`agent.state.AgentState`;
  ``camera_online`` and ``camera_offline`` events are emitted on transitions of enrolled
  cameras (other devices are announced in the state and the log only); the inventory is
  persisted. A device never enrolled is forgotten after
  :data:`agent.capture.inventory.PRUNE_AFTER_ROUNDS` silent full rounds.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from agent.capture.discovery import (
    AnnouncementListener,
    DiscoveryMessage,
    Interface,
    static_message,
)
from agent.capture.inventory import InventoryStore, MergeResult, mark_bye, merge, prune
from agent.capture.rounds import DiscoveryPlan, RoundOptions, discovery_round, inventory_round
from agent.errors import AgentError
from agent.model import Camera, CameraOffline, CameraOnline, LoginResolver
from agent.state import AgentState
from agent.trust import trusted_camera

if TYPE_CHECKING:
    from agent.config.cameras import CamerasConfig
    from agent.daemon import Runtime
    from agent.supervisor import WorkerContext

log = structlog.get_logger(__name__)


class DiscoveryWorker:
    name = "discovery"

    def __init__(
        self,
        cameras: CamerasConfig,
        state: AgentState,
        logins: LoginResolver,
        state_dir: Path,
        interfaces: Sequence[Interface] | None = None,
        listen: bool = True,
        options: RoundOptions | None = None,
    ) -> None:
        self.cameras_config = cameras
        self.state = state
        self.logins = logins
        self.store = InventoryStore(state_dir)
        self.interfaces = interfaces
        self.listen = listen and cameras.discovery.multicast
        self.options = options or RoundOptions()
        self._rescan = threading.Event()
        self._announcements: queue.Queue[DiscoveryMessage] = queue.Queue(maxsize=256)
        self._known: dict[str, Camera] = {}
        self._silent_rounds: dict[str, int] = {}
        self.enrolled_ids = frozenset(c.id for c in cameras.enrolled)
        self.rounds = 0  # completed full rounds (tests and diagnostics read it)

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> DiscoveryWorker:
        return cls(runtime.config.cameras, runtime.state, runtime.logins, runtime.state_dir)

    # --- public API -----------------------------------------------------------------------

    def request_rescan(self) -> None:
        """Run a full discovery round as soon as possible (thread-safe, never blocks)."""
        self._rescan.set()

    def inventory(self) -> dict[str, Camera]:
        return dict(self._known)

    def enrol(self, camera_ids: Iterable[str]) -> None:
        """The cameras enrolled now (a reload changed the enrolment and kept this worker):
        their transitions are events and they are never forgotten, from the next round or
        announcement on; a camera no longer enrolled is announced in the state only."""
        self.enrolled_ids = frozenset(camera_ids)

    # --- worker loop ----------------------------------------------------------------------

    def run(self, ctx: WorkerContext) -> None:
        self._known = self._trusted(self.store.load())
        self._publish_all()
        listener_stop = threading.Event()
        listener_thread = self._start_listener(listener_stop)
        try:
            next_round = time.monotonic()
            while not ctx.stopping.is_set():
                if self._rescan.is_set() or time.monotonic() >= next_round:
                    self._rescan.clear()
                    # The listening window checks in nowhere: say how long it may take.
                    with ctx.allow(self.cameras_config.discovery.timeout_s):
                        self._full_round(ctx)
                    next_round = time.monotonic() + self.cameras_config.discovery.interval_s
                self._handle_announcements(ctx)
                if ctx.wait(min(0.5, max(0.0, next_round - time.monotonic()))):
                    break
        finally:
            listener_stop.set()
            if listener_thread is not None:
                listener_thread.join(2.0)

    def _start_listener(self, stop: threading.Event) -> threading.Thread | None:
        if not self.listen:
            return None
        listener = AnnouncementListener(self._enqueue, self.interfaces)
        try:
            listener.open()
        except OSError as error:
            log.warning("hello_listener_unavailable", error=str(error))
            return None

        def serve() -> None:
            try:
                listener.serve(stop)
            finally:
                listener.close()

        thread = threading.Thread(target=serve, name="discovery-hello", daemon=True)
        thread.start()
        return thread

    def _enqueue(self, message: DiscoveryMessage) -> None:
        try:
            self._announcements.put_nowait(message)
        except queue.Full:
            log.warning("hello_queue_full", dropped=message.primary_xaddr)

    def _full_round(self, ctx: WorkerContext) -> None:
        config = self.cameras_config
        static: list[DiscoveryMessage] = []
        for entry in config.static:
            try:
                static.append(static_message(entry))
            except AgentError as error:
                log.warning("static_camera_invalid", entry=entry, reason=error.message)
        plan = DiscoveryPlan(
            config.discovery.timeout_s,
            multicast=config.discovery.multicast,
            scan=config.discovery.scan,
            static=static,
            interfaces=self.interfaces,
        )
        # Known and static cameras are rechecked, and each discovered one logged into,
        # while discovery still listens.
        seen = discovery_round(
            plan,
            self.logins,
            list(self._known.values()),
            recheck_known=True,
            options=self.options,
            keep_going=True,
            on_listened=lambda _: ctx.beat(),
            on_camera=lambda *_: ctx.beat(),
        )
        merged = merge(self._known, seen, time.time(), complete=True)
        pruned = prune(
            merged.cameras,
            [c.id for c in seen if c.online],
            self._silent_rounds,
            self.enrolled_ids,
        )
        self._silent_rounds = pruned.silent_rounds
        merged.cameras = pruned.cameras
        for camera_id in pruned.forgotten:
            self.state.remove_camera(camera_id)
        if pruned.forgotten:
            log.info(
                "cameras_forgotten", camera_ids=pruned.forgotten[:20], count=len(pruned.forgotten)
            )
        self._apply(merged)
        self.rounds += 1
        log.info(
            "discovery_round_done",
            cameras=len(self._known),
            online=sum(1 for c in self._known.values() if c.online),
        )

    def _handle_announcements(self, ctx: WorkerContext) -> None:
        hellos: list[DiscoveryMessage] = []
        while True:
            try:
                message = self._announcements.get_nowait()
            except queue.Empty:
                break
            if message.kind == "bye" and message.endpoint:
                gone = mark_bye(self._known, message.endpoint, message.source)
                if gone:
                    self._apply(merge(self._known, gone, time.time(), complete=False))
            elif message.kind == "hello":
                hellos.append(message)
        if hellos:
            log.info("camera_hello", xaddrs=[m.primary_xaddr for m in hellos])
            seen = inventory_round(
                hellos,
                self.logins,
                list(self._known.values()),
                options=self.options,
                on_camera=lambda *_: ctx.beat(),
            )
            self._apply(merge(self._known, seen, time.time(), complete=False))

    # --- output ---------------------------------------------------------------------------

    def _apply(self, result: MergeResult) -> None:
        self._known = self._trusted(result.cameras)
        self._publish_all()
        for transition in result.transitions:
            camera = self._known.get(transition.camera_id, transition.camera)
            if camera.id not in self.enrolled_ids:
                # Announced in the state and the log only: a flood of made-up devices must
                # not fill the outbox with events and push real ones out.
                continue
            event = CameraOnline if transition.online else CameraOffline
            self.state.emit(event(camera_id=camera.id, address=camera.address, error=camera.error))
            log.info(
                event.TYPE, camera_id=camera.id, address=camera.address, code=camera.error_code
            )
        for camera_id in result.new_ids:
            if camera_id in self._known:
                log.info(
                    "camera_discovered", camera_id=camera_id, address=self._known[camera_id].address
                )
        try:
            self.store.save(self._known)
        except OSError as error:
            log.warning("inventory_save_failed", path=str(self.store.path), error=str(error))

    def _trusted(self, cameras: dict[str, Camera]) -> dict[str, Camera]:
        """Every record as the trust model allows it to be followed (agent.trust)."""
        return {
            camera_id: trusted_camera(c, self.logins(camera_id)) for camera_id, c in cameras.items()
        }

    def _publish_all(self) -> None:
        for camera in self._known.values():
            self.state.set_camera(camera)
