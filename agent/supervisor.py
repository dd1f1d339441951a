"""One supervisor owns every long-running worker of the daemon.

A worker is an object with a ``name`` and a ``run(ctx)`` method that loops until
``ctx.stopping`` is set, calling ``ctx.beat()`` at least every ``ctx.watchdog_s`` seconds.
When ``run`` raises (or returns while the agent is not stopping) the supervisor restarts it
after an exponential backoff with jitter; a worker that crashes more than
``max_restarts`` times in ``restart_window_s`` is given up on and reported. Shutdown stops
workers one at a time in reverse start order, each within its own timeout (so the
worker started first, the reporter, is the last to go and still reports the others' stop).
The systemd watchdog is fed only while every running worker has beaten recently, so a
deadlock is never hidden.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from agent.backoff import Backoff

log = structlog.get_logger(__name__)


class WorkerContext:
    """What a worker gets from its supervisor."""

    def __init__(self, name: str, stopping: threading.Event, watchdog_s: float) -> None:
        self.name = name
        self.stopping = stopping
        self.watchdog_s = watchdog_s
        self.last_beat = time.monotonic()

    def beat(self) -> None:
        """Tell the supervisor this worker is alive and not stuck."""
        self.last_beat = time.monotonic()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, beating; True when the agent is stopping."""
        self.beat()
        stopped = self.stopping.wait(max(0.0, seconds))
        self.beat()
        return stopped


class Worker(Protocol):
    name: str

    def run(self, ctx: WorkerContext) -> None: ...


@dataclass
class WorkerRestartPolicy:
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_restarts: int = 10
    restart_window_s: float = 600.0
    stop_timeout_s: float = 10.0

    def backoff(self, consecutive_failures: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds before the next start (the agent's one policy, :mod:`agent.backoff`)."""
        return Backoff(self.backoff_initial_s, self.backoff_max_s).delay(consecutive_failures, rng)


@dataclass
class _Slot:
    worker: Worker
    ctx: WorkerContext
    stop_timeout_s: float
    thread: threading.Thread | None = None
    restarts: deque[float] = field(default_factory=deque)
    failed: bool = False
    last_error: str | None = None


class Supervisor:
    def __init__(self, policy: WorkerRestartPolicy | None = None, watchdog_s: float = 60.0) -> None:
        self.policy = policy or WorkerRestartPolicy()
        self.watchdog_s = watchdog_s
        self._stopping = threading.Event()
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def start(self, worker: Worker, stop_timeout_s: float | None = None) -> None:
        if self._stopping.is_set():
            raise RuntimeError("supervisor is stopping")
        ctx = WorkerContext(worker.name, threading.Event(), self.watchdog_s)
        slot = _Slot(worker, ctx, stop_timeout_s or self.policy.stop_timeout_s)
        slot.thread = threading.Thread(
            target=self._run_slot, args=(slot,), name=f"worker-{worker.name}", daemon=True
        )
        with self._lock:
            self._slots.append(slot)
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
            if stopping.wait(delay):
                return

    def healthy(self, now: float | None = None) -> bool:
        """True when every worker still running has beaten within the watchdog period."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            slots = list(self._slots)
        for slot in slots:
            if slot.failed:
                return False
            alive = slot.thread is not None and slot.thread.is_alive()
            if alive and moment - slot.ctx.last_beat > slot.ctx.watchdog_s:
                return False
        return True

    def status(self) -> dict[str, dict[str, object]]:
        with self._lock:
            slots = list(self._slots)
        return {
            slot.worker.name: {
                "alive": bool(slot.thread and slot.thread.is_alive()),
                "failed": slot.failed,
                "restarts": len(slot.restarts),
                "last_error": slot.last_error,
            }
            for slot in slots
        }

    def stop(self) -> list[str]:
        """Stop every worker, newest first; returns the names that did not stop in time."""
        self._stopping.set()
        with self._lock:
            slots = list(reversed(self._slots))
        stuck = []
        for slot in slots:
            slot.ctx.stopping.set()
            if slot.thread is None:
                continue
            slot.thread.join(slot.stop_timeout_s)
            if slot.thread.is_alive():
                stuck.append(slot.worker.name)
                log.error("worker_stop_timeout", worker=slot.worker.name)
            else:
                log.info("worker_stopped", worker=slot.worker.name)
        return stuck
