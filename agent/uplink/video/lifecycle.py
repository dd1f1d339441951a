"""One relay's life cycle as a pure state machine: ``step(life, event, rules)``.

The streams worker observes the world (the uplink budget, the camera's route, its ffmpeg's
exit code and progress), turns what it saw into one :data:`RelayEvent` and carries out the
:data:`RelayAction` list that :func:`step` returns. Everything that decides — when a relay
starts, when it is judged failed, how long it waits before the next start, when ops are told
``stream_up`` or ``stream_down`` — is here, on frozen values, with the clock and the random
draw passed in, so that every transition is tested alone (``tests/test_stream_lifecycle.py``).

Phases are :class:`agent.model.StreamState`. An ffmpeg runs only in ``starting`` or ``up``;
``running`` holds the key of what it was started with (route, profile, cap, login), so that
a change of any of them restarts it.

Announcements: ``stream_up`` when a relay comes up; ``stream_down`` when it leaves ``up``,
or — once, until it is next up — when it fails before ever coming up, so a camera that
never works does not flood ops with one event per retry.

Failures wait an exponential backoff with jitter (the agent's one policy,
:mod:`agent.backoff`) and at most ``max_per_hour`` restarts an hour; a relay that stayed up
``HEALTHY_AFTER_S`` starts its next backoff afresh.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from agent.backoff import Backoff
from agent.config.streams import StreamsConfig
from agent.errors import (
    AgentError,
    CameraNotInventoried,
    FfmpegExited,
    NoStreamProfile,
    StreamNoOutput,
    StreamRestartLimit,
    StreamStalled,
    UplinkBudget,
)
from agent.model import ErrorInfo, StreamState

HOUR_S = 3600.0
HEALTHY_AFTER_S = 60.0  # up this long: the next failure starts the backoff afresh
DETAIL_MAX = 300  # characters of an error message that leave the box

# What an undiscovered camera has to stream: nothing (the message routes.choose_route gives).
NO_RTSP_STREAM = "the camera offers no stream with an RTSP URI"

RunKey = Hashable  # what an ffmpeg was started with; a different key means restart it


@dataclass(frozen=True)
class StreamRestartPolicy:
    """How long a failed relay waits: the agent's backoff, and an hourly restart limit."""

    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    max_per_hour: int = 60

    def next_start(
        self, now: float, failures: int, restarts: Sequence[float], draw: float
    ) -> tuple[float, bool]:
        """When the next start may happen, and whether the hourly limit decided it.

        ``draw`` is the random number in [0, 1) that sets the jitter (passed in: pure).
        """
        delay = Backoff(self.backoff_s, self.backoff_max_s).delay(failures, lambda: draw)
        at = now + delay
        recent = [t for t in restarts if now - t < HOUR_S]
        if len(recent) >= self.max_per_hour:
            limited_until = min(recent) + HOUR_S
            if limited_until > at:
                return limited_until, True
        return at, False


@dataclass(frozen=True)
class RelayRules:
    """The settings a relay's life is judged by."""

    restart: StreamRestartPolicy = StreamRestartPolicy()
    input_timeout_s: float = 10.0
    stall_timeout_s: float = 15.0

    @classmethod
    def from_config(cls, config: StreamsConfig) -> RelayRules:
        return cls(
            restart=StreamRestartPolicy(
                config.restart_backoff_s,
                config.restart_backoff_max_s,
                config.max_restarts_per_hour,
            ),
            input_timeout_s=config.input_timeout_s,
            stall_timeout_s=config.stall_timeout_s,
        )


@dataclass(frozen=True)
class RelayLife:
    """Where one relay stands. ``running`` is None when no ffmpeg runs."""

    phase: StreamState = StreamState.STOPPED
    error: ErrorInfo | None = None
    running: RunKey | None = None
    started_at: float | None = None  # when the running ffmpeg was started
    failures: int = 0  # in a row, since the relay was last healthy
    restarts: tuple[float, ...] = ()  # when it was restarted, within the last hour
    starts: int = 0
    next_start_at: float = 0.0
    up_since: float | None = None  # monotonic
    up_since_wall: float | None = None  # epoch seconds, for ops
    announced_down: bool = False  # stream_down said since the last stream_up

    def restarts_last_hour(self, now: float) -> int:
        return len(_recent(self.restarts, now))


# --- events: what the worker observed --------------------------------------------------------


@dataclass(frozen=True)
class Unwanted:
    """The budget gives the camera nothing: stopped (by command or config) or idle
    (an on-demand camera nobody asked for)."""

    reason: Literal["stopped", "idle"]


@dataclass(frozen=True)
class Squeezed:
    """Wanted, but the uplink budget is taken by higher-priority cameras."""


@dataclass(frozen=True)
class Undiscovered:
    """Discovery has not (or no longer) inventoried the camera."""


@dataclass(frozen=True)
class Unroutable:
    """The camera offers nothing ffmpeg can read."""

    error: ErrorInfo


@dataclass(frozen=True)
class AskingCamera:
    """The camera is being asked to re-encode its sub-stream; it starts when it answers."""


@dataclass(frozen=True)
class Routed:
    """A route to stream, and what the running ffmpeg (if any) shows."""

    now: float
    wall: float
    key: RunKey
    exit_code: int | None = None
    last_advance: float | None = None  # when its output last moved on; None: not yet


@dataclass(frozen=True)
class Launched:
    """The ffmpeg asked for by :class:`Launch` is running."""

    now: float
    key: RunKey


@dataclass(frozen=True)
class Failed:
    """The ffmpeg failed (and is stopped) or could not start. ``stderr_tail`` is the end of
    its stderr, already scrubbed; ``draw`` a random number in [0, 1) for the jitter."""

    now: float
    failure: ErrorInfo
    stderr_tail: str = ""
    draw: float = 0.5

    @property
    def stderr_line(self) -> str:
        """The last line ffmpeg wrote: usually the one that says why."""
        lines = self.stderr_tail.strip().splitlines()
        return lines[-1].strip() if lines else ""


@dataclass(frozen=True)
class RestartRequested:
    """Ops' ``restart_stream``: start afresh now, without the backoff."""

    now: float


@dataclass(frozen=True)
class StartRequested:
    """An on-demand start: no backoff wait left."""

    now: float


@dataclass(frozen=True)
class Shutdown:
    """The worker stops (the agent stops or reloads)."""


@dataclass(frozen=True)
class Removed:
    """The camera is no longer in the config."""


RelayEvent = (
    Unwanted
    | Squeezed
    | Undiscovered
    | Unroutable
    | AskingCamera
    | Routed
    | Launched
    | Failed
    | RestartRequested
    | StartRequested
    | Shutdown
    | Removed
)


# --- actions: what the worker does -----------------------------------------------------------


@dataclass(frozen=True)
class StopProcess:
    """Stop the running ffmpeg (it is not a failure)."""

    reason: str


@dataclass(frozen=True)
class Terminate:
    """Stop the running ffmpeg as failed, then report :class:`Failed` with its stderr."""

    failure: ErrorInfo


@dataclass(frozen=True)
class Launch:
    """Start an ffmpeg for ``key``, then report :class:`Launched` (or :class:`Failed`)."""

    key: RunKey


@dataclass(frozen=True)
class AnnounceUp:
    """Tell ops ``stream_up``."""


@dataclass(frozen=True)
class AnnounceDown:
    """Tell ops ``stream_down``."""

    reason: str | None
    error: ErrorInfo | None


RelayAction = StopProcess | Terminate | Launch | AnnounceUp | AnnounceDown
Step = tuple[RelayLife, tuple[RelayAction, ...]]


# --- the machine -----------------------------------------------------------------------------


def _recent(times: tuple[float, ...], now: float) -> tuple[float, ...]:
    return tuple(t for t in times if now - t < HOUR_S)


def _info(error: type[AgentError], message: str) -> ErrorInfo:
    # Built here rather than by AgentError.info(): these messages hold no secret to scrub.
    return ErrorInfo(code=error.code, message=message)


def _move(
    life: RelayLife,
    phase: StreamState,
    error: ErrorInfo | None,
    *,
    announce: bool = False,
    reason: str | None = None,
) -> Step:
    """Enter ``phase``; with ``announce``, tell ops when that is news."""
    previous = life.phase
    life = replace(life, phase=phase, error=error)
    if phase is not StreamState.UP:
        life = replace(life, up_since=None, up_since_wall=None)
    if not announce:
        return life, ()
    if phase is StreamState.UP and previous is not StreamState.UP:
        return replace(life, announced_down=False), (AnnounceUp(),)
    first_failure = (
        phase is StreamState.DOWN
        and previous in (StreamState.STARTING, StreamState.DOWN)
        and not life.announced_down
    )
    if phase is not StreamState.UP and (previous is StreamState.UP or first_failure):
        return replace(life, announced_down=True), (AnnounceDown(reason, error),)
    return life, ()


def _stop(life: RelayLife, reason: str) -> Step:
    """No ffmpeg any more (stopping one if it runs)."""
    if life.running is None:
        return life, ()
    return replace(life, running=None), (StopProcess(reason),)


def _then(first: Step, second: Step) -> Step:
    return second[0], first[1] + second[1]


def _halt(life: RelayLife, reason: str, phase: StreamState, error: ErrorInfo | None) -> Step:
    stopped = _stop(life, reason)
    return _then(stopped, _move(stopped[0], phase, error, announce=True, reason=reason))


def _routed(life: RelayLife, event: Routed, rules: RelayRules) -> Step:
    now = event.now
    actions: tuple[RelayAction, ...] = ()
    if life.running is not None and life.running != event.key:
        life, actions = _stop(life, "route_changed")
        life = replace(life, next_start_at=now)
    if life.running is None:
        if now >= life.next_start_at:
            restarts = life.restarts + ((now,) if life.starts > 0 else ())
            life = replace(life, starts=life.starts + 1, restarts=_recent(restarts, now))
            return life, (*actions, Launch(event.key))
        if life.phase is not StreamState.DOWN:
            return _then(
                (life, actions),
                _move(life, StreamState.DOWN, life.error, announce=True, reason="waiting"),
            )
        return life, actions
    return _supervise(life, event, rules)


def _supervise(life: RelayLife, event: Routed, rules: RelayRules) -> Step:
    """Judge the running ffmpeg: exited, silent since its start, stalled, or up."""
    now = event.now
    started_at = life.started_at if life.started_at is not None else now
    if event.exit_code is not None:
        return life, (Terminate(_info(FfmpegExited, f"ffmpeg exited with code {event.exit_code}")),)
    if event.last_advance is None:
        grace = rules.input_timeout_s + rules.stall_timeout_s
        if now - started_at > grace:
            return life, (
                Terminate(_info(StreamNoOutput, f"no output within {grace:g} s of start")),
            )
        return life, ()
    silent = now - event.last_advance
    if silent > rules.stall_timeout_s:
        message = f"no progress for {silent:.1f} s (camera or ingest stalled)"
        return life, (Terminate(_info(StreamStalled, message)),)
    if life.phase is not StreamState.UP:
        life = replace(life, up_since=now, up_since_wall=event.wall)
        return _move(life, StreamState.UP, None, announce=True)
    if life.up_since is not None and now - life.up_since > HEALTHY_AFTER_S:
        life = replace(life, failures=0)
    return life, ()


def _failed(life: RelayLife, event: Failed, rules: RelayRules) -> Step:
    failures = life.failures + 1
    restarts = _recent(life.restarts, event.now)
    next_start_at, limited = rules.restart.next_start(event.now, failures, restarts, event.draw)
    failure = event.failure
    if limited:
        failure = _info(
            StreamRestartLimit,
            f"{failure.message}; {len(restarts)} restarts in the last hour: waiting",
        )
    detail = f"{failure.message}: {event.stderr_line}" if event.stderr_line else failure.message
    error = ErrorInfo(code=failure.code, message=detail[:DETAIL_MAX])
    life = replace(
        life,
        running=None,
        failures=failures,
        restarts=restarts,
        next_start_at=next_start_at,
    )
    return _move(life, StreamState.DOWN, error, announce=True, reason=failure.code)


def step(life: RelayLife, event: RelayEvent, rules: RelayRules) -> Step:
    """Advance one relay by one event: its new life and what the worker must do, in order."""
    if isinstance(event, Unwanted):
        return _halt(life, event.reason, StreamState.STOPPED, None)
    if isinstance(event, Squeezed):
        budget = _info(
            UplinkBudget, "paused: the uplink budget is taken by higher-priority cameras"
        )
        return _halt(life, "paused_for_uplink", StreamState.PAUSED, budget)
    if isinstance(event, Undiscovered):
        if life.phase in (StreamState.STOPPED, StreamState.WAITING):
            # Not inventoried yet (the agent just started): nothing is down, we wait.
            waiting = _info(CameraNotInventoried, "waiting for discovery to inventory the camera")
            return _move(life, StreamState.WAITING, waiting)
        return _halt(life, "no_route", StreamState.DOWN, _info(NoStreamProfile, NO_RTSP_STREAM))
    if isinstance(event, Unroutable):
        return _halt(life, "no_route", StreamState.DOWN, event.error)
    if isinstance(event, AskingCamera):
        stopped = _stop(life, "set_encoder")
        if stopped[0].phase is StreamState.STARTING:
            return stopped
        return _then(stopped, _move(stopped[0], StreamState.STARTING, stopped[0].error))
    if isinstance(event, Routed):
        return _routed(life, event, rules)
    if isinstance(event, Launched):
        life = replace(life, running=event.key, started_at=event.now)
        if life.phase is StreamState.UP:
            return life, ()
        return _move(life, StreamState.STARTING, life.error)
    if isinstance(event, Failed):
        return _failed(life, event, rules)
    if isinstance(event, RestartRequested):
        life = replace(life, failures=0, next_start_at=event.now)
        if life.running is None:
            return life, ()
        return _halt(life, "restart_command", StreamState.STARTING, None)
    if isinstance(event, StartRequested):
        return replace(life, next_start_at=min(life.next_start_at, event.now)), ()
    if isinstance(event, Shutdown):
        if life.running is None:
            return life, ()
        if life.phase in (StreamState.UP, StreamState.STARTING):
            return _halt(life, "agent_stopping", StreamState.STOPPED, None)
        return _stop(life, "agent_stopping")
    # Removed: forget everything; the worker drops the relay.
    return RelayLife(), _stop(life, "camera_removed")[1]


__all__ = [
    "HEALTHY_AFTER_S",
    "HOUR_S",
    "AnnounceDown",
    "AnnounceUp",
    "AskingCamera",
    "Failed",
    "Launch",
    "Launched",
    "RelayAction",
    "RelayEvent",
    "RelayLife",
    "RelayRules",
    "Removed",
    "RestartRequested",
    "Routed",
    "Shutdown",
    "Squeezed",
    "StartRequested",
    "StopProcess",
    "StreamRestartPolicy",
    "Terminate",
    "Undiscovered",
    "Unroutable",
    "Unwanted",
    "step",
]
