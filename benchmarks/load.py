"""The agent at work: eight cameras at the default intervals, every stream on.

A whole store on this machine (testkit/bench_store.py): eight fake ONVIF cameras with live
snapshots and real RTSP video, a real mosquitto, a real nginx-rtmp ingest, and
`kitchen-agent run` with the default intervals (quality every 60 s, heartbeat every 30 s,
discovery every hour) streaming every camera by stream copy. Measured from /proc over a
window after a warm-up: the agent process alone (CPU % of one core, RSS), and its ffmpeg
children together beside it.

Baselines, measured in the same run on the same machine:
- eight bare ``ffmpeg -c copy`` relays started by hand from the same cameras to the same
  ingest (what the streams cost without any agent);
- a bare Python process importing the agent's libraries (numpy, cv2, zeep, paho,
  pydantic) and sleeping: the memory any Python agent doing this job starts from.

    .venv/bin/python benchmarks/load.py [--cameras 8] [--window 120] [--warmup 30]

Goals (issue 13): the agent process under 5 % of one core and 150 MB RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from testkit.bench_store import BenchStore, cpu_s, rss_mb, status_mb
from testkit.rtsp_camera import spawn, stop_process

IMPORTS_ONLY = (
    "import numpy, cv2, zeep, paho.mqtt.client, pydantic, yaml, structlog, time\n"
    "print('ready', flush=True)\ntime.sleep(3600)\n"
)


def cpu_percent(pids: list[int], window_s: float) -> tuple[float, dict[int, float]]:
    """% of one core used by all of ``pids`` together over ``window_s``, and per pid."""
    before = {pid: cpu_s(pid) for pid in pids}
    started = time.monotonic()
    time.sleep(window_s)
    elapsed = time.monotonic() - started
    each = {}
    for pid, was in before.items():
        try:
            each[pid] = 100 * (cpu_s(pid) - was) / elapsed
        except OSError:  # ended during the window (a relay restarted)
            each[pid] = 0.0
    return sum(each.values()), each


def bare_relays(store: BenchStore, window_s: float, warmup_s: float) -> float:
    """The baseline: the same streams copied by bare ffmpeg processes, no agent."""
    assert store.ingest is not None
    processes = []
    try:
        for index in range(store.cameras):
            video = store.video[0 if index == 0 else 1]
            processes.append(
                spawn(
                    [
                        "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
                        "-i", video.url("sub"), "-an", "-c:v", "copy", "-f", "flv",
                        store.ingest.url(f"bare{index}"),
                    ],
                    stdout=None,
                    stderr=None,
                )
            )  # fmt: skip
        for index in range(store.cameras):
            store.ingest.wait_publishing(f"bare{index}", timeout_s=30)
        time.sleep(warmup_s)
        total, _ = cpu_percent([p.pid for p in processes], window_s)
        return total
    finally:
        for process in processes:
            stop_process(process)


def imports_only_rss() -> float:
    process = subprocess.Popen(
        [sys.executable, "-c", IMPORTS_ONLY], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        time.sleep(1)
        return rss_mb(process.pid)
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--window", type=float, default=120.0, help="measuring window, s")
    parser.add_argument(
        "--warmup",
        type=float,
        default=75.0,
        help="after all streams are up, s (the default covers the first quality round)",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    store = BenchStore(workdir, cameras=args.cameras)
    try:
        store.start()
        bare_total = bare_relays(store, min(args.window, 30.0), 5.0)
        base_rss = imports_only_rss()

        agent = store.start_agent()
        store.wait_streaming(timeout_s=120)
        time.sleep(args.warmup)
        relays = store.relays()
        _, measured = cpu_percent([agent.pid, *relays], args.window)
        agent_cpu = measured.pop(agent.pid)
        ffmpeg_total, per_relay = sum(measured.values()), measured
        agent_rss = rss_mb(agent.pid)
        agent_hwm = status_mb(agent.pid, "VmHWM")
        anon_mb = _rollup_mb(agent.pid, "Anonymous:")
        restarted = sorted(set(relays) ^ set(store.relays()))
        code = store.stop_agent()
    finally:
        store.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    n = args.cameras
    cpu_goal = "met" if agent_cpu < 5 else "NOT met"
    rss_goal = "met" if agent_rss < 150 else "NOT met"
    print(
        f"{n} cameras at the default intervals, every stream a copy to the ingest, "
        f"{args.window:g} s window after {args.warmup:g} s warm-up, {os.cpu_count()} cores"
    )
    print(f"  agent process          CPU {agent_cpu:5.2f} % of a core   goal < 5 %: {cpu_goal}")
    print(
        f"                         RSS {agent_rss:6.1f} MB (peak {agent_hwm:.1f})  "
        f"goal < 150 MB: {rss_goal}"
    )
    print(
        f"                         of which {anon_mb:.1f} MB anonymous (heap, stacks), "
        f"{agent_rss - anon_mb:.1f} MB mapped files (libraries' code and data)"
    )
    print(f"  baseline (imports only) RSS {base_rss:6.1f} MB   agent {agent_rss / base_rss:.2f}x")
    print(
        f"  ffmpeg relays ({len(per_relay)})     CPU {ffmpeg_total:5.2f} % "
        f"({ffmpeg_total / max(1, len(per_relay)):.2f} % each)"
    )
    print(
        f"  bare ffmpeg copy ({n})   CPU {bare_total:5.2f} %   relays "
        f"{ffmpeg_total / bare_total if bare_total else float('nan'):.2f}x baseline"
    )
    if restarted:
        print(f"  relays restarted during the window: {len(restarted) // 2}")
    print(f"  agent stopped with {code}")
    return 0 if cpu_goal == rss_goal == "met" else 1


def _rollup_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    sys.exit(main())
