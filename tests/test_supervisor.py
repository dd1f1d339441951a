"""The supervisor restarts crashed workers with backoff, gives up on crash loops, and
stops everything in stages under one deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from agent.model import WorkerState
from agent.supervisor import StopBudget, Supervisor, WorkerContext, WorkerRestartPolicy


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


FAST = WorkerRestartPolicy(
    backoff_initial_s=0.01,
    backoff_max_s=0.05,
    max_restarts=3,
    restart_window_s=30,
    stop_timeout_s=2,
)


class Crasher:
    name = "crasher"

    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.runs = 0
        self.running = threading.Event()

    def run(self, ctx: WorkerContext) -> None:
        self.runs += 1
        if self.runs <= self.crashes:
            raise RuntimeError(f"crash {self.runs}")
        self.running.set()
        while not ctx.wait(0.05):
            pass


def test_restarts_after_crash_then_runs() -> None:
    supervisor = Supervisor(FAST)
    worker = Crasher(crashes=2)
    supervisor.start(worker)
    assert worker.running.wait(5)
    assert worker.runs == 3
    assert supervisor.healthy()
    assert supervisor.stop() == []
    assert supervisor.status()["crasher"]["alive"] is False


def test_gives_up_after_restart_limit_and_reports_unhealthy() -> None:
    supervisor = Supervisor(FAST)
    worker = Crasher(crashes=100)
    supervisor.start(worker)
    wait_for(lambda: supervisor.status()["crasher"]["failed"] is True)
    assert worker.runs == FAST.max_restarts + 1
    assert not supervisor.healthy()
    assert "RuntimeError" in str(supervisor.status()["crasher"]["last_error"])
    supervisor.stop()


def test_stuck_worker_makes_supervisor_unhealthy() -> None:
    release = threading.Event()

    class Stuck:
        name = "stuck"

        def run(self, ctx: WorkerContext) -> None:
            release.wait(10)  # never beats: a deadlock as the watchdog sees it

    supervisor = Supervisor(FAST, watchdog_s=0.2)
    supervisor.start(Stuck())
    wait_for(lambda: not supervisor.healthy(), 5)
    release.set()
    supervisor.stop()


def test_stop_is_parallel_staged_and_under_one_deadline() -> None:
    """Producers are stopped together (the slowest sets the pace, not the sum); the
    reporter (``stop_last``) goes after them, with the time that is left."""
    stopped: list[tuple[str, float]] = []
    deadlines: dict[str, float | None] = {}

    class Slow:
        def __init__(self, name: str, linger_s: float, last: bool = False) -> None:
            self.name = name
            self.linger_s = linger_s
            self.stop_last = last

        def run(self, ctx: WorkerContext) -> None:
            while not ctx.wait(0.01):
                pass
            deadlines[self.name] = ctx.stop_deadline
            time.sleep(self.linger_s)
            stopped.append((self.name, time.monotonic()))

    class Stubborn:
        name = "stubborn"

        def run(self, ctx: WorkerContext) -> None:
            time.sleep(5)  # ignores the stop: a camera call that will not end

    supervisor = Supervisor()
    supervisor.start(Slow("reporter", 0.0, last=True))
    for index in range(4):
        supervisor.start(Slow(f"producer{index}", 0.4))
    supervisor.start(Stubborn())
    started = time.monotonic()
    stuck = supervisor.stop(StopBudget(total_s=2.0, last_s=0.5))
    elapsed = time.monotonic() - started
    assert stuck == ["stubborn"]
    assert elapsed < 2.3  # one deadline for everything, however many workers
    names = [name for name, _ in stopped]
    assert names[-1] == "reporter" and sorted(names[:-1]) == [f"producer{i}" for i in range(4)]
    producer_times = [moment for name, moment in stopped if name != "reporter"]
    assert max(producer_times) - min(producer_times) < 0.2  # together, not one by one
    reporter_deadline = deadlines["reporter"]
    assert reporter_deadline is not None and reporter_deadline - started == pytest.approx(
        2.0, abs=0.1
    )


def test_one_worker_is_stopped_and_replaced_alone() -> None:
    class Looping:
        def __init__(self, name: str) -> None:
            self.name = name

        def run(self, ctx: WorkerContext) -> None:
            while not ctx.wait(0.01):
                pass

    supervisor = Supervisor()
    keep, replace = Looping("keep"), Looping("replace")
    supervisor.start(keep)
    supervisor.start(replace)
    assert supervisor.stop_worker("replace", 2.0)
    assert [w.name for w in supervisor.workers()] == ["keep"]
    fresh = Looping("replace")
    supervisor.start(fresh)
    assert supervisor.worker("replace") is fresh and supervisor.worker("keep") is keep
    assert [w.state for w in supervisor.workers()] == [WorkerState.RUNNING] * 2
    assert supervisor.stop() == []


def test_backoff_grows_and_is_capped() -> None:
    policy = WorkerRestartPolicy(backoff_initial_s=1, backoff_max_s=8)
    middle = [policy.backoff(n, rng=lambda: 0.5) for n in (1, 2, 3, 4, 5, 6)]
    assert middle == [1, 2, 4, 8, 8, 8]
    jittered = WorkerRestartPolicy(backoff_initial_s=10)
    assert jittered.backoff(1, rng=lambda: 0.0) == 8.0
    assert jittered.backoff(1, rng=lambda: 1.0) == 12.0
