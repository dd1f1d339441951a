"""CPU cost of streaming, per camera: copy vs transcode route, and the agent's own overhead.

Runs, side by side in one go on this machine:

1. baseline — a bare ``ffmpeg -c copy`` relay started by hand (no agent), fake camera ->
   nginx-rtmp: what a stream copy costs at all;
2. copy route — N cameras through the agent's StreamManager (real ffmpeg, real ingest);
3. transcode route — N cameras forced to transcode (cap below the sub-stream's bitrate).

CPU is read from ``/proc/<pid>/stat`` (utime + stime) over a fixed window after a warm-up:
for every relay ffmpeg, and for this Python process (which runs the StreamManager and the
progress reader threads), minus this process's idle cost measured in the same run.

    .venv/bin/python benchmarks/streams.py [--cameras 3] [--window 15]

Goals (issue 6): copy route <= 2 % of one core per camera including ffmpeg; the agent's
Python side <= 1 % per stream.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config.streams import StreamsConfig
from agent.logs import configure_logging
from agent.model import Camera, MediaProfile
from agent.state import AgentState
from agent.supervisor import WorkerContext
from agent.uplink.video.feeds import CameraFeed
from agent.uplink.video.manager import StreamManager
from testkit.nginx_rtmp import NginxRtmp, wait_for
from testkit.rtsp_camera import MAIN_1080P, SUB_360P, RtspCamera, spawn, stop_process

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str = "self") -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def measure(pids: list[int], window_s: float) -> tuple[list[float], float]:
    """% of one core used by each pid and by this process over ``window_s``."""
    before = [cpu_seconds(p) for p in pids]
    self_before = cpu_seconds()
    started = time.monotonic()
    time.sleep(window_s)
    elapsed = time.monotonic() - started
    after = [cpu_seconds(p) for p in pids]
    self_after = cpu_seconds()
    return (
        [100 * (a - b) / elapsed for a, b in zip(after, before, strict=True)],
        100 * (self_after - self_before) / elapsed,
    )


def run_manager(
    config: StreamsConfig,
    feeds: list[CameraFeed],
    ingest: NginxRtmp,
    names: list[str],
    warmup_s: float,
    window_s: float,
) -> tuple[list[float], float]:
    state = AgentState()
    manager = StreamManager(config, "bench", state, lambda: feeds, None)
    stopping = threading.Event()
    thread = threading.Thread(
        target=manager.run, args=(WorkerContext("streams", stopping, 60.0),), daemon=True
    )
    thread.start()
    try:
        for name in names:
            ingest.wait_publishing(name, timeout_s=30)
        wait_for(
            lambda: (
                all(s.state == "up" for s in state.streams().values())
                and len(state.streams()) == len(feeds)
            ),
            30,
            what="all relays up",
        )
        time.sleep(warmup_s)
        pids = list(manager.process_ids().values())
        return measure(pids, window_s)
    finally:
        stopping.set()
        manager._wake.set()
        thread.join(20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    args = parser.parse_args()
    configure_logging(level="warning")  # logs to stderr; stdout is the report
    workdir = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    camera = RtspCamera({"main": MAIN_1080P, "sub": SUB_360P}).start()
    ingest = NginxRtmp(workdir / "nginx").start()
    profiles = tuple(MediaProfile.from_json(p) for p in camera.profiles())

    def feed(camera_id: str) -> CameraFeed:
        record = Camera(id=camera_id, address="127.0.0.1", xaddr="", profiles=profiles)
        return CameraFeed(camera_id, ("cooking",), record)

    n = args.cameras
    try:
        # 0. this process doing nothing
        _, idle_self = measure([], args.window / 3)

        # 1. baseline: a bare ffmpeg copy relay, no agent
        bare = spawn(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-rtsp_transport",
                "tcp",
                "-i",
                camera.url("sub"),
                "-an",
                "-c:v",
                "copy",
                "-f",
                "flv",
                ingest.url("bare"),
            ],
            stdout=None,
            stderr=None,
        )
        try:
            ingest.wait_publishing("bare")
            time.sleep(args.warmup)
            (bare_cpu,), _ = measure([bare.pid], args.window)
        finally:
            stop_process(bare)

        # 2. copy route through the agent
        copy_feeds = [feed(f"copy{i}") for i in range(n)]
        copy_cfg = StreamsConfig(ingest_url=ingest.base_url + "/{camera_id}", uplink_kbps=100000)
        copy_ff, copy_self = run_manager(
            copy_cfg, copy_feeds, ingest, [f"copy{i}" for i in range(n)], args.warmup, args.window
        )

        # 3. transcode route through the agent (cap below the sub-stream's 384 kbit/s)
        tr_feeds = [feed(f"tr{i}") for i in range(n)]
        tr_cfg = StreamsConfig(
            ingest_url=ingest.base_url + "/{camera_id}", max_kbps=300, uplink_kbps=100000
        )
        tr_ff, tr_self = run_manager(
            tr_cfg, tr_feeds, ingest, [f"tr{i}" for i in range(n)], args.warmup, args.window
        )
    finally:
        ingest.stop()
        camera.stop()

    copy_ffmpeg = sum(copy_ff) / n
    copy_python = max(0.0, copy_self - idle_self) / n
    tr_ffmpeg = sum(tr_ff) / n
    tr_python = max(0.0, tr_self - idle_self) / n
    copy_total = copy_ffmpeg + copy_python
    vs_bare = copy_ffmpeg / bare_cpu if bare_cpu else float("nan")
    vs_copy = tr_ffmpeg / copy_ffmpeg if copy_ffmpeg else float("nan")
    print(f"cores: {os.cpu_count()}  cameras per route: {n}  window: {args.window:g} s")
    print(f"idle agent process:            {idle_self:6.2f} % of a core")
    print(f"baseline bare ffmpeg copy:     {bare_cpu:6.2f} % per stream")
    print(
        f"copy route ffmpeg:             {copy_ffmpeg:6.2f} % per stream ({vs_bare:.2f}x baseline)"
    )
    print(f"copy route agent Python:       {copy_python:6.2f} % per stream")
    print(
        f"copy route total:              {copy_total:6.2f} % per stream "
        f"(goal <= 2 %: {'met' if copy_total <= 2 else 'MISSED'})"
    )
    print(f"transcode route ffmpeg:        {tr_ffmpeg:6.2f} % per stream ({vs_copy:.1f}x copy)")
    print(f"transcode route agent Python:  {tr_python:6.2f} % per stream")
    python_worst = max(copy_python, tr_python)
    print(f"agent Python per stream goal <= 1 %: {'met' if python_worst <= 1 else 'MISSED'}")
    print()
    print("Results block (README):")
    print("```")
    print(
        f"streams benchmark ({os.cpu_count()} cores, {n} cameras per route, "
        f"{args.window:g} s window, % of one core per stream)"
    )
    print(f"  bare ffmpeg copy (baseline)   {bare_cpu:5.2f} %")
    print(f"  copy route: ffmpeg            {copy_ffmpeg:5.2f} %  ({vs_bare:.2f}x baseline)")
    print(f"  copy route: agent Python      {copy_python:5.2f} %")
    print(f"  copy route: total             {copy_total:5.2f} %  (goal <= 2 %)")
    print(f"  transcode 360p15 @300k ffmpeg {tr_ffmpeg:5.2f} %  ({vs_copy:.1f}x copy)")
    print(f"  transcode: agent Python       {tr_python:5.2f} %  (goal <= 1 %)")
    print("```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
