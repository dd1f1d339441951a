"""Benchmark: discovery + full inventory of 16 fake ONVIF cameras.

    .venv/bin/python benchmarks/discovery.py        (as root: runs in a netns)

Runs itself inside a fresh network namespace (``unshare -n``) where loopback carries
multicast, starts 16 fake cameras (vendor personas, one process of their own), then measures
in the same run:

- **agent**: WS-Discovery (multicast, 3 probe variants) with each camera's inventory started
  the moment its ProbeMatch arrives, WSDLs parsed once per process, 16 cameras at a time
  (what ``kitchen-agent discover`` does);
- **agent, not pipelined**: the same, but the inventory starts when the window closes (how
  ``discover`` worked before), to show what the overlap is worth;
- **baseline**: the same discovery, then the naive way — onvif-zeep's ``ONVIFCamera`` per
  camera, sequentially (it parses the WSDLs again for every camera), GetDeviceInformation,
  GetNetworkInterfaces, GetProfiles, GetStreamUri and GetSnapshotUri per profile.

Every side listens for the same DISCOVERY_WINDOW_S (the window is never cut short), so no
side can be faster than the window. The sides run ``--repeat`` times (default 3), interleaved
so that load from something else on the box hits each of them; prints the medians of wall
time and CPU time of the measuring process, the ratios, and a results block.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CAMERAS = 16
PERSONAS = [
    "generic",
    "hikvision",
    "dahua",
    "skewed",
    "zero_addr",
    "port_twice",
    "reuse_msgid",
    "malformed_probe_match",
] * 2
DISCOVERY_WINDOW_S = 1.5


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def setup_namespace() -> None:
    for argv in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "link", "set", "lo", "multicast", "on"],
        ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"],
    ):
        subprocess.run(argv, check=True, capture_output=True)


def start_cameras(password_file: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "testkit.fake_onvif", "--password-file", str(password_file)]
    for index, persona in enumerate(PERSONAS[:CAMERAS]):
        host = f"127.0.0.{10 + index}"
        argv += [
            "--camera",
            f"persona={persona},host={host},port=8000,"
            f"multicast_interface=127.0.0.1,rtsp_main=rtsp://{host}:554/main,"
            f"rtsp_sub=rtsp://{host}:554/sub",
        ]
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "all_ready" in line:
            return process
    raise SystemExit("fake cameras did not start")


def discover_all(on_found: Callable[[Any], None] | None = None) -> list[Any]:
    from agent.capture.discovery import Interface, discover

    result = discover(
        DISCOVERY_WINDOW_S,
        interfaces=[Interface("lo", "127.0.0.1", loopback=True)],
        on_found=on_found,
    )
    return result.messages()


def run_agent(password: str) -> tuple[float, float, int, int]:
    """The round `discover` and the daemon run: logins overlap the listening window."""
    from agent.capture.discovery import Interface
    from agent.capture.rounds import DiscoveryPlan, RoundOptions, discovery_round
    from agent.model import CameraLogin

    heard: list[Any] = []
    wall, cpu = time.perf_counter(), cpu_s()
    cameras = discovery_round(
        DiscoveryPlan(DISCOVERY_WINDOW_S, interfaces=[Interface("lo", "127.0.0.1", loopback=True)]),
        lambda _id: CameraLogin("admin", password),
        options=RoundOptions(concurrency=16),
        on_listened=heard.extend,
    )
    ok = sum(1 for c in cameras if c.error is None and len(c.profiles) == 2)
    return time.perf_counter() - wall, cpu_s() - cpu, len(heard), ok


def run_agent_sequential(password: str) -> tuple[float, float, int, int]:
    from agent.capture.rounds import RoundOptions, inventory_round
    from agent.model import CameraLogin

    wall, cpu = time.perf_counter(), cpu_s()
    messages = discover_all()
    cameras = inventory_round(
        messages, lambda _id: CameraLogin("admin", password), options=RoundOptions(concurrency=16)
    )
    ok = sum(1 for c in cameras if c.error is None and len(c.profiles) == 2)
    return time.perf_counter() - wall, cpu_s() - cpu, len(messages), ok


def run_baseline(password: str) -> tuple[float, float, int, int]:
    import logging
    from urllib.parse import urlsplit

    from onvif import ONVIFCamera

    logging.getLogger().setLevel(logging.WARNING)  # onvif's import calls basicConfig(INFO)
    wall, cpu = time.perf_counter(), cpu_s()
    messages = discover_all()
    ok = 0
    for message in messages:
        url = urlsplit(message.primary_xaddr)
        try:
            camera = ONVIFCamera(url.hostname, url.port or 80, "admin", password, adjust_time=True)
            camera.devicemgmt.GetDeviceInformation()
            camera.devicemgmt.GetNetworkInterfaces()
            media = camera.create_media_service()
            profiles = media.GetProfiles()
            for profile in profiles:
                media.GetStreamUri(
                    {
                        "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                        "ProfileToken": profile.token,
                    }
                )
                media.GetSnapshotUri({"ProfileToken": profile.token})
            ok += 1
        except Exception:  # the naive path fails on some vendors; that only makes it faster
            pass
    return time.perf_counter() - wall, cpu_s() - cpu, len(messages), ok


def inside(args: argparse.Namespace) -> int:
    from testkit.fake_onvif import DEFAULT_PASSWORD

    setup_namespace()
    password_file = Path(args.workdir) / "pw"
    password_file.write_text(DEFAULT_PASSWORD)
    cameras = start_cameras(password_file)
    try:
        # Warm imports so neither side pays for importing zeep/requests.
        import requests  # noqa: F401
        import zeep  # noqa: F401

        runs = {"agent": run_agent, "sequential": run_agent_sequential, "baseline": run_baseline}
        result = runs[args.which](DEFAULT_PASSWORD)
        print(
            json.dumps(
                {
                    "wall_s": result[0],
                    "cpu_s": result[1],
                    "found": result[2],
                    "inventoried": result[3],
                }
            )
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cameras.pid, 15)
        cameras.wait(10)
    return 0


def measure(which: str, workdir: Path) -> dict[str, float]:
    argv = [
        "unshare",
        "-n",
        sys.executable,
        str(Path(__file__).resolve()),
        "--inside",
        "--which",
        which,
        "--workdir",
        str(workdir),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{which} run failed:\n{result.stderr[-3000:]}")
    data: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


SIDES = (
    ("agent", "agent", "logins start as each camera answers"),
    ("sequential", "not pipelined", "logins start when the window closes"),
    ("baseline", "baseline", "onvif-zeep ONVIFCamera, sequential"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each side, interleaved; medians are reported (default: 3)",
    )
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--which", default="agent", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default="/tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return inside(args)
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise SystemExit(
            "run as root with unshare (util-linux): the benchmark needs a "
            "network namespace for multicast"
        )
    import tempfile

    # Interleaved, so a burst of load from something else on the box hits every side.
    runs: dict[str, list[dict[str, float]]] = {which: [] for which, _, _ in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(max(1, args.repeat)):
            for which, _, _ in SIDES:
                runs[which].append(measure(which, Path(tmp)))

    def stat(which: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[which])

    def spread(which: str) -> str:
        walls = [run["wall_s"] for run in runs[which]]
        return f"{min(walls):.2f}-{max(walls):.2f}"

    window = DISCOVERY_WINDOW_S
    agent_wall, baseline_wall = stat("agent", "wall_s"), stat("baseline", "wall_s")
    wall_ratio = baseline_wall / agent_wall
    cpu_ratio = stat("baseline", "cpu_s") / stat("agent", "cpu_s")
    ratios = sorted(
        b["wall_s"] / a["wall_s"] for a, b in zip(runs["agent"], runs["baseline"], strict=True)
    )
    print(f"medians of {len(runs['agent'])} interleaved runs per side")
    for which, name, _ in SIDES:
        print(
            f"{name + ':':15}found {stat(which, 'found'):.0f}, inventoried "
            f"{stat(which, 'inventoried'):.0f}, wall {stat(which, 'wall_s'):.2f} s "
            f"(runs {spread(which)} s; after the window "
            f"{stat(which, 'wall_s') - window:.2f} s), cpu {stat(which, 'cpu_s'):.2f} s"
        )
    print(
        f"wall: {wall_ratio:.1f}x faster than the baseline (per run "
        f"{ratios[0]:.1f}-{ratios[-1]:.1f}x), "
        f"{stat('sequential', 'wall_s') / agent_wall:.2f}x faster than not pipelined; "
        f"cpu: {cpu_ratio:.1f}x less. The {window:g} s window is the floor for every side."
    )
    goal_wall = agent_wall < 5.0
    goal_ratio = wall_ratio >= 4.0
    print()
    print("Results block (README):")
    print("```")
    print(
        f"discovery + inventory of {CAMERAS} fake ONVIF cameras "
        f"({window:g} s WS-Discovery window on every side, 2 cores, "
        f"median of {len(runs['agent'])} runs)"
    )
    for which, name, note in SIDES:
        print(
            f"  {name:14} wall {stat(which, 'wall_s'):5.2f} s  cpu {stat(which, 'cpu_s'):5.2f} s  "
            f"({stat(which, 'inventoried'):.0f}/{CAMERAS} inventoried; {note})"
        )
    print(f"  ratio          wall {wall_ratio:.1f}x  cpu {cpu_ratio:.1f}x (agent vs baseline)")
    print(
        f"  goals          <5 s wall: {'met' if goal_wall else 'MISSED'}; "
        f">=4x baseline: {'met' if goal_ratio else 'MISSED'}"
    )
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
