"""A long run with faults: what a box lives through in its years, compressed.

The whole store of :mod:`testkit.bench_store` (cameras found by a unicast scan, so one can
move), `kitchen-agent run` against it, and a cycle of faults repeated until the time is up:

- **camera freeze**: camera 0's video server is stopped (SIGSTOP) for a while: its relay
  stalls and is restarted once the camera moves again;
- **address change**: camera 1 gets another address (DHCP) and is found again there;
- **broker restart**: central operations' broker goes away and comes back;
- **ingest loss**: the platform's ingest goes away and comes back;
- **reload**: SIGHUP with a good config (applied), then a bad one (rejected, the good one
  kept), then the original again;
- **wedged ONVIF call**: camera 2 accepts connections and never answers, while a rescan
  asks it: discovery waits in a call until its timeout; then the camera answers again.

The warm-up is the start and one full cycle (so every path a fault takes has run once and
its first-time costs are not counted as growth); the soak proper is ``minutes`` of cycles
after it. What must hold at the end: the agent never crashed (same process, exit 0 on
SIGTERM, no worker given up); its memory grew less than 5 % from the end of the warm-up to
the end;
no process it started outlives it; every event it raised reached the broker (the outbox's
sequence counts every event ever stored: received + left + dropped must equal it, with
nothing left and nothing dropped).
"""

from __future__ import annotations

import contextlib
import json
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit.bench_store import (
    ROOT,
    STORE,
    BenchStore,
    camera_id,
    children,
    rss_mb,
    status_mb,
)
from testkit.ops import final_result, send_command

SOAK_CONFIG = "quality: {interval_s: 15}\n"
# Heartbeats every 5 s: each fault is seen (and its recovery) within seconds, so a cycle
# of six faults takes about two minutes and the box's reporting path is busier than usual.
HEARTBEAT_S = 5
GROWTH_LIMIT = 0.05
# The short form cannot tell slow growth from warm-up in a few minutes; it guards against
# a gross leak only, in anonymous memory (the long form judges RSS to 5 %).
SHORT_GROWTH_LIMIT = 0.25
LONG_FORM_MINUTES = 10.0


@dataclass
class SoakReport:
    minutes: float
    cameras: int
    faults: list[str] = field(default_factory=list)  # "name: ok|what went wrong"
    rss_warm_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_peak_mb: float = 0.0
    # Anonymous memory (heap, stacks) only: what a leak grows. RSS also counts the pages of
    # library files mapped in, which vary with the page cache (a freshly installed venv
    # maps more of them), so the short form judges this one.
    anon_warm_mb: float = 0.0
    anon_end_mb: float = 0.0
    judge_anonymous: bool = False
    exit_code: int | None = None
    same_process: bool = True
    given_up: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    emitted: int = 0
    received: int = 0
    left: int = 0
    dropped: int = 0
    event_types: dict[str, int] = field(default_factory=dict)
    rss_trend: list[tuple[float, float]] = field(default_factory=list)  # (minute, MB)
    anon_trend: list[tuple[float, float]] = field(default_factory=list)  # (minute, MB)
    growth_limit: float = GROWTH_LIMIT

    @property
    def rss_growth(self) -> float:
        return (self.rss_end_mb - self.rss_warm_mb) / self.rss_warm_mb if self.rss_warm_mb else 0

    @property
    def anon_growth(self) -> float:
        warm, end = self.anon_warm_mb, self.anon_end_mb
        return (end - warm) / warm if warm else 0

    @property
    def problems(self) -> list[str]:
        found = [f for f in self.faults if not f.endswith(": ok")]
        if not self.same_process or self.exit_code != 0:
            found.append(f"the agent crashed or did not stop cleanly (exit {self.exit_code})")
        if self.given_up:
            found.append(f"workers given up: {self.given_up}")
        if self.judge_anonymous and self.anon_growth >= self.growth_limit:
            found.append(f"anonymous memory grew {self.anon_growth:.1%} after warm-up")
        if not self.judge_anonymous and self.rss_growth >= self.growth_limit:
            found.append(f"RSS grew {self.rss_growth:.1%} after warm-up")
        if self.orphans:
            found.append(f"processes outlived the agent: {self.orphans}")
        if self.received + self.left + self.dropped != self.emitted or self.left or self.dropped:
            found.append(
                f"events: {self.emitted} raised, {self.received} at the broker, "
                f"{self.left} left, {self.dropped} dropped"
            )
        return found

    def lines(self) -> list[str]:
        ok = not self.problems
        faults = sum(1 for f in self.faults if f.endswith(": ok"))
        return [
            f"soak: {self.minutes:g} min, {self.cameras} cameras, {len(self.faults)} faults "
            f"injected ({faults} recovered)",
            f"  RSS after warm-up {self.rss_warm_mb:.1f} MB, at the end {self.rss_end_mb:.1f} MB "
            f"({self.rss_growth:+.1%}), peak {self.rss_peak_mb:.1f} MB"
            + ("" if self.judge_anonymous else f"   goal < +{self.growth_limit:.0%}"),
            f"  of which anonymous {self.anon_warm_mb:.1f} MB -> {self.anon_end_mb:.1f} MB "
            f"({self.anon_growth:+.1%})"
            + (f"   goal < +{self.growth_limit:.0%}" if self.judge_anonymous else ""),
            f"  events raised {self.emitted}, at the broker {self.received}, left {self.left}, "
            f"dropped {self.dropped}",
            "  RSS by minute: "
            + ", ".join(f"{minute:.0f}: {mb:.1f}" for minute, mb in self.rss_trend),
            "  anonymous by minute: "
            + ", ".join(f"{minute:.0f}: {mb:.1f}" for minute, mb in self.anon_trend),
            f"  crashed: {'no' if self.same_process and self.exit_code == 0 else 'YES'}; "
            f"workers given up: {len(self.given_up)}; orphans: {len(self.orphans)}",
            f"  verdict: {'all held' if ok else 'FAILED: ' + '; '.join(self.problems)}",
        ]


class Soak:
    def __init__(self, workdir: Path, minutes: float, cameras: int = 4) -> None:
        self.minutes = minutes
        self.store = BenchStore(
            workdir,
            cameras=cameras,
            discovery_scan=True,
            persistent_broker=True,
            extra_config=SOAK_CONFIG,
            heartbeat_s=HEARTBEAT_S,
        )
        self.long_form = minutes >= LONG_FORM_MINUTES
        self.report = SoakReport(
            minutes=minutes,
            cameras=cameras,
            growth_limit=GROWTH_LIMIT if self.long_form else SHORT_GROWTH_LIMIT,
            judge_anonymous=not self.long_form,
        )
        self.rss: list[float] = []
        self.anon: list[float] = []
        # Every process the agent started during the run: (pid, start time) -> name. A pid
        # alone may be reused by the time the run ends; with its start time it is that process.
        self.spawned: dict[tuple[int, int], str] = {}

    # --- helpers ----------------------------------------------------------------------------

    def command(self, name: str, **args: Any) -> Any:
        assert self.store.ops is not None
        return final_result(self.store.ops, send_command(self.store.ops, ROOT, name, args), 60)

    def beat(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float) -> bool:
        """A heartbeat arriving from now on satisfies ``predicate``."""
        assert self.store.ops is not None
        seen = len(self.store.ops.on("heartbeat"))

        def found(_messages: list[Any]) -> bool:
            beats = self.store.ops.on("heartbeat")[seen:] if self.store.ops else []
            return any(predicate(m.json()) for m in beats)

        try:
            self.store.ops.wait_for(found, timeout_s)
        except TimeoutError:
            return False
        return True

    def camera(self, beat: dict[str, Any], index: int) -> dict[str, Any]:
        return next(c for c in beat["cameras"] if c["id"] == camera_id(index))

    def sample(self) -> None:
        assert self.store.agent is not None
        if self.store.agent.poll() is None:
            self.rss.append(rss_mb(self.store.agent.pid))
            self.anon.append(status_mb(self.store.agent.pid, "RssAnon"))
            for pid, name in children(self.store.agent.pid).items():
                started = _start_time(pid)
                if started is not None:
                    self.spawned[(pid, started)] = name

    def wait(self, seconds: float) -> None:
        """Sleep, sampling the agent's memory every few seconds."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sample()
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))

    def _first_quality_round(self) -> None:
        """Until every camera's reference is enrolled (the first quality round has run:
        OpenCV's code paged in, the references kept), so that is warm-up, not growth."""
        assert self.store.ops is not None
        cameras = self.store.cameras

        def enrolled(_messages: list[Any]) -> bool:
            ops = self.store.ops
            events = [m.json()["type"] for m in ops.on("event")] if ops else []
            return events.count("quality_reference_enrolled") >= cameras

        _waited(lambda: self.store.ops.wait_for(enrolled, 90))

    def record(self, name: str, ok: bool, detail: str = "") -> None:
        self.report.faults.append(f"{name}: {'ok' if ok else 'FAILED ' + detail}")

    # --- faults -----------------------------------------------------------------------------

    def camera_freeze(self) -> None:
        video = self.store.video[0]
        video.freeze()
        try:
            down = self.beat(lambda b: self.camera(b, 0)["stream"] != "up", 60)
        finally:
            video.resume()
        up = self.beat(lambda b: self.camera(b, 0)["stream"] == "up", 90)
        self.record("camera freeze", down and up, f"down seen {down}, up again {up}")

    def address_change(self) -> None:
        moved_to = self.store.move_camera(1)
        rescan = self.command("rescan")
        found = self.beat(
            lambda b: self.camera(b, 1)["online"] and self.camera(b, 1)["stream"] == "up", 90
        )
        address = self._status_address(1)
        ok = found and address is not None and address.startswith(moved_to)
        self.record("address change", ok, f"rescan {rescan['status']}, now at {address}")

    def _status_address(self, index: int) -> str | None:
        from agent.status.channel import ask_status

        with contextlib.suppress(Exception):
            report = ask_status(self.store.home / "run" / "status.sock", 5)
            for camera in report.cameras:
                if camera.id == camera_id(index):
                    return camera.address
        return None

    def broker_restart(self) -> None:
        broker = self.store.broker
        assert broker is not None
        broker.stop()
        self.wait(10)
        broker.start()
        back = self.beat(lambda b: True, 60)
        self.record("broker restart", back, "no heartbeat after the broker came back")

    def ingest_loss(self) -> None:
        ingest = self.store.ingest
        assert ingest is not None
        ingest.stop()
        down = self.beat(lambda b: any(c["stream"] != "up" for c in b["cameras"]), 60)
        ingest.start()
        up = self.beat(lambda b: all(c["stream"] == "up" for c in b["cameras"]), 120)
        self.record("ingest loss", down and up, f"down seen {down}, all up again {up}")

    def reload(self) -> None:
        agent = self.store.agent
        assert agent is not None and self.store.ops is not None
        path = self.store.config_path
        good = path.read_text(encoding="utf-8")
        seen = len(self.store.ops.on("event"))

        def event(kind: str) -> Callable[[list[Any]], bool]:
            def found(_messages: list[Any]) -> bool:
                ops = self.store.ops
                events = [m.json()["type"] for m in ops.on("event")[seen:]] if ops else []
                return kind in events

            return found

        path.write_text(good.replace("interval_s: 15", "interval_s: 20"), encoding="utf-8")
        agent.send_signal(signal.SIGHUP)
        applied = _waited(lambda: self.store.ops.wait_for(event("config_applied"), 30))
        path.write_text(good.replace("interval_s: 15", "interval_s: 1"), encoding="utf-8")
        agent.send_signal(signal.SIGHUP)
        rejected = _waited(lambda: self.store.ops.wait_for(event("config_rejected"), 30))
        path.write_text(good, encoding="utf-8")
        agent.send_signal(signal.SIGHUP)
        self.wait(3)
        self.record("reload good + bad", applied and rejected, f"{applied=} {rejected=}")

    def wedged_onvif(self) -> None:
        index = 2 % self.store.cameras
        sim = self.store.sims[index]
        sim.behaviour.hang = True
        try:
            self.command("rescan")
            offline = self.beat(lambda b: not self.camera(b, index)["online"], 90)
        finally:
            sim.behaviour.hang = False
        self.command("rescan")
        online = self.beat(lambda b: self.camera(b, index)["online"], 90)
        self.record("wedged ONVIF call", offline and online, f"{offline=} {online=}")

    def _cycle(self, agent: Any, started: float, deadline: float | None) -> None:
        """Every fault once (``deadline`` None), or cycles of them until ``deadline`` (at
        least one full cycle)."""
        index = 0
        while agent.poll() is None:
            if index % len(self.FAULTS) == 0:  # memory at the start of each cycle
                minute = (time.monotonic() - started) / 60
                self.report.rss_trend.append((minute, rss_mb(agent.pid)))
                self.report.anon_trend.append((minute, status_mb(agent.pid, "RssAnon")))
            name = self.FAULTS[index % len(self.FAULTS)]
            try:
                getattr(self, name)()
            except Exception as error:  # a fault that could not be run is a finding
                self.record(name, False, f"{type(error).__name__}: {error}")
            index += 1
            if index >= len(self.FAULTS) and (deadline is None or time.monotonic() > deadline - 60):
                return
            self.wait(5)

    FAULTS = (
        "camera_freeze",
        "address_change",
        "broker_restart",
        "ingest_loss",
        "reload",
        "wedged_onvif",
    )

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> SoakReport:
        """Warm-up: start, then (long form) one full cycle of faults, so that every path
        the faults take has run once and its first-time costs are not counted as growth.
        Then ``minutes`` of cycles, at least one; RSS is compared between the end of the
        warm-up and the end."""
        store = self.store
        started = time.monotonic()
        try:
            store.start()
            agent = store.start_agent()
            store.wait_streaming(timeout_s=120)
            self._first_quality_round()
            if self.long_form:
                self._cycle(agent, started, None)
            self.wait(15)
            self.sample()
            self.report.rss_warm_mb = statistics.median(self.rss[-3:] or [0.0])
            self.report.anon_warm_mb = statistics.median(self.anon[-3:] or [0.0])
            deadline = time.monotonic() + self.minutes * 60
            self._cycle(agent, started, deadline)
            self.wait(max(15.0, deadline - time.monotonic()))
            self.report.same_process = agent.poll() is None
            tail = self.rss[-3:] or [0.0]
            self.report.rss_end_mb = statistics.median(tail)
            self.report.anon_end_mb = statistics.median(self.anon[-3:] or [0.0])
            ended = (time.monotonic() - started) / 60
            self.report.rss_trend.append((ended, tail[-1]))
            self.report.anon_trend.append((ended, self.anon[-1] if self.anon else 0.0))
            self.report.rss_peak_mb = max(self.rss, default=0.0)
            self.sample()  # the children it has at the end count too
            self.report.exit_code = store.stop_agent(30)
            self._after_stop()
        finally:
            store.stop()
        return self.report

    def _after_stop(self) -> None:
        store = self.store
        log = (store.home / "agent.log").read_text(encoding="utf-8", errors="replace")
        for line in log.splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("event") == "worker_given_up":
                    self.report.given_up.append(str(entry.get("worker")))
        # A child killed at the agent's exit may still be on its way out: wait for it with
        # a deadline; what is still alive then outlived the agent.
        deadline = time.monotonic() + 5
        while self._survivors() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.report.orphans = self._survivors()
        # Every event: raised (the outbox's sequence), received, left, dropped.
        time.sleep(2)  # the last events the reporter flushed on its way out, arriving
        emitted, left, dropped = store.outbox_counts()
        received = store.received_events()
        self.report.emitted, self.report.left, self.report.dropped = emitted, left, dropped
        self.report.received = len(received)
        for kind in received.values():
            self.report.event_types[kind] = self.report.event_types.get(kind, 0) + 1

    def _survivors(self) -> list[str]:
        """Processes the agent started that are still alive: those seen as its children
        during the run, and any relay feeding this run's ingest (one started between two
        samples)."""
        found = {
            f"{name} {pid}"
            for (pid, started), name in self.spawned.items()
            if _start_time(pid) == started and _alive(pid)
        }
        assert self.store.ingest is not None
        relays = subprocess.run(
            ["pgrep", "-f", f"{self.store.ingest.base_url}/{STORE}-"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        found.update(f"ffmpeg {pid}" for pid in relays if _alive(int(pid)))
        return sorted(found)


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _waited(wait: Callable[[], Any]) -> bool:
    try:
        wait()
    except TimeoutError:
        return False
    return True


def run_soak(workdir: Path, minutes: float, cameras: int = 4) -> SoakReport:
    return Soak(workdir, minutes, cameras).run()
