"""The long-running agent: workers under one supervisor, systemd integration, reloads.

Start-up never waits for the network: cameras are found, judged and streamed whether or not
the broker answers. A config reload (SIGHUP or the `reload_config` command) that fails
validation is reported and ignored: the daemon keeps its last good config. A valid one
rebuilds only the workers whose settings slice changed (:mod:`agent.reload`): the MQTT
session and the ffmpeg relays survive a changed quality threshold.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import structlog

from agent import __version__
from agent.config import AgentConfig, config_hash, load_config
from agent.config.loader import load_for_reload
from agent.errors import ConfigError
from agent.logs import LEVELS, configure_logging
from agent.memory import limit_heaps
from agent.model import (
    AgentStarted,
    AgentStopping,
    ConfigApplied,
    ConfigRejected,
    WorkerState,
)
from agent.reload import ReloadPlan, WorkerSpec, plan_reload, slices
from agent.sdnotify import Watchdog, sd_notify, systemd_watchdog
from agent.secrets import CameraLogins, CredentialStore, credentials_dir
from agent.state import AgentState
from agent.status.build import build_status
from agent.status.model import Phase, StatusReport
from agent.supervisor import StopBudget, Supervisor, Worker
from agent.uplink.mqtt.outbox import FILE_NAME as OUTBOX_FILE
from agent.uplink.mqtt.outbox import EventFeed, Outbox, outbox_bounds
from agent.uplink.mqtt.session import SessionCounter

log = structlog.get_logger(__name__)

WorkerFactory = Callable[["Runtime"], list[Worker]]

# The whole stop, well inside the unit's TimeoutStopSec=30 (a test holds them together):
# the producers (cameras, quality, streams) get the first 6 s, all at once; the reporter
# and the status socket at least the last 4 s to deliver what the others said on their
# way out and publish `stopped`. A worker still busy at its deadline (a camera hanging in
# an ONVIF call) is abandoned, never waited for.
STOP_BUDGET = StopBudget(total_s=10.0, last_s=4.0)
# A reload stops the workers it rebuilds together, within this (the others keep running).
RELOAD_STOP_S = 10.0


@dataclass
class Runtime:
    """Everything a worker factory needs to build the workers of one config. ``state``,
    ``events`` and ``sessions`` belong to the daemon and outlive every reload."""

    config: AgentConfig
    config_path: Path
    state: AgentState
    events: EventFeed
    sessions: SessionCounter
    credentials: CredentialStore
    logins: CameraLogins
    state_dir: Path
    request_reload: Callable[[], None]
    report_status: Callable[[], StatusReport]
    worker: Callable[[str], Worker | None]  # the running worker of that name (commands)


class Daemon:
    def __init__(
        self,
        config_path: Path,
        workers: Sequence[WorkerSpec] | WorkerFactory,
        config: AgentConfig | None = None,
    ) -> None:
        self.config_path = config_path
        self.config = config if config is not None else load_config(config_path)
        # Specs (agent.workers.WORKER_SPECS) reload worker by worker; a plain factory
        # (tests' harnesses) rebuilds everything on any change.
        self.specs: Sequence[WorkerSpec] | None = None if callable(workers) else workers
        self.worker_factory: WorkerFactory | None = workers if callable(workers) else None
        # What outlives a reload: the live picture, the durable outbox that stores its
        # events (from now on, whatever reporter runs) and the MQTT session counter.
        self.state = AgentState()
        state_dir = self.config.paths.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        outbox = Outbox(state_dir / OUTBOX_FILE, outbox_bounds(self.config.broker.outbox))
        self.events = EventFeed.attach(self.state, outbox)
        self.sessions = SessionCounter(state_dir)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.supervisor: Supervisor | None = None
        self.runtime: Runtime | None = None
        self.phase: Phase = "starting"
        self.abandoned: list[str] = []  # workers that did not end within the stop budget
        self.watchdog: Watchdog | None = systemd_watchdog()
        self._withheld: list[str] = []  # workers holding the watchdog pings back
        self._status_sent: str | None = None
        self._slices: dict[str, object] = {}  # each running worker's settings slice
        # Whether a reload applies the config's log level (not when the command line set it).
        self.follow_log_level = False

    # --- lifecycle ----------------------------------------------------------------------

    def _make_runtime(self, config: AgentConfig) -> Runtime:
        credentials = CredentialStore(credentials_dir(config.paths.credentials_dir))
        credentials.register_all()
        state_dir = config.paths.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.events.outbox.bounds = outbox_bounds(config.broker.outbox)
        return Runtime(
            config=config,
            config_path=self.config_path,
            state=self.state,
            events=self.events,
            sessions=self.sessions,
            credentials=credentials,
            logins=CameraLogins.from_config(config.cameras, credentials),
            state_dir=state_dir,
            request_reload=self.request_reload,
            report_status=self.status_report,
            worker=self._running_worker,
        )

    def _running_worker(self, name: str) -> Worker | None:
        supervisor = self.supervisor
        return supervisor.worker(name) if supervisor is not None else None

    def _build(self, runtime: Runtime, names: Sequence[str] | None = None) -> list[Worker]:
        """The workers ``runtime`` wants (only ``names`` of them), in start order."""
        if self.specs is None:
            assert self.worker_factory is not None
            return self.worker_factory(runtime)
        return [
            spec.build(runtime)
            for spec in self.specs
            if (names is None or spec.name in names) and spec.settings(runtime) is not None
        ]

    def _start_workers(self) -> None:
        self.runtime = self._make_runtime(self.config)
        self._slices = slices(self.specs, self.runtime) if self.specs is not None else {}
        self.supervisor = Supervisor(
            watchdog_s=self.watchdog.worker_deadline_s if self.watchdog else 60.0
        )
        for worker in self._build(self.runtime):
            self.supervisor.start(worker)

    def _stop_workers(self) -> list[str]:
        """Every worker stopped in stages under one deadline; the names that hung."""
        stuck: list[str] = []
        if self.supervisor is not None:
            stuck = self.supervisor.stop(STOP_BUDGET)
            if stuck:
                log.error("workers_did_not_stop", workers=stuck)
            self.supervisor = None
        return stuck

    # --- status ----------------------------------------------------------------------------

    def status_report(self) -> StatusReport:
        """The agent's picture now (the status socket and STATUS= both come from here)."""
        config = self.config
        supervisor = self.supervisor
        outbox = self.events.outbox
        return build_status(
            config=config,
            config_path=str(self.config_path.absolute()),
            config_hash=config_hash(config),
            version=__version__,
            pid=os.getpid(),
            now=time.time(),
            started_at=self.state.started_at,
            phase=self.phase,
            cameras=self.state.cameras(),
            quality=self.state.quality(),
            streams=self.state.streams(),
            coverage=self.state.coverage(),
            uplink=self.state.uplink(),
            outbox_depth=outbox.count(),
            outbox_dropped=outbox.dropped_total(),
            workers=supervisor.workers() if supervisor is not None else [],
            stage=self.state.stage(),
        )

    def _notify_status(self) -> None:
        """Send systemd the one-line summary when it changed (shown by systemctl status)."""
        if not os.environ.get("NOTIFY_SOCKET"):
            return
        try:
            summary = self.status_report().summary
        except Exception:  # the summary must never take the main loop down
            log.exception("status_summary_failed")
            return
        if summary != self._status_sent and sd_notify(f"STATUS={summary}"):
            self._status_sent = summary

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def reload(self) -> bool:
        """Apply the config on disk if it is valid; otherwise keep the running one."""
        try:
            new = load_for_reload(self.config, self.config_path)
        except ConfigError as error:
            log.error("config_rejected", problems=error.problems)  # noqa: TRY400
            self.state.emit(ConfigRejected(problems=error.problems))
            return False
        if new == self.config:
            log.info("config_unchanged", config_hash=config_hash(new))
            self.state.emit(ConfigApplied(config_hash=config_hash(new), changed=False))
            return True
        runtime = self._make_runtime(new)
        wanted = slices(self.specs, runtime) if self.specs is not None else {}
        plan = self._plan(wanted)
        log.info(
            "config_reloading",
            config_hash=config_hash(new),
            rebuild=plan.rebuild,
            start=plan.start,
            stop=plan.stop,
            keep=plan.keep,
        )
        level_before = self.config.log.level
        self._apply(plan, runtime, wanted)
        if self.follow_log_level and new.log.level != level_before:
            # Said at whichever level is the more talkative, so that it shows.
            louder = LEVELS[new.log.level] < LEVELS[level_before]
            if not louder:
                log.info("log_level_changed", to=new.log.level, was=level_before)
            configure_logging(level=new.log.level)
            if louder:
                log.info("log_level_changed", to=new.log.level, was=level_before)
        self.state.emit(
            ConfigApplied(
                config_hash=config_hash(new),
                changed=True,
                restarted=sorted(plan.rebuild + plan.start + plan.stop),
            )
        )
        return True

    def _plan(self, wanted: dict[str, object]) -> ReloadPlan:
        if self.specs is None:  # a plain factory: everything is one slice
            running = self.supervisor.workers() if self.supervisor is not None else []
            return ReloadPlan(rebuild=tuple(worker.name for worker in running))
        return plan_reload([spec.name for spec in self.specs], self._slices, wanted)

    def _apply(self, plan: ReloadPlan, runtime: Runtime, wanted: dict[str, object]) -> None:
        """Stop what the plan stops, hand the kept workers the new runtime, start the rest."""
        supervisor = self.supervisor
        assert supervisor is not None
        if self.specs is None:
            self._stop_workers()
            self.config = runtime.config
            self._start_workers()
            return
        hung = supervisor.stop_workers(plan.to_stop, RELOAD_STOP_S)
        if hung:
            log.error("workers_did_not_stop", workers=hung)
        # The slices as the workers got them (secret files are read live, not again).
        self.config, self.runtime, self._slices = runtime.config, runtime, wanted
        for spec in self.specs:
            if spec.name in plan.keep:
                worker = supervisor.worker(spec.name)
                if worker is not None:
                    spec.update(worker, runtime)
        for worker in self._build(runtime, plan.to_build):
            supervisor.start(worker)

    def run(self) -> int:
        log.info(
            "agent_starting",
            version=__version__,
            store_id=self.config.store.id,
            config=str(self.config_path),
            config_hash=config_hash(self.config),
        )
        self._install_signal_handlers()
        limit_heaps()  # before the workers start their threads
        self._start_workers()
        self.state.emit(AgentStarted(version=__version__, config_hash=config_hash(self.config)))
        self.phase = "running"
        sd_notify("READY=1")
        self._notify_status()
        next_ping = time.monotonic()
        while True:
            now = time.monotonic()
            if self.watchdog is not None and now >= next_ping:
                # Held back: look again within a second, ping as soon as all is well.
                healthy = self._feed_watchdog()
                period = self.watchdog.ping_every_s
                next_ping = now + (period if healthy else min(1.0, period))
            wake = min(1.0, max(0.0, next_ping - now)) if self.watchdog else 1.0
            if self._stop.wait(wake):
                break
            if self._reload.is_set():
                self._reload.clear()
                self.phase = "reloading"
                sd_notify("RELOADING=1")
                self.reload()
                self.phase = "running"
                sd_notify("READY=1")
            self._notify_status()
        self.phase = "stopping"
        stopping_at = time.monotonic()
        sd_notify("STOPPING=1")
        self._notify_status()
        log.info("agent_stopping", budget_s=STOP_BUDGET.total_s)
        self.state.emit(AgentStopping(reason="stopped"))
        self.abandoned = self._stop_workers()
        log.info(
            "agent_stopped",
            seconds=round(time.monotonic() - stopping_at, 2),
            abandoned=self.abandoned,
        )
        return 0

    def _feed_watchdog(self) -> bool:
        """Ping systemd if every worker checked in recently; False when held back."""
        supervisor = self.supervisor
        if supervisor is not None and supervisor.healthy():
            if self._withheld:
                log.info("watchdog_resumed")
                self._withheld = []
            sd_notify("WATCHDOG=1")
            return True
        workers = supervisor.workers() if supervisor is not None else []
        troubled = [f"{w.name} {w.state}" for w in workers if w.state is not WorkerState.RUNNING]
        if troubled != self._withheld:
            # systemd restarts the agent at the end of its watchdog period.
            log.error("watchdog_withheld", workers=troubled)
            self._withheld = troubled
        return False

    def _install_signal_handlers(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
            self.request_stop()

        def on_reload(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_reload)
