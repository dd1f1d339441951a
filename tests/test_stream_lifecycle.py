"""A relay's life cycle alone: the pure ``step`` over every phase and every event.

No process, no thread, no clock: lives and events are values. The table tests state what
each event does from each phase; the invariant test runs every event from every valid life;
the walks drive one relay through long random and adversarial histories.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from agent.config.streams import StreamsConfig
from agent.model import ErrorInfo, StreamState
from agent.uplink.video.lifecycle import (
    HEALTHY_AFTER_S,
    HOUR_S,
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
    StreamRestartPolicy,
    Terminate,
    Undiscovered,
    Unroutable,
    Unwanted,
    step,
)

S = StreamState
RULES = RelayRules(StreamRestartPolicy(1.0, 60.0, 60), input_timeout_s=10.0, stall_timeout_s=15.0)
NOW = 1000.0
KEY = ("copy", "sub", 512)
OTHER_KEY = ("transcode", "sub", 256)
NO_ROUTE = ErrorInfo(code="no_profile", message="the camera offers no stream with an RTSP URI")
EXITED = ErrorInfo(code="ffmpeg_exited", message="ffmpeg exited with code 1")
RUNNING = (S.STARTING, S.UP)


def kinds(actions: tuple[RelayAction, ...]) -> list[str]:
    return [type(a).__name__ for a in actions]


def life_in(phase: StreamState, *, running: bool = False, **changes: object) -> RelayLife:
    """A valid life in ``phase``: running ones were started 5 s ago, up ones are up."""
    base = RelayLife(
        phase=phase,
        running=KEY if running else None,
        started_at=NOW - 5 if running else None,
        up_since=NOW - 5 if phase is S.UP else None,
        up_since_wall=1.7e9 if phase is S.UP else None,
        starts=1 if running else 0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def routed(**changes: object) -> Routed:
    event = Routed(now=NOW, wall=1.7e9 + 5, key=KEY, exit_code=None, last_advance=NOW - 1)
    return replace(event, **changes)  # type: ignore[arg-type]


# --- the budget and the route decide -----------------------------------------------------------


PHASES_AND_RUNNING = [(phase, False) for phase in S] + [(phase, True) for phase in RUNNING]


@pytest.mark.parametrize(("phase", "running"), PHASES_AND_RUNNING)
@pytest.mark.parametrize("reason", ["stopped", "idle"])
def test_unwanted_stops_and_says_so_only_when_leaving_up(
    phase: StreamState, running: bool, reason: str
) -> None:
    life, actions = step(life_in(phase, running=running), Unwanted(reason), RULES)  # type: ignore[arg-type]
    assert (life.phase, life.running, life.error, life.up_since) == (S.STOPPED, None, None, None)
    expected = (["StopProcess"] if running else []) + (["AnnounceDown"] if phase is S.UP else [])
    assert kinds(actions) == expected
    if running:
        assert actions[0] == StopProcess(reason)
    if phase is S.UP:
        assert actions[-1] == AnnounceDown(reason, None)


@pytest.mark.parametrize("phase", list(S))
def test_squeezed_pauses_with_the_budget_error(phase: StreamState) -> None:
    running = phase in RUNNING
    life, actions = step(life_in(phase, running=running), Squeezed(), RULES)
    assert life.phase is S.PAUSED and life.running is None
    assert life.error is not None and life.error.code == "uplink_budget"
    expected = (["StopProcess"] if running else []) + (["AnnounceDown"] if phase is S.UP else [])
    assert kinds(actions) == expected


@pytest.mark.parametrize("phase", list(S))
def test_undiscovered_waits_quietly_at_start_and_is_no_route_later(phase: StreamState) -> None:
    running = phase in RUNNING
    life, actions = step(life_in(phase, running=running), Undiscovered(), RULES)
    if phase in (S.STOPPED, S.WAITING):
        assert life.phase is S.WAITING and actions == ()
        assert life.error is not None and life.error.code == "camera_unknown"
        return
    assert life.phase is S.DOWN and life.error == NO_ROUTE
    said = [a for a in actions if isinstance(a, AnnounceDown)]
    assert bool(said) == (phase in (S.UP, S.STARTING, S.DOWN))
    assert all(a.reason == "no_route" for a in said)


@pytest.mark.parametrize("phase", list(S))
@pytest.mark.parametrize("announced", [False, True])
def test_unroutable_is_down_announced_once(phase: StreamState, announced: bool) -> None:
    running = phase in RUNNING
    start = life_in(phase, running=running, announced_down=announced and phase is not S.UP)
    life, actions = step(start, Unroutable(NO_ROUTE), RULES)
    assert (life.phase, life.error, life.running) == (S.DOWN, NO_ROUTE, None)
    announce = phase is S.UP or (phase in (S.STARTING, S.DOWN) and not start.announced_down)
    assert kinds(actions) == (["StopProcess"] if running else []) + (
        ["AnnounceDown"] if announce else []
    )
    assert life.announced_down == (announce or start.announced_down)


@pytest.mark.parametrize("phase", list(S))
def test_asking_the_camera_is_starting_without_an_ffmpeg(phase: StreamState) -> None:
    running = phase in RUNNING
    life, actions = step(life_in(phase, running=running), AskingCamera(), RULES)
    assert life.phase is S.STARTING and life.running is None
    assert kinds(actions) == (["StopProcess"] if running else [])
    if running:
        assert actions[0] == StopProcess("set_encoder")


# --- starting, supervising, failing ------------------------------------------------------------


@pytest.mark.parametrize("phase", [S.STOPPED, S.WAITING, S.DOWN, S.PAUSED, S.STARTING])
def test_a_due_relay_launches_and_counts_restarts(phase: StreamState) -> None:
    first, actions = step(life_in(phase), routed(), RULES)
    assert actions == (Launch(KEY),)
    assert (first.starts, first.restarts, first.running) == (1, (), None)  # not yet running
    first, _ = step(first, Launched(NOW, KEY), RULES)
    assert (first.phase, first.running, first.started_at) == (S.STARTING, KEY, NOW)
    # Every later start is a restart, remembered for an hour.
    again, actions = step(replace(first, running=None), routed(now=NOW + 5), RULES)
    assert actions == (Launch(KEY),) and again.restarts == (NOW + 5,)
    later, _ = step(replace(again, restarts=(NOW - HOUR_S,)), routed(now=NOW + 6), RULES)
    assert later.restarts == (NOW + 6,)  # an hour-old restart is forgotten


@pytest.mark.parametrize("phase", [S.STOPPED, S.STARTING, S.DOWN, S.PAUSED, S.WAITING])
def test_a_relay_in_backoff_waits_down(phase: StreamState) -> None:
    waiting = life_in(phase, next_start_at=NOW + 10)
    life, actions = step(waiting, routed(), RULES)
    assert life.phase is S.DOWN and not any(isinstance(a, Launch) for a in actions)
    announced = [a for a in actions if isinstance(a, AnnounceDown)]
    assert bool(announced) == (phase is S.STARTING)
    assert all(a.reason == "waiting" for a in announced)
    assert step(life, routed(), RULES) == (life, ())  # nothing new while it waits


def test_launched_while_up_stays_up_quietly() -> None:
    """A route change restarts ffmpeg under an up stream: ops see no blip."""
    up = life_in(S.UP, running=True)
    life, actions = step(up, routed(key=OTHER_KEY), RULES)
    assert actions == (StopProcess("route_changed"), Launch(OTHER_KEY))
    assert life.phase is S.UP and life.next_start_at == NOW
    life, actions = step(life, Launched(NOW, OTHER_KEY), RULES)
    assert (life.phase, life.running, actions) == (S.UP, OTHER_KEY, ())
    assert life.up_since == up.up_since


def test_route_change_ignores_the_backoff() -> None:
    starting = life_in(S.STARTING, running=True, next_start_at=NOW + 50)
    _, actions = step(starting, routed(key=OTHER_KEY), RULES)
    assert kinds(actions) == ["StopProcess", "Launch"]


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (routed(exit_code=0), "ffmpeg_exited"),  # ffmpeg can exit 0 after an input timeout
        (routed(exit_code=1), "ffmpeg_exited"),
        (routed(last_advance=NOW - 15.1), "stalled"),
    ],
)
@pytest.mark.parametrize("phase", RUNNING)
def test_a_failing_ffmpeg_is_terminated(event: Routed, code: str, phase: StreamState) -> None:
    running = life_in(phase, running=True)
    life, actions = step(running, event, RULES)
    assert life == running
    assert len(actions) == 1 and isinstance(actions[0], Terminate)
    assert actions[0].failure.code == code


def test_no_output_is_judged_after_both_timeouts() -> None:
    started = life_in(S.STARTING, running=True, started_at=NOW - 25)
    assert step(started, routed(last_advance=None), RULES) == (started, ())
    late = replace(started, started_at=NOW - 25.1)
    _, actions = step(late, routed(last_advance=None), RULES)
    assert actions == (
        Terminate(ErrorInfo(code="no_output", message="no output within 25 s of start")),
    )


def test_progress_brings_it_up_once() -> None:
    starting = life_in(S.STARTING, running=True, announced_down=True, failures=3)
    life, actions = step(starting, routed(), RULES)
    assert actions == (AnnounceUp(),)
    assert (life.phase, life.up_since, life.up_since_wall, life.error) == (
        S.UP,
        NOW,
        1.7e9 + 5,
        None,
    )
    assert not life.announced_down and life.failures == 3  # not healthy yet
    assert step(life, routed(now=NOW + 1), RULES)[1] == ()
    healthy, _ = step(life, routed(now=NOW + HEALTHY_AFTER_S + 0.1, last_advance=NOW + 60), RULES)
    assert healthy.failures == 0


@pytest.mark.parametrize("phase", [*RUNNING, S.STOPPED, S.DOWN])
def test_failed_backs_off_and_reports_the_last_stderr_line(phase: StreamState) -> None:
    start = life_in(phase, running=phase in RUNNING, failures=2)
    tail = "Input #0\nrtsp://cam: Connection refused\n"
    life, actions = step(start, Failed(NOW, EXITED, tail, 0.5), RULES)
    assert (life.phase, life.running, life.failures) == (S.DOWN, None, 3)
    assert life.next_start_at == NOW + 4.0  # 1 s doubled twice; the draw 0.5 is no jitter
    assert life.error == ErrorInfo(
        code="ffmpeg_exited", message="ffmpeg exited with code 1: rtsp://cam: Connection refused"
    )
    announce = phase in (S.UP, S.STARTING, S.DOWN)  # a first failure is news, once
    assert kinds(actions) == (["AnnounceDown"] if announce else [])
    if announce:
        assert actions[0] == AnnounceDown("ffmpeg_exited", life.error)


def test_failed_message_is_bounded() -> None:
    life, _ = step(life_in(S.STARTING), Failed(NOW, EXITED, "x" * 5000, 0.5), RULES)
    assert life.error is not None and len(life.error.message) == 300


def test_the_hourly_limit_turns_into_restart_limit() -> None:
    rules = RelayRules(StreamRestartPolicy(1.0, 60.0, 3))
    busy = life_in(S.STARTING, restarts=(NOW - 100, NOW - 50, NOW - 10))
    life, actions = step(busy, Failed(NOW, EXITED, "", 0.5), rules)
    assert life.next_start_at == NOW - 100 + HOUR_S
    assert life.error == ErrorInfo(
        code="restart_limit",
        message="ffmpeg exited with code 1; 3 restarts in the last hour: waiting",
    )
    assert actions == (AnnounceDown("restart_limit", life.error),)


def test_a_relay_that_never_works_is_announced_down_once() -> None:
    life = RelayLife()
    said: list[str] = []
    now = NOW
    for _ in range(10):
        life, actions = step(life, routed(now=now), RULES)
        assert actions == (Launch(KEY),)
        life, _ = step(life, Launched(now, KEY), RULES)
        life, actions = step(life, routed(now=now + 1, exit_code=1), RULES)
        (terminate,) = actions
        assert isinstance(terminate, Terminate)
        life, actions = step(life, Failed(now + 1, terminate.failure, "", 0.5), RULES)
        said += kinds(actions)
        now = life.next_start_at
    assert said == ["AnnounceDown"]
    assert life.failures == 10 and life.restarts_last_hour(now) == 9


def test_ffmpeg_missing_on_the_very_first_start_is_not_announced() -> None:
    """Down from stopped says nothing (as before the split): heartbeats carry the error."""
    life, actions = step(RelayLife(), routed(), RULES)
    missing = ErrorInfo(code="ffmpeg_missing", message="cannot run ffmpeg: No such file")
    life, actions = step(life, Failed(NOW, missing, "", 0.5), RULES)
    assert life.phase is S.DOWN and life.error == missing and actions == ()


# --- commands, shutdown, removal ---------------------------------------------------------------


@pytest.mark.parametrize("phase", list(S))
def test_restart_command_clears_the_backoff(phase: StreamState) -> None:
    running = phase in RUNNING
    start = life_in(phase, running=running, failures=4, next_start_at=NOW + 30)
    life, actions = step(start, RestartRequested(NOW), RULES)
    assert (life.failures, life.next_start_at) == (0, NOW)
    if not running:
        assert (life.phase, actions) == (phase, ())
        return
    assert life.phase is S.STARTING and life.running is None and life.error is None
    expected: list[RelayAction] = [StopProcess("restart_command")]
    if phase is S.UP:
        expected.append(AnnounceDown("restart_command", None))
    assert list(actions) == expected


def test_start_command_only_ever_brings_the_start_forward() -> None:
    waiting = life_in(S.DOWN, next_start_at=NOW + 30)
    assert step(waiting, StartRequested(NOW), RULES)[0].next_start_at == NOW
    due = life_in(S.DOWN, next_start_at=NOW - 30)
    assert step(due, StartRequested(NOW), RULES) == (due, ())


@pytest.mark.parametrize("phase", list(S))
def test_shutdown(phase: StreamState) -> None:
    running = phase in RUNNING
    life, actions = step(life_in(phase, running=running), Shutdown(), RULES)
    assert life.running is None
    if not running:
        assert (life.phase, actions) == (phase, ())
        return
    assert life.phase is S.STOPPED
    expected: list[RelayAction] = [StopProcess("agent_stopping")]
    if phase is S.UP:
        expected.append(AnnounceDown("agent_stopping", None))
    assert list(actions) == expected


@pytest.mark.parametrize("phase", list(S))
def test_removed_forgets_everything(phase: StreamState) -> None:
    running = phase in RUNNING
    life, actions = step(life_in(phase, running=running, failures=3), Removed(), RULES)
    assert life == RelayLife()
    assert list(actions) == ([StopProcess("camera_removed")] if running else [])


# --- every event from every valid life ---------------------------------------------------------


def valid_lives() -> list[RelayLife]:
    lives = []
    for phase, running, announced, failures, due, restarts in itertools.product(
        list(S), [False, True], [False, True], [0, 5], [True, False], [(), (NOW - 10.0,)]
    ):
        if running and phase not in RUNNING:
            continue
        error = {
            S.PAUSED: ErrorInfo(code="uplink_budget", message="paused"),
            S.WAITING: ErrorInfo(code="camera_unknown", message="waiting"),
            S.DOWN: EXITED,
        }.get(phase)
        lives.append(
            life_in(
                phase,
                running=running,
                announced_down=announced and phase is not S.UP,
                failures=failures,
                next_start_at=NOW - 1 if due else NOW + 1,
                restarts=restarts,
                error=error,
                starts=1 + len(restarts) if (running or restarts) else 0,
            )
        )
    return lives


EVENTS: list[RelayEvent] = [
    Unwanted("stopped"),
    Unwanted("idle"),
    Squeezed(),
    Undiscovered(),
    Unroutable(NO_ROUTE),
    AskingCamera(),
    routed(),
    routed(key=OTHER_KEY),
    routed(exit_code=0),
    routed(last_advance=None),
    routed(last_advance=NOW - 16),
    routed(now=NOW + HEALTHY_AFTER_S, last_advance=NOW + HEALTHY_AFTER_S - 1),
    Launched(NOW, KEY),
    Failed(NOW, EXITED, "tail", 0.0),
    Failed(NOW, EXITED, "", 0.999),
    RestartRequested(NOW),
    StartRequested(NOW),
    Shutdown(),
    Removed(),
]


def check_step(before: RelayLife, event: RelayEvent, after: RelayLife, actions: tuple) -> None:
    """What holds for every transition."""
    names = kinds(actions)
    # An ffmpeg runs only while starting or up; up always knows since when.
    assert after.running is None or after.phase in RUNNING
    assert (after.phase is S.UP) == (after.up_since is not None)
    assert after.phase is not S.UP or after.error is None
    # Only a running ffmpeg is stopped, at most once per step.
    stops = [a for a in actions if isinstance(a, StopProcess | Terminate)]
    assert len(stops) <= 1
    assert not stops or before.running is not None
    if any(isinstance(a, Terminate) for a in actions):
        assert isinstance(event, Routed) and event.key == before.running
    # A launch comes from a route, when due or when the route changed; it is counted.
    if "Launch" in names:
        assert isinstance(event, Routed) and after.running is None
        assert before.running is None or before.running != event.key
        assert event.now >= before.next_start_at or before.running is not None
        assert after.starts == before.starts + 1
    # Ops hear of each change once: up when it comes up, down when it goes.
    assert names.count("AnnounceUp") + names.count("AnnounceDown") <= 1
    if "AnnounceUp" in names:
        assert before.phase is not S.UP and after.phase is S.UP and not after.announced_down
    elif after.phase is S.UP:
        assert before.phase is S.UP
    if "AnnounceDown" in names:
        assert after.phase is not S.UP and after.announced_down
        assert before.phase is S.UP or not before.announced_down
    elif before.phase is S.UP and after.phase is not S.UP:
        # The one silent way out of up: the camera is being asked to re-encode (as before
        # the split; the stream_up that follows tells ops it is back).
        assert isinstance(event, AskingCamera | Removed)
    # Failures only grow by a failure; a restart command or health clears them.
    if isinstance(event, Failed):
        assert after.failures == before.failures + 1 and after.next_start_at > event.now
    elif isinstance(event, RestartRequested | Removed):
        assert after.failures == 0
    elif after.failures != before.failures:
        assert isinstance(event, Routed) and after.failures == 0 and after.phase is S.UP


def test_every_event_from_every_valid_life() -> None:
    lives = valid_lives()
    assert len(lives) == 128
    checked = 0
    for before, event in itertools.product(lives, EVENTS):
        if isinstance(event, Launched) and before.running is not None:
            continue  # Launched only answers a Launch, which only comes when none runs
        after, actions = step(before, event, RULES)
        assert step(before, event, RULES) == (after, actions)  # pure: same in, same out
        check_step(before, event, after, actions)
        checked += 1
    assert checked > 2000


# --- long histories ----------------------------------------------------------------------------


def test_random_histories_keep_every_promise() -> None:
    """A world that does everything at random, following each action as the worker would."""
    generator = random.Random(20261202)
    keys = [KEY, OTHER_KEY]
    for _ in range(40):
        life, now = RelayLife(), 0.0
        said: list[str] = []
        for _ in range(400):
            now += generator.choice([0.0, 0.5, 1.0, 5.0, 30.0, 90.0])
            roll = generator.random()
            event: RelayEvent
            if roll < 0.55:
                event = Routed(
                    now=now,
                    wall=now,
                    key=generator.choice(keys),
                    exit_code=generator.choice([None, None, None, 0, 1]),
                    last_advance=generator.choice([None, now - 1, now - 20]),
                )
            else:
                others: list[RelayEvent] = [
                    Unwanted("stopped"),
                    Unwanted("idle"),
                    Squeezed(),
                    Undiscovered(),
                    Unroutable(NO_ROUTE),
                    AskingCamera(),
                    RestartRequested(now),
                    StartRequested(now),
                    Shutdown(),
                ]
                event = generator.choice(others)
            pending = [event]
            while pending:
                current = pending.pop(0)
                before = life
                life, actions = step(life, current, RULES)
                check_step(before, current, life, actions)
                for action in actions:
                    if isinstance(action, Launch):
                        if generator.random() < 0.1:
                            missing = ErrorInfo(code="ffmpeg_missing", message="cannot run")
                            pending.append(Failed(now, missing, "", generator.random()))
                        else:
                            pending.append(Launched(now, action.key))
                    elif isinstance(action, Terminate):
                        pending.append(Failed(now, action.failure, "x", generator.random()))
                    elif isinstance(action, AnnounceUp | AnnounceDown):
                        said.append(type(action).__name__)
        # Never two stream_down without a stream_up between them.
        downs = "".join("d" if s == "AnnounceDown" else "u" for s in said)
        assert "dd" not in downs


def test_a_relay_that_always_fails_respects_the_hourly_limit() -> None:
    config = StreamsConfig.model_validate(
        {
            "ingest_url": "rtmp://i/live/{camera_id}",
            "restart_backoff_s": 1,
            "restart_backoff_max_s": 8,
            "max_restarts_per_hour": 5,
        }
    )
    rules = RelayRules.from_config(config)
    life, now, launches = RelayLife(), 0.0, []
    while now < 4 * HOUR_S:
        life, actions = step(life, Routed(now, now, KEY), rules)
        if actions == (Launch(KEY),):
            launches.append(now)
            life, _ = step(life, Launched(now, KEY), rules)
            life, (terminate,) = step(life, Routed(now + 1, now + 1, KEY, exit_code=1), rules)
            assert isinstance(terminate, Terminate)
            life, _ = step(life, Failed(now + 1, terminate.failure, "", 0.5), rules)
        now = max(now + 0.5, life.next_start_at)
    assert life.error is not None and life.error.code == "restart_limit"
    restarts = launches[1:]
    for index, at in enumerate(restarts):
        within = [t for t in restarts[index:] if t - at < HOUR_S]
        assert len(within) <= 5
    assert len(launches) >= 4 * 5  # the limit waits out the hour, it does not stop for good


def test_restart_policy_is_the_agents_backoff() -> None:
    policy = StreamRestartPolicy(backoff_s=2, backoff_max_s=30, max_per_hour=60)
    assert [policy.next_start(0, n, [], 0.5)[0] for n in (1, 2, 3, 4, 5, 6)] == [
        2,
        4,
        8,
        16,
        30,
        30,
    ]
    low, high = policy.next_start(0, 1, [], 0.0)[0], policy.next_start(0, 1, [], 0.9999)[0]
    assert low == pytest.approx(1.6) and high == pytest.approx(2.4, abs=1e-3)
