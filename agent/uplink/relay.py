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

The one slow call a tick could make, asking a camera over ONVIF to re-encode its
sub-stream (the set_encoder route, seconds against a slow camera), runs on a short-lived
thread of its own; the loop picks its answer up on a later tick and starts the ffmpeg
itself, so one slow camera never holds up the supervision of the others.

A relay is restarted when its ffmpeg exits (for any reason: ffmpeg can exit 0 after an
input timeout) or when its output stops advancing for ``stall_timeout_s`` (a frozen camera,
a stuck ingest), after an exponential backoff with jitter, and at most
``max_restarts_per_hour`` times an hour. Nothing here needs the MQTT broker.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

import structlog

from agent.config.streams import StreamsConfig
from agent.errors import (
    AgentError,
    CameraNotInventoried,
    CameraTimeout,
    CommandRejected,
    FfmpegExited,
    FfmpegMissing,
    NoStreamProfile,
    StreamError,
    StreamNoOutput,
    StreamRestartLimit,
    StreamStalled,
    UplinkBudget,
)
from agent.model import (
    Camera,
    CameraLogin,
    EncoderControl,
    EncoderRequest,
    ErrorInfo,
    LoginResolver,
    MediaProfile,
    RouteName,
    StreamDown,
    StreamState,
    StreamStatus,
    StreamUp,
    with_login,
)
from agent.scrub import register_secret, scrub, strip_userinfo
from agent.state import AgentState
from agent.subproc import ManagedProcess
from agent.supervisor import WorkerContext
from agent.uplink.bandwidth import Allocation, Demand, allocate, kcp_priority, primary_kcp
from agent.uplink.ffmpeg_args import RelayPlan, TranscodeSettings, ingest_scheme, relay_argv
from agent.uplink.progress import Progress, ProgressParser, RateMeter, advanced
from agent.uplink.routes import NoRoute, Route, choose_route

if TYPE_CHECKING:
    from agent.config.cameras import EnrolledCamera

log = structlog.get_logger(__name__)

HOUR_S = 3600.0
HEALTHY_AFTER_S = 60.0  # up this long: the next failure starts the backoff afresh
# A set_encoder request still unanswered after this long is given up (transcode instead).
# onvif_encoder_setter bounds its own SOAP exchange well below it; this is the backstop.
SET_ENCODER_DEADLINE_S = 30.0


# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraFeed:
    """What the relay needs to know about one enrolled camera."""

    camera_id: str
    kcps: tuple[str, ...] = ()
    camera: Camera | None = None  # None until discovery has seen the camera at all
    login: CameraLogin | None = None

    @property
    def profiles(self) -> tuple[MediaProfile, ...]:
        return self.camera.profiles if self.camera is not None else ()

    @property
    def discovered(self) -> bool:
        return self.camera is not None


FeedSource = Callable[[], Sequence[CameraFeed]]


class ProcessLike(Protocol):
    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...
    def poll(self) -> int | None: ...
    def stop(self, timeout_s: float = 5.0) -> int | None: ...
    def stderr_tail(self, lines: int | None = None) -> str: ...


ProcessFactory = Callable[[list[str], str, Callable[[str], None]], ProcessLike]


def _managed_process(argv: list[str], name: str, on_line: Callable[[str], None]) -> ProcessLike:
    return ManagedProcess(argv, name, on_stdout_line=on_line, stderr_lines=100)


# --- pure helpers ----------------------------------------------------------------------------


def render_ingest_url(
    template: str, store_id: str, camera_id: str, kcp: str | None, token: str | None
) -> str:
    """The ingest URL of one camera; values are percent-encoded so none can break the URL."""
    values = {
        "store_id": store_id,
        "camera_id": camera_id,
        "kcp": kcp or "none",
        "token": token or "",
    }
    return template.format(**{k: quote(v, safe="") for k, v in values.items()})


@dataclass(frozen=True)
class RestartPolicy:
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    max_per_hour: int = 60
    jitter: float = 0.2

    def next_start(
        self, now: float, failures: int, restarts: Sequence[float], rng: Callable[[], float]
    ) -> tuple[float, bool]:
        """When the next start may happen, and whether the hourly limit decided it."""
        base = min(self.backoff_max_s, self.backoff_s * 2 ** max(0, failures - 1))
        at = now + base * (1.0 + self.jitter * (2.0 * rng() - 1.0))
        recent = [t for t in restarts if now - t < HOUR_S]
        if len(recent) >= self.max_per_hour:
            limited_until = min(recent) + HOUR_S
            if limited_until > at:
                return limited_until, True
        return at, False


def wanted(mode: str, enabled: bool, held: bool, demand_until: float | None, now: float) -> bool:
    """Whether a camera should be streaming now (before the uplink budget has its say)."""
    if not enabled or held:
        return False
    if mode == "on_demand":
        return demand_until is not None and now < demand_until
    return True


# --- one camera ------------------------------------------------------------------------------


@dataclass
class _Relay:
    feed: CameraFeed
    priority: int
    want_kbps: int
    mode: str
    enabled: bool = True
    held: bool = False  # stopped by command
    demand_until: float | None = None
    allocation: Allocation | None = None
    route: Route | None = None
    route_error: ErrorInfo | None = None
    encoder_failed: bool = False
    encoder_profile: MediaProfile | None = None  # the sub-stream after set_encoder
    encoder_job: Future[MediaProfile] | None = None  # the camera being asked, off the loop
    encoder_job_at: float = 0.0
    process: ProcessLike | None = None
    started_at: float | None = None
    running_key: tuple[object, ...] | None = None
    failures: int = 0
    restarts: deque[float] = field(default_factory=deque)
    starts: int = 0
    next_start_at: float = 0.0
    up_since_wall: float | None = None
    up_since: float | None = None
    announced_down: bool = False
    error: ErrorInfo | None = None
    state: StreamState = StreamState.STOPPED
    # Written by the process's stdout reader thread, read by the manager: under the lock.
    lock: threading.Lock = field(default_factory=threading.Lock)
    parser: ProgressParser = field(default_factory=ProgressParser)
    latest: Progress | None = None
    last_advance: float | None = None
    meter: RateMeter = field(default_factory=RateMeter)


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
        process_factory: ProcessFactory = _managed_process,
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
        self.policy = RestartPolicy(
            config.restart_backoff_s, config.restart_backoff_max_s, config.max_restarts_per_hour
        )
        self._relays: dict[str, _Relay] = {}
        self._known: set[str] = set()
        self._known_lock = threading.Lock()
        self._commands: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._feeds_at: float | None = None

    # --- commands (any thread) -----------------------------------------------------------

    def _command(self, kind: str, camera_id: str) -> None:
        with self._known_lock:
            known = camera_id in self._known or (not self._known and self._feeds_at is None)
        if not known:
            raise CommandRejected(f"no stream for camera {camera_id}")
        self._commands.put((kind, camera_id))
        self._wake.set()

    def restart(self, camera_id: str) -> None:
        """Restart a camera's relay now (clears its backoff and any stop)."""
        self._command("restart", camera_id)

    def start_on_demand(self, camera_id: str) -> None:
        """Stream a camera for ``idle_timeout_s`` from now (renewed by each call)."""
        self._command("start", camera_id)

    def stop(self, camera_id: str) -> None:
        """Stop a camera's stream until ``start_on_demand`` or ``restart``."""
        self._command("stop", camera_id)

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
        threads = []
        for relay in running:
            process = relay.process
            assert process is not None
            thread = threading.Thread(target=process.stop, args=(3.0,), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join(10.0)
        for relay in running:
            relay.process = None
            relay.running_key = None
            if relay.state in (StreamState.UP, StreamState.STARTING):
                self._set_state(
                    relay, StreamState.STOPPED, None, announce=True, reason="agent_stopping"
                )
            self._publish(relay)

    def tick(self) -> None:
        now = self._clock()
        self._drain_commands(now)
        if self._feeds_at is None or now - self._feeds_at >= self.feeds_refresh_s:
            self._refresh_feeds(now)
        self._allocate(now)
        for relay in list(self._relays.values()):
            try:
                self._step(relay, now)
            except Exception:  # one camera's surprise must not stop the others
                log.exception("stream_tick_failed", camera_id=relay.feed.camera_id)
            self._publish(relay)

    # --- bookkeeping ---------------------------------------------------------------------

    def _drain_commands(self, now: float) -> None:
        while True:
            try:
                kind, camera_id = self._commands.get_nowait()
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
                relay.demand_until = now + self.config.idle_timeout_s
                relay.next_start_at = min(relay.next_start_at, now)
            elif kind == "restart":
                relay.held = False
                if relay.mode == "on_demand":
                    relay.demand_until = now + self.config.idle_timeout_s
                relay.failures = 0
                relay.encoder_failed = False
                relay.next_start_at = now
                if relay.process is not None:
                    # Ops asked for it: say so, and the stream_up that follows closes it.
                    self._stop_process(relay, "restart_command")
                    self._set_state(
                        relay, StreamState.STARTING, None, announce=True, reason="restart_command"
                    )

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
                self._stop_process(removed, "camera_removed")
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
                self._relays[camera_id] = _Relay(feed, priority, want, mode, enabled)
            else:
                if feed.profiles != relay.feed.profiles:
                    relay.encoder_profile = None
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

    # --- one camera per tick -----------------------------------------------------------------

    def _step(self, relay: _Relay, now: float) -> None:
        allocation = relay.allocation
        if allocation is None or allocation.cap_kbps is None:
            reason = (
                "paused_for_uplink"
                if allocation is not None
                else ("idle" if relay.mode == "on_demand" and not relay.held else "stopped")
            )
            self._stop_process(relay, reason)
            if allocation is not None:
                self._set_state(
                    relay,
                    StreamState.PAUSED,
                    UplinkBudget(
                        "paused: the uplink budget is taken by higher-priority cameras"
                    ).info(),
                    announce=True,
                    reason=reason,
                )
            else:
                self._set_state(relay, StreamState.STOPPED, None, announce=True, reason=reason)
            return
        if not relay.feed.discovered and relay.state in (StreamState.STOPPED, StreamState.WAITING):
            # Not inventoried yet (the agent just started): nothing is down, we wait.
            self._set_state(
                relay,
                StreamState.WAITING,
                CameraNotInventoried("waiting for discovery to inventory the camera").info(),
            )
            return
        route = self._route(relay, allocation.cap_kbps, now)
        if route is None:
            self._stop_process(relay, "no_route")
            self._set_state(
                relay, StreamState.DOWN, relay.route_error, announce=True, reason="no_route"
            )
            return
        if route.name is RouteName.SET_ENCODER:
            # The camera is being asked (first start, or a restart command asks again):
            # the relay starts when it answers, as copy or transcode.
            self._stop_process(relay, "set_encoder")
            if relay.state is not StreamState.STARTING:
                self._set_state(relay, StreamState.STARTING, relay.error)
            return
        key = (route.name, route.profile, route.codec, route.cap_kbps, relay.feed.login)
        if relay.process is not None and relay.running_key != key:
            log.info(
                "stream_route_changed",
                camera_id=relay.feed.camera_id,
                route=route.name,
                cap_kbps=route.cap_kbps,
            )
            self._stop_process(relay, "route_changed")
            relay.next_start_at = now
        if relay.process is None:
            if now >= relay.next_start_at:
                self._start(relay, route, key, now)
            elif relay.state is not StreamState.DOWN:
                self._set_state(
                    relay, StreamState.DOWN, relay.error, announce=True, reason="waiting"
                )
            return
        self._supervise(relay, now)

    def _choose(self, relay: _Relay, profiles: list[MediaProfile], cap_kbps: int) -> Route:
        camera = relay.feed.camera
        return choose_route(
            profiles,
            cap_kbps,
            self.scheme,
            set_encoder=self.config.set_encoder
            and self._encoder is not None
            and camera is not None
            and bool(camera.xaddr),
            encoder_failed=relay.encoder_failed,
            transcode_height=self.config.transcode_height,
            transcode_fps=self.config.transcode_fps,
        )

    def _route(self, relay: _Relay, cap_kbps: int, now: float) -> Route | None:
        """The relay's route now; a ``set_encoder`` route means the camera is being asked."""
        profiles = list(relay.feed.profiles)
        if relay.encoder_profile is not None:
            profiles = [
                relay.encoder_profile if p.token == relay.encoder_profile.token else p
                for p in profiles
            ]
        try:
            route = self._choose(relay, profiles, cap_kbps)
            if route.name is RouteName.SET_ENCODER:
                route = self._encoder_step(relay, route, profiles, cap_kbps, now)
        except NoRoute as error:
            relay.route_error = NoStreamProfile(str(error)).info()
            return None
        if relay.route is None or (relay.route.name, relay.route.profile.token) != (
            route.name,
            route.profile.token,
        ):
            log.info(
                "stream_route",
                camera_id=relay.feed.camera_id,
                route=route.name,
                profile=route.profile.token,
                cap_kbps=cap_kbps,
                reason=route.reason,
            )
        relay.route = route
        relay.route_error = None
        return route

    def _encoder_step(
        self,
        relay: _Relay,
        route: Route,
        profiles: list[MediaProfile],
        cap_kbps: int,
        now: float,
    ) -> Route:
        """Ask the camera (once, off the loop); its answer decides between copy and transcode.

        Returns ``route`` itself while the camera has not answered.
        """
        assert route.encoder is not None
        job = relay.encoder_job
        if job is None:
            relay.encoder_job = self._ask_camera(relay.feed, route.encoder)
            relay.encoder_job_at = now
            log.info(
                "stream_set_encoder",
                camera_id=relay.feed.camera_id,
                profile=route.encoder.profile_token,
                kbps=route.encoder.kbps,
            )
            return route
        updated: MediaProfile | None = None
        if not job.done():
            if now - relay.encoder_job_at < SET_ENCODER_DEADLINE_S:
                return route
            log.warning(
                "stream_set_encoder_failed",
                camera_id=relay.feed.camera_id,
                error=CameraTimeout(f"no answer within {SET_ENCODER_DEADLINE_S:g} s").to_dict(),
            )
        else:
            try:
                updated = job.result()
            except AgentError as error:
                log.warning(
                    "stream_set_encoder_failed",
                    camera_id=relay.feed.camera_id,
                    error=error.to_dict(),
                )
            except Exception:
                log.exception("stream_set_encoder_failed", camera_id=relay.feed.camera_id)
        relay.encoder_job = None
        if updated is not None:
            relay.encoder_profile = replace(
                updated, rtsp_uri=updated.rtsp_uri or route.profile.rtsp_uri
            )
            profiles = [relay.encoder_profile if p.token == updated.token else p for p in profiles]
        relay.encoder_failed = True  # copy now if it fits, else transcode: never ask again
        return self._choose(relay, profiles, cap_kbps)

    def _ask_camera(self, feed: CameraFeed, request: EncoderRequest) -> Future[MediaProfile]:
        """Ask the camera side on a thread of its own; the future holds its answer.

        The thread only talks SOAP: it never starts a process (see the module docstring).
        """
        encoder, camera = self._encoder, feed.camera
        assert encoder is not None and camera is not None
        login = feed.login or CameraLogin("", None)
        future: Future[MediaProfile] = Future()

        def ask() -> None:
            try:
                future.set_result(encoder.set_sub_stream(camera, login, request))
            except BaseException as error:  # delivered to the loop through the future
                future.set_exception(error)
            finally:
                self._wake.set()  # pick the answer up now rather than at the next tick

        threading.Thread(target=ask, name=f"set-encoder-{feed.camera_id}", daemon=True).start()
        return future

    def _start(self, relay: _Relay, route: Route, key: tuple[object, ...], now: float) -> None:
        feed = relay.feed
        assert route.profile.rtsp_uri is not None and self.config.ingest_url is not None
        if feed.login is not None:
            register_secret(feed.login.password)
        kcp = primary_kcp(feed.kcps)
        output = render_ingest_url(
            self.config.ingest_url,
            self.store_id,
            feed.camera_id,
            kcp.value if kcp else None,
            self._token,
        )
        plan = RelayPlan(
            source_url=with_login(route.profile.rtsp_uri, feed.login),
            output_url=output,
            kind="copy" if route.name is RouteName.COPY else "transcode",
            codec="h265" if route.codec == "h265" else "h264",
            transcode=TranscodeSettings(
                cap_kbps=route.cap_kbps,
                fps=self.config.transcode_fps,
                height=self.config.transcode_height,
                preset=self.config.transcode_preset,
            )
            if route.name is RouteName.TRANSCODE
            else None,
            input_timeout_s=self.config.input_timeout_s,
            output_timeout_s=self.config.output_timeout_s,
            ffmpeg=self.config.ffmpeg,
        )
        argv = relay_argv(plan)
        with relay.lock:
            relay.parser = ProgressParser()
            relay.latest = None
            relay.last_advance = None
            relay.meter.reset()
        process = self._process_factory(
            argv, f"ffmpeg-{feed.camera_id}", self._progress_handler(relay)
        )
        if relay.starts > 0:
            relay.restarts.append(now)
        relay.starts += 1
        while relay.restarts and now - relay.restarts[0] >= HOUR_S:
            relay.restarts.popleft()
        log.info(
            "stream_starting",
            camera_id=feed.camera_id,
            route=route.name,
            profile=route.profile.token,
            cap_kbps=route.cap_kbps,
            ingest=scrub(strip_userinfo(output)),
            attempt=relay.failures + 1,
        )
        try:
            process.start()
        except OSError as error:
            self._fail(relay, now, FfmpegMissing(f"cannot run ffmpeg: {error.strerror}"))
            return
        relay.process = process
        relay.started_at = now
        relay.running_key = key
        if relay.state is not StreamState.UP:
            self._set_state(relay, StreamState.STARTING, relay.error)

    def _progress_handler(self, relay: _Relay) -> Callable[[str], None]:
        clock = self._clock

        def on_line(line: str) -> None:
            with relay.lock:
                block = relay.parser.feed(line)
                if block is None:
                    return
                moment = clock()
                if advanced(relay.latest, block):
                    relay.last_advance = moment
                if block.total_size is not None:
                    relay.meter.add(moment, block.total_size)
                relay.latest = block

        return on_line

    def _supervise(self, relay: _Relay, now: float) -> None:
        process = relay.process
        assert process is not None and relay.started_at is not None
        code = process.poll()
        with relay.lock:
            last_advance = relay.last_advance
        if code is not None:
            self._fail(relay, now, FfmpegExited(f"ffmpeg exited with code {code}"))
            return
        if last_advance is None:
            grace = self.config.input_timeout_s + self.config.stall_timeout_s
            if now - relay.started_at > grace:
                self._fail(relay, now, StreamNoOutput(f"no output within {grace:g} s of start"))
            return
        if now - last_advance > self.config.stall_timeout_s:
            self._fail(
                relay,
                now,
                StreamStalled(
                    f"no progress for {now - last_advance:.1f} s (camera or ingest stalled)"
                ),
            )
            return
        if relay.state is not StreamState.UP:
            relay.up_since = now
            relay.up_since_wall = self._wall()
            relay.error = None
            self._set_state(relay, StreamState.UP, None, announce=True)
        elif relay.up_since is not None and now - relay.up_since > HEALTHY_AFTER_S:
            relay.failures = 0

    def _fail(self, relay: _Relay, now: float, error: StreamError) -> None:
        process = relay.process
        tail = ""
        if process is not None:
            process.stop(3.0)
            tail = process.stderr_tail(20)
        relay.process = None
        relay.running_key = None
        relay.failures += 1
        relay.next_start_at, limited = self.policy.next_start(
            now, relay.failures, list(relay.restarts), self._rng
        )
        if limited:
            error = StreamRestartLimit(
                f"{error.message}; {len(relay.restarts)} restarts in the last hour: waiting"
            )
        last_line = scrub(tail.strip().splitlines()[-1]) if tail.strip() else ""
        detail = f"{error.message}: {last_line}" if last_line else error.message
        relay.error = ErrorInfo(code=error.code, message=scrub(detail)[:300])
        log.warning(
            "stream_failed",
            camera_id=relay.feed.camera_id,
            code=error.code,
            reason=error.message,
            retry_in_s=round(relay.next_start_at - now, 1),
            failures=relay.failures,
            stderr=scrub(tail),
        )
        self._set_state(relay, StreamState.DOWN, relay.error, announce=True, reason=error.code)

    def _stop_process(self, relay: _Relay, reason: str) -> None:
        if relay.process is None:
            return
        log.info("stream_stopping", camera_id=relay.feed.camera_id, reason=reason)
        relay.process.stop(3.0)
        relay.process = None
        relay.running_key = None

    # --- reporting -------------------------------------------------------------------------

    def _set_state(
        self,
        relay: _Relay,
        state: StreamState,
        error: ErrorInfo | None,
        *,
        announce: bool = False,
        reason: str | None = None,
    ) -> None:
        """Move the relay to ``state``; with ``announce``, tell ops when that is news:
        ``stream_up`` when it comes up, ``stream_down`` when it leaves ``up`` (or fails
        before it ever came up, once)."""
        previous = relay.state
        relay.state = state
        relay.error = error
        if state is not StreamState.UP:
            relay.up_since = None
            relay.up_since_wall = None
        if not announce:
            return
        if state is StreamState.UP and previous is not StreamState.UP:
            relay.announced_down = False
            self.state.emit(
                StreamUp(
                    camera_id=relay.feed.camera_id,
                    route=relay.route.name if relay.route else None,
                    cap_kbps=relay.route.cap_kbps if relay.route else None,
                )
            )
        elif state is not StreamState.UP and (
            previous is StreamState.UP
            or (
                previous in (StreamState.STARTING, StreamState.DOWN)
                and not relay.announced_down
                and state is StreamState.DOWN
            )
        ):
            relay.announced_down = True
            self.state.emit(StreamDown(camera_id=relay.feed.camera_id, reason=reason, error=error))

    def _publish(self, relay: _Relay) -> None:
        with relay.lock:
            latest = relay.latest
            kbps = relay.meter.kbps()
        running = relay.state is StreamState.UP
        now = self._clock()
        while relay.restarts and now - relay.restarts[0] >= HOUR_S:
            relay.restarts.popleft()
        cap = relay.allocation.cap_kbps if relay.allocation is not None else None
        self.state.set_stream(
            relay.feed.camera_id,
            StreamStatus(
                state=relay.state,
                route=relay.route.name
                if relay.route is not None and relay.state is not StreamState.STOPPED
                else None,
                bitrate_kbps=round(kbps if kbps is not None else latest.bitrate_kbps or 0, 1)
                if running and latest is not None
                else None,
                fps=latest.fps if running and latest is not None else None,
                cap_kbps=cap,
                restarts_last_hour=len(relay.restarts),
                up_since=relay.up_since_wall,
                error=relay.error,
            ),
        )


# --- wiring ----------------------------------------------------------------------------------


def feeds_from_state(
    enrolled: Iterable[EnrolledCamera], state: AgentState, logins: LoginResolver
) -> FeedSource:
    """A feed source over the enrolled cameras and what discovery put in ``state``.

    A camera's profiles, ONVIF addresses and clock skew come from its
    :class:`agent.model.Camera` record (discovery measured the skew: Hikvision-like
    cameras refuse a skewed login); its login from the one credential resolver.
    """
    cameras = list(enrolled)

    def build() -> list[CameraFeed]:
        known = state.cameras()
        return [
            CameraFeed(
                camera_id=camera.id,
                kcps=tuple(str(k.kcp) for k in camera.kcps),
                camera=known.get(camera.id),
                login=logins(camera.id),
            )
            for camera in cameras
        ]

    return build


__all__ = [
    "CameraFeed",
    "RestartPolicy",
    "StreamManager",
    "feeds_from_state",
    "render_ingest_url",
]
