"""The supervised relays: one ffmpeg per streaming camera, kept up by one worker.

Why one ``StreamManager`` worker owning every relay rather than a worker per camera: the
uplink budget is a decision over all cameras at once (a new camera can squeeze another),
the MQTT commands need one place to address a camera, and a single 2 Hz loop costs the
same for one camera or twenty. Cameras stay independent all the same: each relay has its
own process, backoff and restart budget, and an error in one camera's tick is contained.
Every ffmpeg is started from the worker's own long-lived thread (never from a command
handler's thread), so ``PR_SET_PDEATHSIG`` kills them all if the agent dies: the kernel
sends that signal when the *thread* that forked the child exits, so a short-lived thread
must never start one.

This module is the thin shell: each tick it observes every relay (budget, route, ffmpeg),
hands what it saw to the pure life cycle (:func:`agent.uplink.video.lifecycle.step`) and
carries out the actions that come back. A relay is restarted when its ffmpeg exits (for any
reason: ffmpeg can exit 0 after an input timeout) or when its output stops advancing for
``stall_timeout_s`` (a frozen camera, a stuck ingest), after the agent's backoff, and at
most ``max_restarts_per_hour`` times an hour. Nothing here needs the MQTT broker.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

import structlog

from agent.config.streams import StreamsConfig
from agent.errors import CommandRejected, FfmpegMissing, NoStreamProfile
from agent.model import (
    EncoderControl,
    RouteName,
    StreamDown,
    StreamState,
    StreamStatus,
    StreamUp,
)
from agent.scrub import register_secret, scrub, strip_userinfo
from agent.state import AgentState
from agent.supervisor import WorkerContext
from agent.uplink.video.bandwidth import Allocation, Demand, allocate, kcp_priority
from agent.uplink.video.feeds import CameraFeed, FeedSource, feed_relay_plan, wanted
from agent.uplink.video.ffmpeg_args import (
    ingest_scheme,
    relay_argv,
)
from agent.uplink.video.lifecycle import (
    AnnounceDown,
    AnnounceUp,
    AskingCamera,
    Failed,
    Launch,
    Launched,
    RelayAction,
    RelayEvent,
    RelayLife,
    RelayRules,
    Removed,
    RestartRequested,
    Routed,
    Shutdown,
    Squeezed,
    StartRequested,
    StopProcess,
    Terminate,
    Undiscovered,
    Unroutable,
    Unwanted,
    step,
)
from agent.uplink.video.negotiation import RoutePlanner
from agent.uplink.video.process import ProcessFactory, ProcessLike, ProgressWatch, managed_process
from agent.uplink.video.routes import NoRoute

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 3.0


@dataclass
class _Relay:
    """One camera's relay: what it is asked for, its route, its ffmpeg and its life."""

    feed: CameraFeed
    priority: int
    want_kbps: int
    mode: str
    planner: RoutePlanner
    watch: ProgressWatch
    enabled: bool = True
    held: bool = False  # stopped by command
    demand_until: float | None = None
    allocation: Allocation | None = None
    process: ProcessLike | None = None
    life: RelayLife = field(default_factory=RelayLife)


class StreamManager:
    """The ``streams`` worker: every camera's relay, the uplink budget and the commands."""

    name = "streams"

    def __init__(
        self,
        config: StreamsConfig,
        store_id: str,
        state: AgentState,
        feeds: FeedSource,
        token: str | None = None,
        *,
        encoder: EncoderControl | None = None,
        process_factory: ProcessFactory = managed_process,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        tick_s: float = 0.5,
        feeds_refresh_s: float = 5.0,
    ) -> None:
        if config.ingest_url is None:
            raise ValueError("streams.ingest_url is not set: nothing to stream to")
        self.config = config
        self.store_id = store_id
        self.state = state
        self._feeds = feeds
        self._token = token
        register_secret(token)
        self._encoder = encoder
        self._process_factory = process_factory
        self._clock = clock
        self._wall = wall_clock
        self._rng = rng
        self.tick_s = tick_s
        self.feeds_refresh_s = feeds_refresh_s
        self.scheme = ingest_scheme(config.ingest_url)
        self.rules = RelayRules.from_config(config)
        self._relays: dict[str, _Relay] = {}
        self._known: set[str] = set()
        self._known_lock = threading.Lock()
        self._commands: queue.SimpleQueue[tuple[str, str, float | None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._feeds_at: float | None = None

    # --- commands (any thread) -----------------------------------------------------------

    def _command(self, kind: str, camera_id: str, seconds: float | None = None) -> None:
        with self._known_lock:
            known = camera_id in self._known or (not self._known and self._feeds_at is None)
        if not known:
            raise CommandRejected(f"no stream for camera {camera_id}")
        self._commands.put((kind, camera_id, seconds))
        self._wake.set()

    def restart(self, camera_id: str) -> None:
        """Restart a camera's relay now (clears its backoff and any stop)."""
        self._command("restart", camera_id)

    def start_on_demand(self, camera_id: str, seconds: float | None = None) -> None:
        """Stream a camera for ``seconds`` (default ``idle_timeout_s``) from now; a start
        never shortens a stream another start asked for longer."""
        self._command("start", camera_id, seconds)

    def stop(self, camera_id: str) -> None:
        """Stop a camera's stream until ``start_on_demand`` or ``restart``."""
        self._command("stop", camera_id)

    def reconfigure(self, config: StreamsConfig, feeds: FeedSource) -> None:
        """A reload that kept this worker (same stream settings apart from per-camera
        overrides): take the new camera list and overrides at the next tick. A relay is
        restarted only if what it runs changes (route, cap, login, KCPs)."""
        self.config = config
        self._feeds = feeds
        self._feeds_at = None
        self._wake.set()

    def process_ids(self) -> dict[str, int]:
        """The pid of each running ffmpeg by camera id (for diagnostics and benchmarks)."""
        pids = {}
        for camera_id, relay in list(self._relays.items()):
            process = relay.process
            if process is not None and process.pid is not None:
                pids[camera_id] = process.pid
        return pids

    def statuses(self) -> dict[str, StreamStatus]:
        return {k: v for k, v in self.state.streams().items() if k in self._relays}

    # --- the worker ------------------------------------------------------------------------

    def run(self, ctx: WorkerContext) -> None:
        log.info(
            "streams_starting",
            ingest=scrub(self.config.ingest_url or ""),
            mode=self.config.mode,
            max_kbps=self.config.max_kbps,
            uplink_kbps=self.config.uplink_kbps,
        )
        try:
            while not ctx.stopping.is_set():
                self.tick()
                ctx.beat()
                self._wake.wait(self.tick_s)
                self._wake.clear()
        finally:
            self.stop_all()

    def stop_all(self) -> None:
        """Stop every ffmpeg (in parallel: shutdown waits for the slowest, not the sum)."""
        running = [r for r in self._relays.values() if r.process is not None]
        said: list[tuple[_Relay, RelayAction]] = []
        threads = []
        for relay in running:
            relay.life, actions = step(relay.life, Shutdown(), self.rules)
            process, relay.process = relay.process, None
            assert process is not None
            thread = threading.Thread(target=process.stop, args=(STOP_TIMEOUT_S,), daemon=True)
            thread.start()
            threads.append(thread)
            said.extend((relay, a) for a in actions if not isinstance(a, StopProcess))
        for thread in threads:
            thread.join(10.0)
        now = self._clock()
        for relay, action in said:
            self._act(relay, action, now)
        for relay in running:
            self._publish(relay)

    def tick(self) -> None:
        now = self._clock()
        self._drain_commands(now)
        if self._feeds_at is None or now - self._feeds_at >= self.feeds_refresh_s:
            self._refresh_feeds(now)
        self._allocate(now)
        for relay in list(self._relays.values()):
            try:
                self._apply(relay, self._observe(relay, now), now)
            except Exception:  # one camera's surprise must not stop the others
                log.exception("stream_tick_failed", camera_id=relay.feed.camera_id)
            self._publish(relay)

    # --- bookkeeping ---------------------------------------------------------------------

    def _drain_commands(self, now: float) -> None:
        while True:
            try:
                kind, camera_id, seconds = self._commands.get_nowait()
            except queue.Empty:
                return
            relay = self._relays.get(camera_id)
            if relay is None:
                continue
            log.info("stream_command", command=kind, camera_id=camera_id)
            if kind == "stop":
                relay.held = True
                relay.demand_until = None
            elif kind == "start":
                relay.held = False
                until = now + (seconds or self.config.idle_timeout_s)
                relay.demand_until = max(relay.demand_until or until, until)
                self._apply(relay, StartRequested(now), now)
            elif kind == "restart":
                relay.held = False
                if relay.mode == "on_demand":
                    relay.demand_until = now + self.config.idle_timeout_s
                relay.planner.ask_again()
                # Ops asked for it: a running relay says so, and the stream_up that
                # follows closes it.
                self._apply(relay, RestartRequested(now), now)

    def _refresh_feeds(self, now: float) -> None:
        self._feeds_at = now
        try:
            feeds = list(self._feeds())
        except Exception:
            log.exception("stream_feeds_failed")
            return
        current: dict[str, CameraFeed] = {f.camera_id: f for f in feeds}
        for camera_id in list(self._relays):
            if camera_id not in current:
                removed = self._relays.pop(camera_id)
                self._apply(removed, Removed(), now)
                self.state.set_stream(camera_id, StreamStatus(state=StreamState.STOPPED))
        for camera_id, feed in current.items():
            overrides = self.config.cameras.get(camera_id)
            priority = kcp_priority(feed.kcps)
            want = self.config.max_kbps
            mode: str = self.config.mode
            enabled = True
            if overrides is not None:
                priority = overrides.priority if overrides.priority is not None else priority
                want = overrides.max_kbps or want
                mode = overrides.mode or mode
                enabled = overrides.enabled
            relay = self._relays.get(camera_id)
            if relay is None:
                planner = RoutePlanner(self.config, self.scheme, self._encoder, self._wake.set)
                watch = ProgressWatch(self._clock)
                self._relays[camera_id] = _Relay(
                    feed, priority, want, mode, planner, watch, enabled
                )
            else:
                if feed.profiles != relay.feed.profiles:
                    relay.planner.profiles_changed()
                relay.feed, relay.priority, relay.want_kbps = feed, priority, want
                relay.mode, relay.enabled = mode, enabled
        with self._known_lock:
            self._known = set(current)

    def _allocate(self, now: float) -> None:
        demands = [
            Demand(r.feed.camera_id, r.priority, r.want_kbps)
            for r in self._relays.values()
            if wanted(r.mode, r.enabled, r.held, r.demand_until, now)
        ]
        allocations = allocate(demands, self.config.uplink_kbps, self.config.min_kbps)
        for camera_id, relay in self._relays.items():
            before = relay.allocation
            relay.allocation = allocations.get(camera_id)
            if relay.allocation != before and relay.allocation is not None:
                log.info(
                    "stream_budget",
                    camera_id=camera_id,
                    cap_kbps=relay.allocation.cap_kbps,
                    priority=relay.priority,
                    squeezed=relay.allocation.squeezed,
                )

    # --- one camera per tick: observe, step, act ---------------------------------------------

    def _observe(self, relay: _Relay, now: float) -> RelayEvent:
        """What this tick shows of one relay, as one event for its life cycle."""
        allocation = relay.allocation
        if allocation is None:
            return Unwanted("idle" if relay.mode == "on_demand" and not relay.held else "stopped")
        if allocation.cap_kbps is None:
            return Squeezed()
        if not relay.feed.discovered:
            return Undiscovered()
        try:
            route = relay.planner.choose(relay.feed, allocation.cap_kbps, now)
        except NoRoute as error:
            return Unroutable(NoStreamProfile(str(error)).info())
        if route.name is RouteName.SET_ENCODER:
            # The camera is being asked (first start, or a restart command asks again):
            # the relay starts when it answers, as copy or transcode.
            return AskingCamera()
        process = relay.process
        return Routed(
            now=now,
            wall=self._wall(),
            # The KCPs too: the ingest URL may name the camera's KCP.
            key=(
                route.name,
                route.profile,
                route.codec,
                route.cap_kbps,
                relay.feed.login,
                relay.feed.kcps,
            ),
            exit_code=process.poll() if process is not None else None,
            last_advance=relay.watch.last_advance,
        )

    def _apply(self, relay: _Relay, event: RelayEvent, now: float) -> None:
        """Step the relay's life with ``event`` and what its actions report back."""
        pending: list[RelayEvent] = [event]
        while pending:
            current = pending.pop(0)
            relay.life, actions = step(relay.life, current, self.rules)
            if isinstance(current, Failed):
                self._log_failure(relay, current)
            for action in actions:
                follow = self._act(relay, action, now)
                if follow is not None:
                    pending.append(follow)

    def _act(self, relay: _Relay, action: RelayAction, now: float) -> RelayEvent | None:
        camera_id = relay.feed.camera_id
        if isinstance(action, StopProcess):
            self._stop_process(relay, action.reason)
            return None
        if isinstance(action, Terminate):
            process, relay.process = relay.process, None
            tail = ""
            if process is not None:
                process.stop(STOP_TIMEOUT_S)
                tail = process.stderr_tail(20)
            return Failed(now, action.failure, scrub(tail), self._rng())
        if isinstance(action, Launch):
            return self._launch(relay, action, now)
        route = relay.planner.route
        if isinstance(action, AnnounceUp):
            self.state.emit(
                StreamUp(
                    camera_id=camera_id,
                    route=route.name if route else None,
                    cap_kbps=route.cap_kbps if route else None,
                )
            )
            return None
        if isinstance(action, AnnounceDown):
            self.state.emit(
                StreamDown(camera_id=camera_id, reason=action.reason, error=action.error)
            )
            return None
        assert_never(action)

    def _launch(self, relay: _Relay, action: Launch, now: float) -> RelayEvent:
        feed, route = relay.feed, relay.planner.route
        assert route is not None and route.profile.rtsp_uri is not None
        assert self.config.ingest_url is not None
        if feed.login is not None:
            register_secret(feed.login.password)
        plan = feed_relay_plan(self.config, self.store_id, self._token, feed, route)
        output = plan.output_url
        relay.watch.reset()
        process = self._process_factory(
            relay_argv(plan), f"ffmpeg-{feed.camera_id}", relay.watch.on_line
        )
        log.info(
            "stream_starting",
            camera_id=feed.camera_id,
            route=route.name,
            profile=route.profile.token,
            cap_kbps=route.cap_kbps,
            ingest=scrub(strip_userinfo(output)),
            attempt=relay.life.failures + 1,
        )
        try:
            process.start()
        except OSError as error:
            missing = FfmpegMissing(f"cannot run ffmpeg: {error.strerror}").info()
            return Failed(now, missing, "", self._rng())
        relay.process = process
        return Launched(now, action.key)

    def _log_failure(self, relay: _Relay, failed: Failed) -> None:
        life = relay.life
        log.warning(
            "stream_failed",
            camera_id=relay.feed.camera_id,
            code=life.error.code if life.error else failed.failure.code,
            reason=failed.failure.message,
            retry_in_s=round(life.next_start_at - failed.now, 1),
            failures=life.failures,
            stderr=failed.stderr_tail,
        )

    def _stop_process(self, relay: _Relay, reason: str) -> None:
        process, relay.process = relay.process, None
        if process is None:
            return
        if reason == "route_changed":
            route = relay.planner.route
            log.info(
                "stream_route_changed",
                camera_id=relay.feed.camera_id,
                route=route.name if route else None,
                cap_kbps=route.cap_kbps if route else None,
            )
        log.info("stream_stopping", camera_id=relay.feed.camera_id, reason=reason)
        process.stop(STOP_TIMEOUT_S)

    # --- reporting -------------------------------------------------------------------------

    def _publish(self, relay: _Relay) -> None:
        latest, kbps = relay.watch.reading()
        life = relay.life
        running = life.phase is StreamState.UP
        route = relay.planner.route
        cap = relay.allocation.cap_kbps if relay.allocation is not None else None
        self.state.set_stream(
            relay.feed.camera_id,
            StreamStatus(
                state=life.phase,
                route=route.name
                if route is not None and life.phase is not StreamState.STOPPED
                else None,
                bitrate_kbps=round(kbps if kbps is not None else latest.bitrate_kbps or 0, 1)
                if running and latest is not None
                else None,
                fps=latest.fps if running and latest is not None else None,
                cap_kbps=cap,
                restarts_last_hour=life.restarts_last_hour(self._clock()),
                up_since=life.up_since_wall,
                error=life.error,
            ),
        )
