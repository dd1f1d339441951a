"""A simulated kitchen on this machine, and the agent's main job run against it.

``python -m testkit.kitchen_sim`` (what ``scripts/demo.sh`` runs) brings up:

- three fake ONVIF cameras (Hikvision-like, Dahua-like, and one whose clock is hours off),
  each paired with a real RTSP server (GStreamer) serving 1080p main and 360p sub H.264;
  the third one's picture is degraded (a lens covered in grease/steam) so the agent flags it;
- a real mosquitto broker standing in for central operations;
- a real nginx-rtmp ingest standing in for the delivery platform;

then provisions the box the way an installer does, with the agent's own commands only:
`config init` (and the credentials), `discover`, `enroll` (each camera assigned to its key
control points, its reference taken and judged on the spot) and `acceptance` (the store's
checklist: 完成建设 before the agent even runs). Then it runs `kitchen-agent run` and prints
what a person would look at: heartbeats and events at the broker and the streams arriving
at the ingest; the dishwashing camera's lens steams up after a while and is flagged. When it
stops (Ctrl-C or ``--duration``) it ends with `acceptance` again, which now names the
fogged lens and what to do. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from testkit.fake_onvif import DEFAULT_PASSWORD, FakeCamera
from testkit.mosquitto import Mosquitto, Subscriber
from testkit.nginx_rtmp import NginxRtmp
from testkit.rtsp_camera import MAIN_1080P, SUB_360P, RtspCamera

STORE_ID = "sh-xh-0001"
DISTRICT = "xuhui"
STREAM_TOKEN = "demo-stream-token-7f3a"  # the simulated platform's token
DEGRADE_AFTER_S = 25.0  # the dishwashing camera's lens steams up this long after the agent starts
STATUS_EVERY_S = 15.0  # how often the live view shows the box's own `kitchen-agent status`
KITCHEN = [
    # persona, name, KCPs, degraded picture
    ("hikvision", "热菜区 wok line", ["cooking", "prep"], False),
    ("dahua", "凉菜间 cold room", ["cold_room"], False),
    ("skewed", "洗消间 dishwashing", ["dishwashing"], True),
]
# Where the wok line is in the hikvision camera's picture (fractions): drawn at enrolment,
# checked by the agent ever after.
COOKING_ROI = "0.02,0.55,0.98,0.55,0.98,0.99,0.02,0.99"


def kitchen_photo(seed: int) -> np.ndarray:
    """A textured, kitchen-like test picture (tiles, steel counters, a hood)."""
    rng = np.random.default_rng(seed)
    height, width = 360, 640
    image = np.full((height, width, 3), 200, np.uint8)
    for y in range(0, height, 24):  # wall tiles with grout lines
        image[y : y + 2, :] = 140
    for x in range(0, width, 32):
        image[:, x : x + 2] = 140
    image[220:, :] = np.array([170, 175, 180], np.uint8)  # steel counter
    for index in range(12):  # pots, boards, bowls
        center = (int(rng.integers(40, width - 40)), int(rng.integers(150, 330)))
        colour = tuple(int(c) for c in rng.integers(20, 230, 3))
        cv2.circle(image, center, int(rng.integers(12, 40)), colour, -1)
        cv2.rectangle(
            image,
            (center[0] - 30, center[1] + 10),
            (center[0] + 30, center[1] + 18),
            tuple(int(c) for c in rng.integers(40, 120, 3)),
            -1,
        )
        if index % 3 == 0:
            cv2.putText(
                image,
                "KCP",
                (center[0] - 20, center[1] - 30),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.6,
                (30, 30, 30),
                2,
            )
    cv2.rectangle(image, (180, 10), (460, 90), (90, 90, 95), -1)  # extractor hood
    noise = rng.normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def greasy_lens(image: np.ndarray) -> np.ndarray:
    """What steam and grease on the lens do: no detail, no contrast, a milky veil."""
    blurred = cv2.GaussianBlur(image, (0, 0), 9)
    veiled = blurred.astype(np.float32) * 0.35 + 180 * 0.65
    return np.clip(veiled, 0, 255).astype(np.uint8)


class SimCamera(FakeCamera):
    """A fake ONVIF camera whose snapshot is a live picture of 'its' part of the kitchen:
    fresh sensor noise in every frame (a live camera never repeats a frame exactly), and,
    for the degraded one, grease and steam on the lens after ``degrade_after_s``."""

    scene: np.ndarray | None = None
    degrade_after_s: float | None = None
    started_at: float = 0.0
    grain: float = 2.5  # the sensor noise drawn afresh for every snapshot (grey levels)
    served: int = 0  # snapshots sent

    def __post_init__(self) -> None:
        super().__post_init__()
        # HTTP Digest, as current firmwares answer: the agent answers Basic over plain HTTP
        # only for a camera enrolled with allow_basic_http (docs/security.md).
        self.behaviour.snapshot_auth = "digest"

    def snapshot_jpeg(self) -> bytes:
        assert self.scene is not None
        self.served += 1
        picture = self.scene
        if self.degrade_after_s is not None and (
            time.monotonic() - self.started_at > self.degrade_after_s
        ):
            picture = greasy_lens(picture)
        grain = np.random.default_rng().normal(0, self.grain, picture.shape)
        noisy = np.clip(picture + grain, 0, 255).astype(np.uint8)
        return bytes(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 85])[1])


@dataclass
class Kitchen:
    workdir: Path
    broker: Mosquitto | None = None
    ingest: NginxRtmp | None = None
    video: list[RtspCamera] = field(default_factory=list)
    cameras: list[SimCamera] = field(default_factory=list)

    def start(self) -> None:
        say("starting the simulated kitchen: broker, ingest, cameras ...")
        self.broker = Mosquitto(self.workdir / "broker")
        self.broker.start()
        self.ingest = NginxRtmp(self.workdir / "ingest").start()
        for index, (persona, _name, _kcps, _degraded) in enumerate(KITCHEN):
            video = RtspCamera({"main": MAIN_1080P, "sub": SUB_360P}).start()
            self.video.append(video)
            camera = SimCamera(
                persona=persona,
                rtsp_main=video.url("main"),
                rtsp_sub=video.url("sub"),
                password=DEFAULT_PASSWORD,
                discovery=False,
            )
            camera.scene = kitchen_photo(index)
            camera.degrade_after_s = None  # clean until the agent runs (see steam_up)
            self.cameras.append(camera.start())
        say(
            f"kitchen up: broker {self.broker.url}, ingest {self.ingest.base_url}, "
            f"{len(self.cameras)} cameras"
        )

    def steam_up(self, after_s: float) -> None:
        """The degraded camera's lens steams up ``after_s`` from now."""
        for camera, (*_, degraded) in zip(self.cameras, KITCHEN, strict=True):
            if degraded:
                camera.started_at = time.monotonic()
                camera.degrade_after_s = after_s

    def stop(self) -> None:
        for camera in self.cameras:
            with contextlib.suppress(Exception):
                camera.stop()
        for video in self.video:
            with contextlib.suppress(Exception):
                video.stop()
        if self.ingest is not None:
            self.ingest.stop()
        if self.broker is not None:
            self.broker.stop()


def say(message: str) -> None:
    sys.stdout.write(f"[demo] {message}\n")
    sys.stdout.flush()


def agent_command() -> list[str]:
    return [sys.executable, "-m", "agent"]


def provision(kitchen: Kitchen, home: Path) -> tuple[Path, dict[str, Any]]:
    """What an installer does: config, credentials, discover, enrol, acceptance."""
    assert kitchen.broker is not None and kitchen.ingest is not None
    creds = home / "credentials"
    creds.mkdir(parents=True, exist_ok=True)
    (creds / "camera-password").write_text(DEFAULT_PASSWORD, encoding="utf-8")
    (creds / "stream-token").write_text(STREAM_TOKEN, encoding="utf-8")
    for path in creds.iterdir():
        path.chmod(0o600)
    config = home / "agent.yaml"
    static = [f"{c.host}:{c.port}" for c in kitchen.cameras]
    say("kitchen-agent config init ...")
    subprocess.run(
        [
            *agent_command(),
            "config",
            "init",
            "--force",
            "--store-id",
            STORE_ID,
            "--store-name",
            "老王面馆（演示店）",
            "--licence-number",
            "JY23101040012345",
            "--district",
            DISTRICT,
            "--address",
            "上海市徐汇区漕溪北路1号",
            "--expected-completion",
            "2024-09",
            "--broker",
            kitchen.broker.url,
            "--kcp",
            "cooking,cold_room,prep,dishwashing",
            "--set",
            f"paths.state_dir={home / 'state'}",
            "--set",
            f"paths.credentials_dir={creds}",
            "--set",
            f"paths.runtime_dir={home / 'run'}",
            "--set",
            "cameras.discovery.multicast=false",
            "--set",
            f"cameras.static={json.dumps(static)}",
            "--set",
            f"streams.ingest_url={kitchen.ingest.base_url}/{{store_id}}-{{camera_id}}"
            "?token={token}",
            "--set",
            "streams.max_kbps=512",
            "--set",
            "broker.heartbeat_interval_s=5",
            "--set",
            "quality.interval_s=10",
            "--output",
            str(config),
        ],
        check=True,
    )
    say("kitchen-agent discover ...")
    shown = subprocess.run(
        [*agent_command(), "discover", "--no-multicast", "--config", str(config)], check=False
    )
    found = subprocess.run(
        [*agent_command(), "discover", "--json", "--no-multicast", "--config", str(config)],
        check=False,
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0 or found.returncode != 0:
        raise SystemExit(f"discover failed: {found.stderr[-2000:]}")
    inventory = json.loads(found.stdout)
    enrol = []
    for camera, (_persona, name, kcps, _degraded) in zip(kitchen.cameras, KITCHEN, strict=True):
        address = f"{camera.host}:{camera.port}"
        enrol += ["--assign", f"{address}={','.join(kcps)}", "--name", f"{address}={name}"]
        if "cooking" in kcps:
            enrol += ["--roi", f"{address}=cooking:{COOKING_ROI}"]
    say("kitchen-agent enroll " + " ".join(enrol))
    if subprocess.run([*agent_command(), "enroll", "--config", str(config), *enrol]).returncode:
        raise SystemExit("enroll failed")
    say("kitchen-agent acceptance (no agent running yet: it pushes each stream itself) ...")
    subprocess.run([*agent_command(), "acceptance", "--config", str(config)], check=False)
    return config, inventory


def summarize_heartbeat(payload: dict[str, Any]) -> str:
    parts = []
    for camera in payload.get("cameras") or []:
        issues = ",".join(camera.get("issues") or [])
        parts.append(
            f"{str(camera.get('id'))[-4:]}:{'on' if camera.get('online') else 'OFF'}"
            f"/{camera.get('quality')}{'(' + issues + ')' if issues else ''}"
            f"/stream {camera.get('stream')} {camera.get('kbps') or 0:.0f}k"
        )
    coverage = payload.get("coverage") or {}
    return (
        f"heartbeat seq={payload.get('seq')} stage={payload.get('stage')} "
        f"(reached {payload.get('stage_reached')}) "
        f"coverage={coverage.get('ratio')} | " + "  ".join(parts)
    )


@contextlib.contextmanager
def running_agent(config: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*agent_command(), "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def show_status(config: Path) -> None:
    """The box's own view, as a technician sees it: `kitchen-agent status`."""
    result = subprocess.run(
        [*agent_command(), "status", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    text = result.stdout if result.returncode == 0 else result.stderr
    say("kitchen-agent status:\n" + "\n".join(f"    {line}" for line in text.splitlines()))


def watch(
    kitchen: Kitchen,
    config: Path,
    home: Path,
    duration_s: float | None,
    steam_after_s: float = DEGRADE_AFTER_S,
) -> int:
    """The live view: the box's own picture (`kitchen-agent status`) every STATUS_EVERY_S,
    and between them what central operations receives at the broker."""
    assert kitchen.broker is not None and kitchen.ingest is not None
    root = f"kitchen/v1/{DISTRICT}/{STORE_ID}"
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def on_message(topic: str, payload: bytes) -> None:
        suffix = topic.removeprefix(root + "/")
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if suffix == "heartbeat":
            say(summarize_heartbeat(data))
        elif suffix == "event":
            details = json.dumps(data.get("data"), ensure_ascii=False)[:160]
            say(f"EVENT {data.get('type')}{' (late)' if data.get('late') else ''}: {details}")
        elif suffix == "state":
            say(f"state: online={data.get('online')} session={data.get('session')}")
        elif suffix == "birth":
            say(
                f"birth: agent {data.get('agent_version')} stage={data.get('stage')} "
                f"stage_reached={data.get('stage_reached')}"
            )

    subscriber = Subscriber(kitchen.broker, (f"{root}/#",)).start()
    printed = 0
    log_path = home / "agent.log"
    say(f"starting kitchen-agent run (log: {log_path}); Ctrl-C to stop")
    say(f"the dishwashing camera's lens steams up in {steam_after_s:g} s")
    kitchen.steam_up(steam_after_s)
    deadline = None if duration_s is None else time.monotonic() + duration_s
    seen_streams: set[str] = set()
    next_status = time.monotonic() + 5.0
    with running_agent(config, log_path) as agent:
        while not stop.wait(2.0):
            messages = list(subscriber.messages)
            for message in messages[printed:]:
                on_message(message.topic, message.payload)
            printed = len(messages)
            if agent.poll() is not None:
                say(f"agent exited with {agent.returncode}; see {log_path}")
                break
            for name, stream in kitchen.ingest.stat().items():
                if stream.publishing and name not in seen_streams:
                    seen_streams.add(name)
                    say(
                        f"INGEST stream {name}: {stream.codec} {stream.width}x{stream.height} "
                        f"arriving at {kitchen.ingest.url(name)}"
                    )
            if time.monotonic() >= next_status:
                show_status(config)
                next_status = time.monotonic() + STATUS_EVERY_S
            if deadline is not None and time.monotonic() > deadline:
                break
        show_status(config)
    subscriber.stop()
    say(f"agent stopped; {len(seen_streams)} streams reached the ingest")
    say("kitchen-agent acceptance (the dishwashing lens is fogged now) ...")
    final = subprocess.run([*agent_command(), "acceptance", "--config", str(config)], check=False)
    return 0 if final.returncode in (0, 1) else final.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--steam-after",
        type=float,
        default=DEGRADE_AFTER_S,
        metavar="S",
        help=f"the dishwashing lens steams up S seconds after the agent starts "
        f"(default {DEGRADE_AFTER_S:g})",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the simulated kitchen's files here (default: a temp dir)",
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kitchen-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KITCHEN_AGENT_CLIP_CACHE", str(workdir / "clips"))
    kitchen = Kitchen(workdir)
    try:
        kitchen.start()
        config, _ = provision(kitchen, workdir / "box")
        return watch(kitchen, config, workdir / "box", args.duration, args.steam_after)
    finally:
        kitchen.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
