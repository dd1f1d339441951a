"""One supervisor owns every long-running worker of the daemon.

A worker is an object with a ``name`` and a ``run(ctx)`` method that loops until
``ctx.stopping`` is set, calling ``ctx.beat()`` at least every ``ctx.watchdog_s`` seconds.
When ``run`` raises (or returns while the agent is not stopping) the supervisor restarts it
after an exponential backoff with jitter; a worker that crashes more than
``max_restarts`` times in ``restart_window_s`` is given up on and reported.

Shutdown is staged under one deadline (as Home Assistant Supervisor's ``core.py`` does):
every worker is told to stop at once and they are joined in parallel, so the stop takes as
long as the slowest worker, not the sum; workers marked ``stop_last`` (the MQTT reporter)
are stopped after the others, with the time that is left (``ctx.stop_deadline``), so they
still report what the others did on their way out. A worker that does not end in time is
abandoned (its thread is a daemon thread) and named.

The systemd watchdog is fed only while every running worker has beaten recently, so a
deadlock is never hidden.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from agent.backoff import Backoff
from agent.model import WorkerState

log = structlog.get_logger(__name__)


class WorkerContext:
    """What a worker gets from its supervisor."""

    def __init__(self, name: str, stopping: threading.Event, watchdog_s: float) -> None:
        self.name = name
        self.stopping = stopping
        self.watchdog_s = watchdog_s
        self.last_beat = time.monotonic()
        # While it sleeps in :meth:`wait` or is inside :meth:`allow`, a worker has said when
        # it will be back: until then it is not wedged, however long that is.
        self.back_by = 0.0
        # Set (monotonic time) before ``stopping``: when the worker must be gone by.
        self.stop_deadline: float | None = None

    def beat(self) -> None:
        """Tell the supervisor this worker is alive and not stuck."""
        self.last_beat = time.monotonic()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, beating; True when the agent is stopping."""
        with self.allow(seconds):
            return self.stopping.wait(max(0.0, seconds))

    @contextlib.contextmanager
    def allow(self, seconds: float) -> Iterator[None]:
        """A call known to take up to ``seconds`` (a discovery round's listening window):
        the worker checks in before and after, and is not wedged in between."""
        self.beat()
        self.back_by = time.monotonic() + max(0.0, seconds)
        try:
            yield
        finally:
            self.back_by = 0.0
            self.beat()

    def overdue(self, now: float) -> bool:
        """Not checked in within the watchdog period of its last beat or promised return."""
        return now - max(self.last_beat, self.back_by) > self.watchdog_s

    def time_left(self, default_s: float) -> float:
        """Seconds until ``stop_deadline`` (``default_s`` when no deadline is set)."""
        if self.stop_deadline is None:
            return default_s
        return max(0.0, self.stop_deadline - time.monotonic())


class Worker(Protocol):
    name: str

    def run(self, ctx: WorkerContext) -> None: ...


@dataclass
class WorkerRestartPolicy:
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_restarts: int = 10
    restart_window_s: float = 600.0
    # One worker stopped alone (a reload rebuilding it).
    stop_timeout_s: float = 10.0

    def backoff(self, consecutive_failures: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds before the next start (the agent's one policy, :mod:`agent.backoff`)."""
        return Backoff(self.backoff_initial_s, self.backoff_max_s).delay(consecutive_failures, rng)


@dataclass(frozen=True)
class StopBudget:
    """How long a whole stop may take: ``total_s`` for everything, of which the workers
    stopped last keep at least ``last_s``."""

    total_s: float = 10.0
    last_s: float = 4.0


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as ``kitchen-agent status`` shows it."""

    name: str
    state: WorkerState
    restarts: int  # restarts in the current restart window
    error: str | None  # why it last crashed
    beat_age_s: float  # seconds since it last checked in


@dataclass
class _Slot:
    worker: Worker
    ctx: WorkerContext
    thread: threading.Thread | None = None
    restarts: deque[float] = field(default_factory=deque)
    failed: bool = False
    in_backoff: bool = False
    last_error: str | None = None

    @property
    def stop_last(self) -> bool:
        return bool(getattr(self.worker, "stop_last", False))

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def worker_state(alive: bool, failed: bool, in_backoff: bool, overdue: bool) -> WorkerState:
    """The state a worker is in, from what its slot knows. Pure."""
    if failed:
        return WorkerState.FAILED
    if not alive:
        return WorkerState.STOPPED
    if in_backoff:
        return WorkerState.RESTARTING
    if overdue:
        return WorkerState.WEDGED
    return WorkerState.RUNNING


class Supervisor:
    def __init__(self, policy: WorkerRestartPolicy | None = None, watchdog_s: float = 60.0) -> None:
        self.policy = policy or WorkerRestartPolicy()
        self.watchdog_s = watchdog_s
        self._stopping = threading.Event()
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def start(self, worker: Worker) -> None:
        if self._stopping.is_set():
            raise RuntimeError("supervisor is stopping")
        ctx = WorkerContext(worker.name, threading.Event(), self.watchdog_s)
        slot = _Slot(worker, ctx)
        slot.thread = threading.Thread(
            target=self._run_slot, args=(slot,), name=f"worker-{worker.name}", daemon=True
        )
        with self._lock:
            if worker.name in self._slots and self._slots[worker.name].alive:
                raise RuntimeError(f"worker {worker.name} is already running")
            self._slots[worker.name] = slot
        slot.thread.start()
        log.info("worker_started", worker=worker.name)

    def _run_slot(self, slot: _Slot) -> None:
        failures = 0
        stopping = slot.ctx.stopping
        while not stopping.is_set():
            started = time.monotonic()
            try:
                slot.ctx.beat()
                slot.worker.run(slot.ctx)
                if stopping.is_set():
                    return
                slot.last_error = "returned unexpectedly"
            except Exception as error:  # any crash of a worker is contained here
                slot.last_error = f"{type(error).__name__}: {error}"
                log.exception("worker_crashed", worker=slot.worker.name)
            if time.monotonic() - started > self.policy.restart_window_s:
                failures = 0  # it ran well for a long time: start backoff afresh
            failures += 1
            now = time.monotonic()
            slot.restarts.append(now)
            while slot.restarts and now - slot.restarts[0] > self.policy.restart_window_s:
                slot.restarts.popleft()
            if len(slot.restarts) > self.policy.max_restarts:
                slot.failed = True
                log.error(
                    "worker_given_up",
                    worker=slot.worker.name,
                    restarts=len(slot.restarts),
                    window_s=self.policy.restart_window_s,
                    error=slot.last_error,
                )
                return
            delay = self.policy.backoff(failures)
            log.warning(
                "worker_restarting",
                worker=slot.worker.name,
                in_s=round(delay, 2),
                error=slot.last_error,
            )
            slot.in_backoff = True
            try:
                if stopping.wait(delay):
                    return
            finally:
                slot.in_backoff = False

    # --- reading ----------------------------------------------------------------------------

    def _current(self) -> list[_Slot]:
        with self._lock:
            return list(self._slots.values())

    def worker(self, name: str) -> Worker | None:
        with self._lock:
            slot = self._slots.get(name)
        return None if slot is None else slot.worker

    def healthy(self, now: float | None = None) -> bool:
        """True when every worker still running has checked in within the watchdog period
        (or is back from a wait it announced) and none was given up on."""
        moment = time.monotonic() if now is None else now
        for slot in self._current():
            if slot.failed:
                return False
            if slot.alive and not slot.in_backoff and slot.ctx.overdue(moment):
                return False
        return True

    def workers(self, now: float | None = None) -> list[WorkerInfo]:
        """Every worker in start order, as it is now."""
        moment = time.monotonic() if now is None else now
        infos = []
        for slot in self._current():
            age = max(0.0, moment - slot.ctx.last_beat)
            infos.append(
                WorkerInfo(
                    name=slot.worker.name,
                    state=worker_state(
                        slot.alive, slot.failed, slot.in_backoff, slot.ctx.overdue(moment)
                    ),
                    restarts=len(slot.restarts),
                    error=slot.last_error,
                    beat_age_s=round(age, 1),
                )
            )
        return infos

    def status(self) -> dict[str, dict[str, object]]:
        return {
            slot.worker.name: {
                "alive": slot.alive,
                "failed": slot.failed,
                "restarts": len(slot.restarts),
                "last_error": slot.last_error,
            }
            for slot in self._current()
        }

    # --- stopping ---------------------------------------------------------------------------

    def _stop_together(self, slots: Iterable[_Slot], deadline: float) -> list[str]:
        """Tell every slot to stop at once, then join them all by ``deadline``."""
        chosen = list(slots)
        for slot in chosen:
            slot.ctx.stop_deadline = deadline
            slot.ctx.stopping.set()
        stuck = []
        for slot in chosen:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
            if slot.alive:
                stuck.append(slot.worker.name)
                log.error("worker_stop_timeout", worker=slot.worker.name)
            else:
                log.info("worker_stopped", worker=slot.worker.name)
        return stuck

    def stop_workers(self, names: Iterable[str], timeout_s: float | None = None) -> list[str]:
        """Stop these workers together and forget them (a reload rebuilding them); the
        others keep running. Returns the names that did not end in time."""
        with self._lock:
            slots = [self._slots.pop(name) for name in list(names) if name in self._slots]
        budget = self.policy.stop_timeout_s if timeout_s is None else timeout_s
        return self._stop_together(slots, time.monotonic() + budget)

    def stop_worker(self, name: str, timeout_s: float | None = None) -> bool:
        """Stop one worker and forget it; False if it hung."""
        return not self.stop_workers([name], timeout_s)

    def stop(self, budget: StopBudget | None = None) -> list[str]:
        """Stop every worker under one deadline; returns the names that did not end in it.

        First every worker not marked ``stop_last``, all at once; then the ``stop_last``
        ones with what is left of the budget (at least ``budget.last_s``).
        """
        plan = budget or StopBudget()
        self._stopping.set()
        started = time.monotonic()
        deadline = started + plan.total_s
        slots = self._current()
        first = [slot for slot in slots if not slot.stop_last]
        last = [slot for slot in slots if slot.stop_last]
        stuck = self._stop_together(first, deadline - (plan.last_s if last else 0.0))
        stuck += self._stop_together(last, deadline)
        log.info(
            "workers_stopped",
            seconds=round(time.monotonic() - started, 2),
            stuck=stuck,
        )
        return stuck
