"""The long-running agent: workers under one supervisor, systemd integration, reloads.

Start-up never waits for the network: cameras are found, judged and streamed whether or not
the broker answers. A config reload (SIGHUP or the `reload_config` command) that fails
validation is reported and ignored: the daemon keeps its last good config.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import structlog

from agent import __version__
from agent.config import AgentConfig, config_hash, load_config
from agent.errors import ConfigError
from agent.model import AgentStarted, AgentStopping, ConfigApplied, ConfigRejected
from agent.secrets import CameraLogins, CredentialStore, credentials_dir
from agent.state import AgentState
from agent.status.build import build_status
from agent.status.model import Phase, StatusReport
from agent.supervisor import Supervisor, Worker
from agent.uplink.mqtt.outbox import FILE_NAME as OUTBOX_FILE
from agent.uplink.mqtt.outbox import EventFeed, Outbox, outbox_bounds
from agent.uplink.mqtt.session import SessionCounter

log = structlog.get_logger(__name__)

WorkerFactory = Callable[["Runtime"], list[Worker]]


def sd_notify(message: str) -> bool:
    """Tell systemd (Type=notify) about readiness/watchdog; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half of systemd's WatchdogSec, or None when the watchdog is off."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None


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


class Daemon:
    def __init__(
        self,
        config_path: Path,
        worker_factory: WorkerFactory,
        config: AgentConfig | None = None,
    ) -> None:
        self.config_path = config_path
        self.config = config if config is not None else load_config(config_path)
        self.worker_factory = worker_factory
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
        self._status_sent: str | None = None

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
        )

    def _start_workers(self) -> None:
        self.runtime = self._make_runtime(self.config)
        self.supervisor = Supervisor()
        for worker in self.worker_factory(self.runtime):
            self.supervisor.start(worker)

    def _stop_workers(self) -> None:
        if self.supervisor is not None:
            stuck = self.supervisor.stop()
            if stuck:
                log.error("workers_did_not_stop", workers=stuck)
            self.supervisor = None

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
            new = load_config(self.config_path)
        except ConfigError as error:
            log.error("config_rejected", problems=error.problems)  # noqa: TRY400
            self.state.emit(ConfigRejected(problems=error.problems))
            return False
        if new == self.config:
            log.info("config_unchanged", config_hash=config_hash(new))
            self.state.emit(ConfigApplied(config_hash=config_hash(new), changed=False))
            return True
        log.info("config_reloading", config_hash=config_hash(new))
        self._stop_workers()
        self.config = new
        self._start_workers()
        self.state.emit(ConfigApplied(config_hash=config_hash(new), changed=True))
        return True

    def run(self) -> int:
        log.info(
            "agent_starting",
            version=__version__,
            store_id=self.config.store.id,
            config=str(self.config_path),
            config_hash=config_hash(self.config),
        )
        self._install_signal_handlers()
        self._start_workers()
        self.state.emit(AgentStarted(version=__version__, config_hash=config_hash(self.config)))
        self.phase = "running"
        sd_notify("READY=1")
        self._notify_status()
        watchdog = watchdog_interval_s()
        tick = min(1.0, watchdog) if watchdog else 1.0
        while not self._stop.wait(tick):
            if self._reload.is_set():
                self._reload.clear()
                self.phase = "reloading"
                sd_notify("RELOADING=1")
                self.reload()
                self.phase = "running"
                sd_notify("READY=1")
            if watchdog and self.supervisor is not None and self.supervisor.healthy():
                sd_notify("WATCHDOG=1")
            self._notify_status()
        self.phase = "stopping"
        sd_notify("STOPPING=1")
        log.info("agent_stopping")
        self.state.emit(AgentStopping(reason="stopped"))
        self._stop_workers()
        log.info("agent_stopped")
        return 0

    def _install_signal_handlers(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal_received", signal=signal.Signals(signum).name)
            self.request_stop()

        def on_reload(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_reload)
