"""The supervisor restarts crashed workers with backoff, gives up on crash loops, and
stops everything in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from agent.supervisor import Supervisor, WorkerContext, WorkerRestartPolicy


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


def test_stop_order_is_reverse_and_bounded() -> None:
    stopped: list[str] = []

    class Polite:
        def __init__(self, name: str) -> None:
            self.name = name

        def run(self, ctx: WorkerContext) -> None:
            while not ctx.wait(0.01):
                pass
            time.sleep(0.05 if self.name == "first" else 0)
            stopped.append(self.name)

    class Stubborn:
        name = "stubborn"

        def run(self, ctx: WorkerContext) -> None:
            time.sleep(3)

    supervisor = Supervisor(WorkerRestartPolicy(stop_timeout_s=0.3))
    supervisor.start(Polite("first"))
    supervisor.start(Polite("second"))
    supervisor.start(Stubborn())
    started = time.monotonic()
    assert supervisor.stop() == ["stubborn"]
    assert time.monotonic() - started < 2.5
    assert stopped == ["second", "first"]  # newest first: the reporter goes last


def test_backoff_grows_and_is_capped() -> None:
    policy = WorkerRestartPolicy(backoff_initial_s=1, backoff_max_s=8)
    middle = [policy.backoff(n, rng=lambda: 0.5) for n in (1, 2, 3, 4, 5, 6)]
    assert middle == [1, 2, 4, 8, 8, 8]
    jittered = WorkerRestartPolicy(backoff_initial_s=10)
    assert jittered.backoff(1, rng=lambda: 0.0) == 8.0
    assert jittered.backoff(1, rng=lambda: 1.0) == 12.0
