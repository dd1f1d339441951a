"""The fleet against real boxes: three `kitchen-agent run` processes with fake ONVIF cameras
(real SOAP over HTTP, real JPEG snapshots), a private mosquitto, and `kitchen-agent fleet`.

What ops get must be what the boxes say: annex-3 counts and annex-4 stages from the boxes'
own heartbeats; a box killed -9 shows offline (its Will); a late Will of an old session
leaves a live box online; commands reach a box and a snapshot lands in a file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.fleet.db import open_database
from agent.uplink.mqtt.session import SessionCounter
from testkit.fake_onvif import DEFAULT_PASSWORD, FakeCamera
from testkit.fleet_fixtures import FleetConsumer, FleetRun
from testkit.fleet_sim import SimStore, send_late_will
from testkit.kitchen_sim import SimCamera, kitchen_photo
from testkit.mosquitto import Mosquitto, Subscriber, wait_until
from testkit.nginx_rtmp import NginxRtmp
from testkit.rtsp_camera import RtspCamera

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
EXPECTED = {
    "sh-xh-0101": "completed",
    "sh-xh-0102": "equipment_installed",
    "sh-pd-0103": "preparation",
}


@dataclass
class Box:
    store_id: str
    district: str
    cameras: list[FakeCamera]
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def camera_id(camera: FakeCamera) -> str:
    """The id the box gives a camera it reaches over ONVIF: from its MAC."""
    assert camera.mac is not None
    return "mac-" + camera.mac.replace(":", "")


def box_config(
    path: Path,
    store_id: str,
    district: str,
    broker: Mosquitto,
    cameras: Sequence[tuple[FakeCamera, str]],
    home: Path,
    ingest_url: str | None = None,
) -> None:
    creds = home / "creds"
    creds.mkdir(parents=True, exist_ok=True)
    (creds / "camera-password").write_text(DEFAULT_PASSWORD, encoding="utf-8")
    static = "".join(f"\n    - {c.host}:{c.port}" for c, _ in cameras) or " []"
    enrolled = (
        "".join(
            f"\n    - id: {camera_id(c)}\n      name: 摄像头{i}\n      kcps:\n        - kcp: {kcp}"
            for i, (c, kcp) in enumerate(cameras)
        )
        or " []"
    )
    kcps = sorted({kcp for _, kcp in cameras} or {"cooking"})
    path.write_text(
        f"""\
store:
  id: {store_id}
  name: 真机测试店{store_id[-2:]}
  licence_number: JY{store_id[-4:]}000000
  district: {district}
  address: 上海市测试路{store_id[-2:]}号
  kcps: [{", ".join(kcps)}]
broker:
  url: {broker.url}
  heartbeat_interval_s: 5
  keepalive_s: 5
  reconnect_min_s: 0.2
  reconnect_max_s: 2
cameras:
  discovery:
    multicast: false
  static:{static}
  enrolled:{enrolled}
quality:
  interval_s: 5
  raise_after: 1
streams:
  ingest_url: {ingest_url or "null"}
paths:
  state_dir: {home / "state"}
  credentials_dir: {creds}
  runtime_dir: {home / "run"}
""",
        encoding="utf-8",
    )


@pytest.fixture
def boxes(
    broker_factory: Callable[..., Mosquitto],
    tmp_path: Path,
    rtsp_camera: RtspCamera,
    nginx_rtmp: NginxRtmp,
) -> Iterator[tuple[Mosquitto, dict[str, Box]]]:
    """Three stores: one camera on its one KCP streaming to the platform (completes), a
    greasy camera on the second of two KCPs and no ingest (equipment installed), and no
    camera at all yet (preparation).

    Each box has run before: its stage_reached (held 10 minutes) is in its state dir, as
    its session counter is, so the report has what a box that has been working says."""
    broker = broker_factory()
    plan = {
        "sh-xh-0101": ("xuhui", [("cooking", False)]),
        "sh-xh-0102": ("xuhui", [("cooking", False), ("cold_room", True)]),
        "sh-pd-0103": ("pudong", []),
    }
    started: dict[str, Box] = {}
    everything: list[FakeCamera] = []
    try:
        for index, (store_id, (district, cams)) in enumerate(plan.items()):
            cameras = []
            for number, (kcp, greasy) in enumerate(cams):
                camera = SimCamera(
                    persona="hikvision",
                    discovery=False,
                    rtsp_main=rtsp_camera.url("main"),
                    rtsp_sub=rtsp_camera.url("sub"),
                )
                camera.scene = kitchen_photo(10 * index + number)
                camera.degrade_after_s = 0.0 if greasy else None
                cameras.append((camera.start(), kcp))
                everything.append(camera)
            home = tmp_path / store_id
            home.mkdir()
            # A box that has run before: its session counter is well past 1.
            SessionCounter(home / "state").commit(40)
            (home / "state" / "stage.json").write_text(
                json.dumps({"stage": None, "stage_reached": EXPECTED[store_id]}), encoding="utf-8"
            )
            config = home / "agent.yaml"
            ingest = f"{nginx_rtmp.base_url}/{{store_id}}-{{camera_id}}" if index == 0 else None
            box_config(config, store_id, district, broker, cameras, home, ingest)
            log = home / "agent.log"
            with log.open("wb") as handle:
                process = subprocess.Popen(
                    [sys.executable, "-m", "agent", "run", "--config", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=handle,
                    stderr=handle,
                    cwd=REPO,
                    start_new_session=True,
                )
            started[store_id] = Box(store_id, district, [c for c, _ in cameras], process, log)
        yield broker, started
    finally:
        for box in started.values():
            if box.process.poll() is None:
                box.process.send_signal(signal.SIGTERM)
                try:
                    box.process.wait(20)
                except subprocess.TimeoutExpired:
                    box.process.kill()
                    box.process.wait(5)
        for started_camera in everything:
            started_camera.stop()


def latest(messages: list[Any], store_id: str, suffix: str) -> Any:
    found = [m.json() for m in messages if m.topic.endswith(f"/{store_id}/{suffix}")]
    return found[-1] if found else None


def test_fleet_reports_what_real_boxes_say(
    boxes: tuple[Mosquitto, dict[str, Box]],
    fleet_config_factory: Callable[..., Path],
    fleet_consumer_factory: Callable[[Path], FleetConsumer],
    fleet_cli: Callable[..., FleetRun],
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    broker, running = boxes
    ops = subscriber_factory(broker, ("kitchen/v1/#",))
    database_url = f"sqlite:///{tmp_path / 'fleet.db'}"
    config = fleet_config_factory(broker, database_url)
    consumer = fleet_consumer_factory(config)
    expected = EXPECTED

    def boxes_settled(messages: list[Any]) -> bool:
        if any(box.process.poll() is not None for box in running.values()):
            return True  # a box died: say so now, not after the deadline
        beats = {s: latest(messages, s, "heartbeat") for s in running}
        # The live stage, from what each box sees now, agrees with what it reached before.
        return all(b is not None and b["stage"] == expected[s] for s, b in beats.items())

    try:
        ops.wait_for(boxes_settled, 90)
        assert all(box.process.poll() is None for box in running.values())
    except (TimeoutError, AssertionError):
        raise AssertionError(
            "boxes did not reach their stages:\n"
            + "\n".join(
                f"{s}: {latest(ops.messages, s, 'heartbeat')}\n{b.log_tail()}"
                for s, b in running.items()
            )
        ) from None

    reader = open_database(database_url, None, writer=False, create=False)
    try:

        def consumer_caught_up() -> bool:
            records = {r.store_id: r for r in reader.load_stores() if r.online}
            if {s: r.stage_reached for s, r in records.items()} != expected:
                return False
            return any(c["issues"] for c in records["sh-xh-0102"].live_cameras)

        wait_until(consumer_caught_up, 30)
        # What the boxes say, as the box's own heartbeat says it (stage_reached, or its live
        # stage from a box that does not send one yet).
        beats = {s: latest(ops.messages, s, "heartbeat") for s in running}
        reached = {s: b.get("stage_reached", b["stage"]) for s, b in beats.items()}
        assert reached == expected

        body = fleet_cli("report", "--json", config=config).json()
        districts = {d["slug"]: d for d in body["districts"]}
        keys = ("selected", "installed", "connected", "completed")
        assert [districts["xuhui"][k] for k in keys] == [2, 2, 1, 1]
        # "connected" counts video_connected or further: completed without streams is further
        assert (districts["pudong"]["selected"], districts["pudong"]["installed"]) == (1, 0)
        stores = {s["store_id"]: s for s in body["stores"]}
        births = {s: latest(ops.messages, s, "birth") for s in running}
        for store_id, stage in expected.items():
            assert stores[store_id]["stage"] == stage
            assert stores[store_id]["licence_number"] == births[store_id]["store"]["licence_number"]
            assert stores[store_id]["online"] is True

        cameras = fleet_cli("cameras", "--json", config=config).json()["cameras"]
        by_id = {c["camera_id"]: c for c in cameras}
        for box in running.values():
            for camera in box.cameras:
                assert by_id[camera_id(camera)]["status"] == "online"
        greasy = running["sh-xh-0102"].cameras[1]
        assert by_id[camera_id(greasy)]["alarms"]

        # A command through the broker to a real box: a snapshot lands in a file.
        snapshot_camera = camera_id(running["sh-xh-0101"].cameras[0])
        out = tmp_path / "snap.jpg"
        done = fleet_cli(
            "command",
            "sh-xh-0101",
            "snapshot",
            "--arg",
            f"camera_id={snapshot_camera}",
            "--arg",
            "max_bytes=60000",
            "--output",
            str(out),
            "--json",
            config=config,
        )
        assert done.returncode == 0, done.stderr
        answer = done.json()
        assert answer["status"] == "succeeded" and answer["saved"] == str(out)
        assert out.read_bytes()[:2] == b"\xff\xd8" and len(out.read_bytes()) <= 60000
        assert "jpeg_base64" not in answer["result"]
        refused = fleet_cli(
            "command",
            "sh-xh-0101",
            "restart_stream",
            "--arg",
            "camera_id=nope",
            "--json",
            config=config,
        )
        assert refused.returncode == 1 and refused.json()["status"] in ("failed", "rejected")
        unknown = fleet_cli("command", "sh-zz-9999", "rebirth", "--json", config=config)
        assert unknown.returncode == 69 and "unknown" in unknown.json()["error"]["message"]

        # A late Will from an old session of a live box: the box stays online.
        live = running["sh-xh-0101"]
        session = latest(ops.messages, live.store_id, "state")["session"]
        assert session == 41
        ghost = SimStore(live.store_id, "xuhui", "", "", "", ("cooking",), ())
        send_late_will(broker.host, broker.port, ghost, session - 1)
        wait_until(
            lambda: (
                next(r for r in reader.load_stores() if r.store_id == live.store_id).offline_session
                == session - 1
            ),
            15,
        )
        record = next(r for r in reader.load_stores() if r.store_id == live.store_id)
        assert record.online

        # A box killed -9: the broker publishes its Will and ops see it offline.
        dead = running["sh-pd-0103"]
        dead.process.send_signal(signal.SIGKILL)
        dead.process.wait(10)
        wait_until(
            lambda: not next(r for r in reader.load_stores() if r.store_id == dead.store_id).online,
            20,
        )
        watch = fleet_cli("watch", "--json", config=config).json()
        rows = {r["store_id"]: r for r in watch["stores"]}
        assert (rows[dead.store_id]["online"], rows[dead.store_id]["status"]) == (
            False,
            "connection_lost",
        )
        assert rows["sh-xh-0101"]["online"] and rows["sh-xh-0102"]["online"]
        offline = fleet_cli("command", dead.store_id, "rebirth", "--json", config=config)
        assert offline.returncode == 69 and "offline" in offline.json()["error"]["message"]
    finally:
        reader.close()
    assert consumer.alive, consumer.log_tail()
