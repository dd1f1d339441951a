"""A store's daemon over its life: reloads that nobody sees, and a stop within budget.

One `kitchen-agent run` for the module, against real parts: two fake ONVIF cameras with
real RTSP video, a real mosquitto for central operations, a real nginx-rtmp ingest. The
tests run in order on that one daemon; the last one stops it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.status.channel import ask_status
from agent.status.model import StatusReport
from testkit.bench_store import children
from testkit.fake_onvif import DEFAULT_PASSWORD
from testkit.kitchen_sim import SimCamera, kitchen_photo
from testkit.mosquitto import Mosquitto, Subscriber
from testkit.nginx_rtmp import NginxRtmp, wait_for
from testkit.notify import LogReader
from testkit.ops import final_result, send_command
from testkit.rtsp_camera import RtspCamera

STORE = "sh-xh-0913"
ROOT = f"kitchen/v1/xuhui/{STORE}"
WOK, SINK = "mac-02a1fe000001", "mac-02a1fe000002"

pytestmark = pytest.mark.slow


@dataclass
class Store:
    config: Path
    home: Path
    process: subprocess.Popen[str]
    logs: LogReader
    ops: Subscriber
    cameras: dict[str, SimCamera]

    @property
    def socket(self) -> Path:
        return self.home / "run" / "status.sock"

    def status(self) -> StatusReport:
        return ask_status(self.socket, timeout_s=3)

    def command(self, name: str, **args: Any) -> Any:
        return final_result(self.ops, send_command(self.ops, ROOT, name, args))

    def ffmpeg_pids(self) -> set[int]:
        return set(self.relays().values())

    def relays(self) -> dict[str, int]:
        """The agent's ffmpeg children (one relay each), by the camera in their output."""
        found = {}
        for pid, name in children(self.process.pid).items():
            if name != "ffmpeg":
                continue
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                for camera_id in (WOK, SINK):
                    if any(arg.endswith(f"{STORE}-{camera_id}".encode()) for arg in argv):
                        found[camera_id] = pid
        return found

    def reload(self, *edits: tuple[str, str]) -> Any:
        """Edit the config file, SIGHUP, and return the config_applied ops receive."""
        text = self.config.read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new, 1)
        self.config.write_text(text, encoding="utf-8")
        seen = len(self.ops.on("event"))
        self.process.send_signal(signal.SIGHUP)

        def applied(messages: list[Any]) -> Any:
            events = [m.json() for m in messages if m.topic == f"{ROOT}/event"][seen:]
            return next(
                (
                    e["data"]
                    for e in events
                    if e["type"] == "config_applied" and e["data"]["changed"]
                ),
                None,
            )

        return self.ops.wait_for(applied, 30)

    def session(self) -> int:
        return int(self.ops.on("heartbeat")[-1].json()["session"])


def write_config(
    path: Path, home: Path, broker: Mosquitto, ingest: NginxRtmp, cams: list[SimCamera]
) -> None:
    creds = home / "creds"
    creds.mkdir(exist_ok=True)
    (creds / "camera-password").write_text(DEFAULT_PASSWORD, encoding="utf-8")
    static = "\n".join(f"    - {c.host}:{c.port}" for c in cams)
    path.write_text(
        f"""\
store:
  id: {STORE}
  name: 生命周期测试店
  licence_number: JY00000000000913
  district: xuhui
  address: 上海市徐汇区测试路913号
  kcps: [cooking, dishwashing]
broker:
  url: {broker.url}
  heartbeat_interval_s: 5
  keepalive_s: 10
  reconnect_min_s: 0.2
cameras:
  discovery:
    multicast: false
    timeout_s: 0.5
  static:
{static}
  enrolled:
    - id: {WOK}
      name: 热菜区
      kcps: [{{kcp: cooking}}]
    - id: {SINK}
      name: 洗消间
      kcps: [{{kcp: dishwashing}}]
quality:
  interval_s: 5
streams:
  ingest_url: {ingest.base_url}/{{store_id}}-{{camera_id}}
  max_kbps: 512
  cameras:
    {SINK}:
      priority: 3
paths:
  state_dir: {home / "state"}
  credentials_dir: {creds}
  runtime_dir: {home / "run"}
""",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory,
    mosquitto: Mosquitto,
    nginx_rtmp: NginxRtmp,
    rtsp_camera: RtspCamera,
) -> Iterator[Store]:
    home = tmp_path_factory.mktemp("lifecycle")
    cameras = {}
    for index, camera_id in enumerate((WOK, SINK)):
        camera = SimCamera(
            persona="generic",
            mac=":".join(camera_id[4:][i : i + 2] for i in range(0, 12, 2)),
            rtsp_main=rtsp_camera.url("main"),
            rtsp_sub=rtsp_camera.url("sub"),
            discovery=False,
        )
        camera.scene = kitchen_photo(index)
        cameras[camera_id] = camera.start()
    config = home / "agent.yaml"
    write_config(config, home, mosquitto, nginx_rtmp, list(cameras.values()))
    ops = Subscriber(mosquitto, (f"{ROOT}/#",)).start()
    process = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Store(config, home, process, LogReader(process), ops, cameras)
    try:
        ops.wait_json(
            "heartbeat",
            lambda h: (
                len(h["cameras"]) == 2
                and all(c["online"] and c["stream"] == "up" for c in h["cameras"])
            ),
            60,
        )
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        running.logs.close()
        ops.stop()
        for camera in cameras.values():
            camera.stop()
        print(running.logs.text()[-4000:])  # shown by pytest when a test failed


def test_reload_rebuilds_only_what_changed(store: Store) -> None:
    relays = store.relays()
    assert set(relays) == {WOK, SINK}
    session = store.session()

    # A quality setting and a camera's name: the quality worker alone is rebuilt. The MQTT
    # session goes on (a new birth tells ops the new config) and no relay blinks.
    applied = store.reload(
        ("quality:\n  interval_s: 5", "quality:\n  interval_s: 6"), ("name: 热菜区", "name: 炒锅")
    )
    assert applied["restarted"] == ["quality"]
    birth = store.ops.wait_json("birth", lambda b: b["config_hash"] == applied["config_hash"], 15)
    assert birth["session"] == session
    assert {c["id"]: c["name"] for c in birth["cameras"]}[WOK] == "炒锅"
    beats = len(store.ops.on("heartbeat"))
    store.ops.wait_for(lambda messages: len(store.ops.on("heartbeat")) > beats, 15)
    assert store.session() == session
    assert store.relays() == relays
    assert store.status().uplink.session == session

    # One camera's stream cap: that camera's relay restarts, the other runs on.
    applied = store.reload(("      priority: 3\n", "      priority: 3\n      max_kbps: 448\n"))
    assert applied["restarted"] == []
    wait_for(
        lambda: store.relays().get(SINK) not in (None, relays[SINK]), 20, what="sink relay anew"
    )
    assert store.relays()[WOK] == relays[WOK]
    relays = store.relays()

    # The broker settings: a new MQTT session; every relay runs on.
    applied = store.reload(("keepalive_s: 10", "keepalive_s: 12"))
    assert applied["restarted"] == ["mqtt"]
    store.ops.wait_json("state", lambda s: s["online"] and s["session"] == session + 1, 15)
    assert store.relays() == relays
    assert all(w.state == "running" for w in store.status().workers)


def test_on_demand_streams_start_and_stop_on_command(store: Store) -> None:
    def stream_event(kind: str, camera_id: str, reason: str | None = None) -> Any:
        seen = len(store.ops.on("event"))

        def found(messages: list[Any]) -> Any:
            events = [m.json() for m in messages if m.topic == f"{ROOT}/event"][seen:]
            return next(
                (
                    e
                    for e in events
                    if e["type"] == kind
                    and e["data"]["camera_id"] == camera_id
                    and (reason is None or e["data"]["reason"] == reason)
                ),
                None,
            )

        return found

    # The wok camera goes on demand (a per-camera override): its relay stops, idle.
    idle = stream_event("stream_down", WOK, "idle")
    sink = store.relays()[SINK]
    applied = store.reload(
        (f"  cameras:\n    {SINK}:", f"  cameras:\n    {WOK}:\n      mode: on_demand\n    {SINK}:")
    )
    assert applied["restarted"] == []
    store.ops.wait_for(idle, 20)
    assert WOK not in store.relays() and store.relays()[SINK] == sink

    # The platform asks for it: it streams, for the duration asked, then stops by itself.
    up = stream_event("stream_up", WOK)
    started = store.command("start_stream", camera_id=WOK, duration_s=10)
    assert started["status"] == "succeeded", started
    assert started["result"]["streaming"] is True
    store.ops.wait_for(up, 30)
    assert WOK in store.relays()
    stopped = stream_event("stream_down", WOK, "stopped")
    result = store.command("stop_stream", camera_id=WOK)
    assert result["status"] == "succeeded" and result["result"]["streaming"] is False
    store.ops.wait_for(stopped, 15)
    assert WOK not in store.relays()
    up, idle = stream_event("stream_up", WOK), stream_event("stream_down", WOK, "idle")
    assert store.command("start_stream", camera_id=WOK, duration_s=10)["status"] == "succeeded"
    store.ops.wait_for(up, 30)
    store.ops.wait_for(idle, 30)  # the ten seconds are up

    # A camera that streams always is not for these commands.
    refused = store.command("start_stream", camera_id=SINK)
    assert (refused["status"], refused["error"]["code"]) == ("failed", "command_not_supported")
    assert store.relays()[SINK] == sink

    # Back to always: the wok streams again.
    up = stream_event("stream_up", WOK)
    store.reload((f"    {WOK}:\n      mode: on_demand\n", ""))
    store.ops.wait_for(up, 30)


def test_sigterm_stops_within_budget_with_a_hung_camera_and_a_relay_mid_restart(
    store: Store,
) -> None:
    # The dishwashing camera hangs: it accepts connections and never answers. A rescan
    # sends discovery into an ONVIF call to it that will not end before its timeout.
    store.cameras[SINK].behaviour.hang = True
    assert store.command("rescan")["status"] == "succeeded"
    wait_for(
        lambda: next(w for w in store.status().workers if w.name == "discovery").beat_age_s >= 1.5,
        15,
        what="discovery stuck in a call to the hung camera",
    )
    # The wok's relay is restarted by ops: a new ffmpeg, not up yet.
    assert store.command("restart_stream", camera_id=WOK)["status"] == "succeeded"
    store.ops.wait_json(
        "event",
        lambda e: (
            e["type"] == "stream_down"
            and e["data"]["camera_id"] == WOK
            and e["data"]["reason"] == "restart_command"
        ),
        10,
    )
    relays = store.ffmpeg_pids()

    started = time.monotonic()
    store.process.send_signal(signal.SIGTERM)
    code = store.process.wait(30)
    elapsed = time.monotonic() - started

    assert code == 0
    assert elapsed < 10, f"stop took {elapsed:.1f} s"
    # Ops were told `stopped`, not the Last Will's connection_lost, and got the last words.
    store.ops.wait_json("state", lambda s: s["online"] is False, 5)
    assert store.ops.on("state")[-1].json()["reason"] == "stopped"
    types = [(m.json()["type"], m.json()["data"]) for m in store.ops.on("event")]
    assert any(kind == "agent_stopping" for kind, _ in types)
    assert any(
        kind == "stream_down" and data["camera_id"] == SINK and data["reason"] == "agent_stopping"
        for kind, data in types
    )
    stopped = store.logs.named("agent_stopped")
    assert stopped and stopped[-1]["seconds"] < 10
    # No relay outlived the agent.
    assert relays
    wait_for(
        lambda: all(not Path(f"/proc/{pid}").exists() for pid in relays),
        5,
        what="the relays' ffmpeg gone",
    )
    assert not store.socket.exists()
    leftover = subprocess.run(
        ["pgrep", "-f", f"{STORE}-mac"], capture_output=True, text=True, check=False
    ).stdout.split()
    assert [pid for pid in leftover if int(pid) != os.getpid()] == []
