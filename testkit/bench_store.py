"""A whole store on this machine for the load and soak benchmarks (and their CI form).

N fake ONVIF cameras (``SimCamera``: live snapshots of a kitchen photo), each on its own
loopback address 127.0.B.(10+i) so that a unicast WS-Discovery scan finds each one and a
camera can "move" to another address as DHCP would move it (B is the store's own block of
addresses, so that two stores on one machine, a benchmark beside the tests, never find
each other's cameras: they have the same MACs); their video comes from fake
RTSP servers (camera 0 has a server of its own, so freezing it freezes one camera); a
real mosquitto for central operations; a real nginx-rtmp ingest; and `kitchen-agent run`
as its own process, measured from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.uplink.mqtt.outbox import FILE_NAME as OUTBOX_FILE
from testkit.fake_onvif import DEFAULT_PASSWORD
from testkit.kitchen_sim import SimCamera, kitchen_photo
from testkit.mosquitto import BrokerOptions, Mosquitto, Subscriber
from testkit.nginx_rtmp import NginxRtmp, wait_for
from testkit.rtsp_camera import MAIN_1080P, SUB_360P, RtspCamera

STORE = "sh-bench-0001"
ROOT = f"kitchen/v1/xuhui/{STORE}"
KCPS = ("cooking", "cold_room", "prep", "dishwashing", "packing", "storage")
TICKS = os.sysconf("SC_CLK_TCK")


def camera_id(index: int) -> str:
    return f"mac-02b0000000{index:02x}"


def camera_host(index: int, moved: bool = False, block: int = 0) -> str:
    return f"127.0.{block}.{10 + index + (100 if moved else 0)}"


def address_block() -> int:
    """A loopback block of this process's own (1-250: not 127.0.0.x, where other tests'
    fake cameras answer)."""
    return 1 + os.getpid() % 250


def cpu_s(pid: int) -> float:
    """utime + stime of one process, seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_mb(pid: int, key: str) -> float:
    """One memory line of /proc/PID/status (``VmRSS``, ``RssAnon``, ``VmHWM``...), MB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    return status_mb(pid, "VmRSS")


def children(pid: int) -> dict[int, str]:
    """Direct children of ``pid``: pid -> command name."""
    found = {}
    with contextlib.suppress(OSError):  # the process itself is gone
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                listed = (task / "children").read_text().split()
            except OSError:  # this thread ended since the folder was listed
                continue
            for child in listed:
                with contextlib.suppress(OSError):
                    found[int(child)] = Path(f"/proc/{child}/comm").read_text().strip()
    return found


@dataclass
class BenchStore:
    workdir: Path
    cameras: int = 8
    streams: bool = True
    discovery_scan: bool = False  # find cameras by a unicast scan (they may move)
    persistent_broker: bool = False  # sessions and queued messages survive its restart
    extra_config: str = ""
    heartbeat_s: int = 30  # the agent's default
    block: int = field(default_factory=address_block)  # the cameras' 127.0.<block>.x
    broker: Mosquitto | None = None
    ingest: NginxRtmp | None = None
    video: list[RtspCamera] = field(default_factory=list)
    sims: list[SimCamera] = field(default_factory=list)
    agent: subprocess.Popen[bytes] | None = None
    ops: Subscriber | None = None

    # --- the kitchen ----------------------------------------------------------------------

    def start(self) -> BenchStore:
        self.workdir.mkdir(parents=True, exist_ok=True)
        options = BrokerOptions(persistence=self.persistent_broker)
        self.broker = Mosquitto(self.workdir / "broker", options)
        self.broker.start()
        self.ingest = NginxRtmp(self.workdir / "ingest").start()
        self.video = [RtspCamera({"main": MAIN_1080P, "sub": SUB_360P}).start() for _ in range(2)]
        for index in range(self.cameras):
            self.sims.append(self._camera(index, moved=False))
        self.ops = Subscriber(self.broker, (f"{ROOT}/#",), persistent=True).start()
        return self

    def _camera(self, index: int, moved: bool) -> SimCamera:
        video = self.video[0 if index == 0 else 1]
        camera = SimCamera(
            persona="generic+no_multicast",
            host=camera_host(index, moved, self.block),
            mac=":".join(camera_id(index)[4:][i : i + 2] for i in range(0, 12, 2)),
            rtsp_main=video.url("main"),
            rtsp_sub=video.url("sub"),
            discovery=self.discovery_scan,
        )
        camera.scene = kitchen_photo(index)
        return camera.start()

    def move_camera(self, index: int) -> str:
        """DHCP gives camera ``index`` another address: it is gone from the old one and
        answers at the new one (same MAC, so the same camera id)."""
        old = self.sims[index]
        moved = old.host == camera_host(index, block=self.block)
        old.stop()
        self.sims[index] = self._camera(index, moved=moved)
        return self.sims[index].host

    def stop(self) -> None:
        self.stop_agent()
        if self.ops is not None:
            with contextlib.suppress(Exception):
                self.ops.stop()
        for sim in self.sims:
            with contextlib.suppress(Exception):
                sim.stop()
        for video in self.video:
            video.stop()
        if self.ingest is not None:
            self.ingest.stop()
        if self.broker is not None:
            self.broker.stop()

    # --- the box --------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self.workdir / "box"

    @property
    def config_path(self) -> Path:
        return self.home / "agent.yaml"

    def config_text(self, **changes: Any) -> str:
        assert self.broker is not None and self.ingest is not None
        creds = self.home / "creds"
        creds.mkdir(parents=True, exist_ok=True)
        (creds / "camera-password").write_text(DEFAULT_PASSWORD, encoding="utf-8")
        # Every camera's video comes from one RTSP server on 127.0.0.1, as cameras behind
        # an NVR: their media host is listed (docs/security.md), else it is not followed.
        enrolled = "\n".join(
            f"    - {{id: {camera_id(i)}, name: 摄像头{i}, kcps: [{{kcp: {KCPS[i % 6]}}}], "
            "media_hosts: [127.0.0.1]}"
            for i in range(self.cameras)
        )
        if self.discovery_scan:
            finding = (
                "  discovery: {multicast: false, timeout_s: 1.0, "
                f"scan: [{', '.join(self.scan_ranges())}]}}\n"
            )
        else:
            static = ", ".join(f"'{c.host}:{c.port}'" for c in self.sims)
            finding = f"  discovery: {{multicast: false, timeout_s: 1.0}}\n  static: [{static}]\n"
        streams = ""
        if self.streams:
            # The cameras' sub-streams fit the cap: every relay is a stream copy, as in a
            # store whose uplink is sized for its cameras (8 x 512 kbit/s).
            streams = (
                f"streams:\n  ingest_url: {self.ingest.base_url}/{{store_id}}-{{camera_id}}\n"
                f"  uplink_kbps: {512 * self.cameras}\n"
            )
        text = (
            f"store: {{id: {STORE}, name: 基准店, licence_number: JY0000000000BENCH, "
            f"district: xuhui, address: 上海市徐汇区基准路1号, kcps: [{', '.join(KCPS)}]}}\n"
            f"broker: {{url: '{self.broker.url}', heartbeat_interval_s: {self.heartbeat_s}}}\n"
            f"cameras:\n{finding}  enrolled:\n{enrolled}\n"
            f"{streams}"
            f"paths: {{state_dir: {self.home / 'state'}, credentials_dir: {creds}, "
            f"runtime_dir: {self.home / 'run'}}}\n"
            f"{self.extra_config}"
        )
        for old, new in changes.items():
            text = text.replace(old, new)
        return text

    def scan_ranges(self) -> list[str]:
        """Where this store's cameras are or may move to, each address as a /32 range.
        Not the whole 127.0.0.0/24: other tests' fake cameras answer on 127.0.0.1 while
        the soak runs beside them, and the store's agent must neither find nor log into
        them (a /29 around each would lose the addresses that fall on its broadcast)."""
        return [
            f"{camera_host(i, moved, self.block)}/32"
            for moved in (False, True)
            for i in range(self.cameras)
        ]

    def start_agent(self, log_name: str = "agent.log") -> subprocess.Popen[bytes]:
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self.config_path.write_text(self.config_text(), encoding="utf-8")
        with (self.home / log_name).open("ab") as log:
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return self.agent

    def stop_agent(self, timeout_s: float = 30) -> int | None:
        if self.agent is None or self.agent.poll() is not None:
            return None if self.agent is None else self.agent.returncode
        self.agent.send_signal(signal.SIGTERM)
        try:
            return self.agent.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.agent.kill()
            self.agent.wait()
            return None

    def relays(self) -> list[int]:
        assert self.agent is not None
        return [pid for pid, name in children(self.agent.pid).items() if name == "ffmpeg"]

    def wait_streaming(self, timeout_s: float = 90) -> None:
        """Every camera online and, with streams on, every relay up (per a heartbeat)."""
        assert self.ops is not None

        def all_up(beat: dict[str, Any]) -> bool:
            cameras = [c for c in beat["cameras"] if c["enrolled"]]
            return len(cameras) == self.cameras and all(
                c["online"] and (c["stream"] == "up" or not self.streams) for c in cameras
            )

        self.ops.wait_json("heartbeat", all_up, timeout_s)

    def outbox_counts(self) -> tuple[int, int, int]:
        """(events ever stored, still stored, dropped) from the agent's outbox."""
        path = self.home / "state" / OUTBOX_FILE
        with contextlib.closing(sqlite3.connect(path)) as db:
            seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            left = db.execute("SELECT count(*) FROM events").fetchone()[0]
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        return (int(seq[0]) if seq else 0), int(left), int(meta.get("dropped_total", 0))

    def received_events(self) -> dict[str, str]:
        """msg_id -> type of every event ops received (duplicates folded)."""
        assert self.ops is not None
        return {m.json()["msg_id"]: m.json()["type"] for m in self.ops.on("event")}

    def wait_until(self, condition: Any, timeout_s: float, what: str) -> Any:
        return wait_for(condition, timeout_s, what=what)


def sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
