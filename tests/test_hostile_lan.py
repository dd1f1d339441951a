"""The box on a hostile LAN (issue 12): a rogue device floods discovery, sends over-long and
malformed datagrams, names other hosts, answers SOAP slowly or without end, serves an image
bomb, claims the honest camera's identity and points stream, snapshot and media URIs at a
listener that records credentials. The agent, run as the daemon, stays under 300 MB and
within its CPU budget, keeps streaming and reporting the honest camera, and the listener
records nothing (docs/security.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.capture.inventory import MAX_UNENROLLED, InventoryStore
from agent.model import Camera
from testkit.fake_onvif import DEFAULT_PASSWORD
from testkit.hostile_lan import HostileLan
from testkit.mosquitto import Mosquitto, Subscriber
from testkit.netns import REPO, _env
from testkit.nginx_rtmp import NginxRtmp
from testkit.onvif_fixtures import require_netns
from testkit.rtsp_camera import SUB_360P, RtspCamera

pytestmark = [pytest.mark.netns]

STORE = "sh-xh-0066"
ROOT = f"kitchen/v1/xuhui/{STORE}"
OWN_PASSWORD = "honest-cam-own-pw-4e1b"  # the honest camera's password of its own
HONEST_MAC = "02:00:00:00:0a:10"
HONEST_ID = "mac-020000000a10"
HONEST_ENDPOINT = f"urn:uuid:{uuid.UUID(int=0xA10)}"
MAX_RSS_KB = 300 * 1024
CPU_BUDGET = 0.25  # of one core, averaged while the rogue is at it (measured: ~0.04)


@pytest.fixture
def lan() -> Iterator[HostileLan]:
    require_netns()
    with HostileLan() as started:
        yield started


def write_config(path: Path, home: Path, broker: Mosquitto, ingest: NginxRtmp) -> None:
    credentials = home / "credentials"
    credentials.mkdir()
    (credentials / "camera-password").write_text(DEFAULT_PASSWORD)
    (credentials / f"camera-password.{HONEST_ID}").write_text(OWN_PASSWORD)
    (credentials / "stream-token").write_text("hostile-token")
    path.write_text(
        f"""\
store:
  id: {STORE}
  name: 敌意局域网测试店
  licence_number: JY00000000000066
  district: xuhui
  address: 上海市徐汇区测试路66号
  kcps: [cooking]
broker:
  url: {broker.url}
  heartbeat_interval_s: 5
  keepalive_s: 10
cameras:
  discovery:
    timeout_s: 2
    interval_s: 600
  enrolled:
    - id: {HONEST_ID}
      kcps: [{{kcp: cooking}}]
quality:
  interval_s: 5
streams:
  ingest_url: {ingest.base_url}/{{store_id}}-{{camera_id}}?token={{token}}
  max_kbps: 512
paths:
  state_dir: {home / "state"}
  credentials_dir: {credentials}
""",
        encoding="utf-8",
    )


def command(ops: Subscriber, name: str, args: dict[str, Any] | None = None) -> str:
    command_id = f"hostile-{uuid.uuid4().hex[:8]}"
    payload = {
        "command_id": command_id,
        "name": name,
        "args": args or {},
        "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat(),
    }
    ops.client.publish(f"{ROOT}/cmd", json.dumps(payload), qos=1).wait_for_publish(5)
    return command_id


def result(ops: Subscriber, command_id: str, timeout_s: float = 30) -> Any:
    return ops.wait_json(
        "cmd/result",
        lambda r: r["command_id"] == command_id and r["status"] != "accepted",
        timeout_s,
    )


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def honest_streaming(beat: dict[str, Any]) -> bool:
    cameras = {c["id"]: c for c in beat["cameras"]}
    honest = cameras.get(HONEST_ID)
    return honest is not None and honest["online"] and honest["stream"] == "up"


def test_a_rogue_device_cannot_stall_exhaust_crash_or_rob_the_box(
    lan: HostileLan, tmp_path: Path
) -> None:
    # The honest camera: RTSP that wants its own password (Digest), ONVIF on port 80.
    video = RtspCamera(
        {"sub": SUB_360P}, host=lan.camera_ip, port=8554, credentials=("admin", OWN_PASSWORD)
    )
    lan.keep_in(lan.cams_ns, video.start)
    own = tmp_path / "own-password"
    own.write_text(OWN_PASSWORD)
    rtsp = f"rtsp://{lan.camera_ip}:8554/sub"
    lan.start_cameras(
        lan.cams_ns,
        [
            f"persona=generic,host={lan.camera_ip},port=80,rtsp_main={rtsp},rtsp_sub={rtsp},"
            f"mac={HONEST_MAC},serial=HONEST0A10,endpoint_uuid={HONEST_ENDPOINT[9:]}"
        ],
        password_file=own,
    )
    # The box: broker and ingest on the agent namespace's loopback, then the daemon.
    broker, ingest = Mosquitto(tmp_path / "broker"), NginxRtmp(tmp_path / "ingest")
    lan.keep_in(lan.agent_ns, broker.start)
    lan.keep_in(lan.agent_ns, ingest.start)
    ops = lan.in_namespace(lan.agent_ns, lambda: Subscriber(broker, [f"{ROOT}/#"]).start())
    config = tmp_path / "agent.yaml"
    write_config(config, tmp_path, broker, ingest)
    # Enrolled at installation: the box knows where the honest camera lives.
    InventoryStore(tmp_path / "state").save(
        {
            HONEST_ID: Camera(
                id=HONEST_ID,
                address=lan.camera_ip,
                xaddr=f"http://{lan.camera_ip}/onvif/device_service",
                mac=HONEST_MAC,
                endpoint=HONEST_ENDPOINT,
                online=False,
            )
        }
    )
    log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen(
        lan.exec_argv(
            lan.agent_ns, [sys.executable, "-m", "agent", "run", "--config", str(config)]
        ),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=REPO,
        env=_env(None),
        start_new_session=True,
    )
    lan._processes.append(agent)  # type: ignore[arg-type]
    try:
        ops.wait_json("heartbeat", honest_streaming, 45)

        # The rogue arrives.
        rogue_report = tmp_path / "rogue.jsonl"
        spec = {
            "ip": lan.rogue_ip,
            "recorder_ip": lan.recorder_ip,
            "report": str(rogue_report),
            "secrets": [OWN_PASSWORD],
            "claim": {"mac": HONEST_MAC, "serial": "HONEST0A10", "endpoint": HONEST_ENDPOINT},
            "honest_ip": lan.camera_ip,
        }
        rogue_argv = [sys.executable, "-m", "testkit.rogue_device", json.dumps(spec)]
        with (tmp_path / "rogue.log").open("wb") as rogue_log:
            rogue = subprocess.Popen(
                lan.exec_argv(lan.rogue_ns, rogue_argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=rogue_log,
                cwd=REPO,
                env=_env(None),
                start_new_session=True,
            )
        lan._processes.append(rogue)  # type: ignore[arg-type]
        assert rogue.stdout is not None and b"ready" in rogue.stdout.readline()
        ready = next(line for line in report(rogue_report) if line["kind"] == "ready")
        bomb_id = "mac-" + ready["cameras"]["bomb"]["mac"].replace(":", "")
        cpu_before, wall_before = cpu_s(agent.pid), time.monotonic()

        # A full round in the middle of the flood; the Hello flood runs all along.
        command(ops, "rescan")
        ops.wait_json("heartbeat", lambda h: bomb_id in {c["id"] for c in h["cameras"]}, 60)
        wait_for(
            lambda: (
                {line.get("server") for line in report(rogue_report)}
                >= {"slow_headers", "slow_body", "huge"}
            ),
            30,
            "the agent to give up on the slow and endless SOAP servers",
        )

        # Ops ask the rogue for a picture (its snapshot is a 67 Mpx JPEG), and the honest
        # camera for one (Basic over HTTP is refused: the frame comes from RTSP).
        bomb = result(ops, command(ops, "snapshot", {"camera_id": bomb_id}))
        assert bomb["status"] == "failed", bomb
        honest = result(ops, command(ops, "snapshot", {"camera_id": HONEST_ID}))
        assert honest["status"] == "succeeded", honest

        # Still streaming and reporting the honest camera, after all that.
        seq = ops.on("heartbeat")[-1].json()["seq"]
        beat = ops.wait_json("heartbeat", lambda h: h["seq"] > seq and honest_streaming(h), 30)
        lan.in_namespace(lan.agent_ns, lambda: ingest.wait_publishing(f"{STORE}-{HONEST_ID}"))
        cpu = (cpu_s(agent.pid) - cpu_before) / (time.monotonic() - wall_before)

        assert agent.poll() is None, "the agent died"
        peak_kb = proc_status(agent.pid, "VmHWM")
        assert peak_kb < MAX_RSS_KB, f"peak RSS {peak_kb // 1024} MB"
        assert cpu < CPU_BUDGET, f"{cpu:.0%} of a core while the rogue was at it"
        # Made-up devices are capped, and announced without events.
        assert len(beat["cameras"]) <= 1 + MAX_UNENROLLED
        events = [m.json() for m in ops.on("event")]
        online = [e["data"]["camera_id"] for e in events if e["type"] == "camera_online"]
        assert online == [HONEST_ID], online
        offline = [e["data"]["camera_id"] for e in events if e["type"] == "camera_offline"]
        assert offline == [], offline  # the forged Bye changed nothing

        # Nothing reached the other host, no password of the honest camera reached the rogue.
        lines = report(rogue_report)
        assert [line for line in lines if line["kind"] == "recorded"] == []
        assert [line for line in lines if line["kind"] == "leak"] == []
        # Slow and endless answers were cut at their bounds.
        for name in ("slow_headers", "slow_body"):
            held = max(line["held_s"] for line in lines if line.get("server") == name)
            assert held < 10, (name, held)
        huge = max(line["sent"] for line in lines if line.get("server") == "huge")
        assert huge < 64 * 1024 * 1024, huge
    finally:
        ops.stop()
        if agent.poll() is None:
            agent.terminate()
            agent.wait(20)
        log.close()
        ingest.stop()
        broker.stop()
        video.stop()
