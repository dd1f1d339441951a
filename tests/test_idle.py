"""An idle agent is truly idle: with its broker unreachable and no camera answering, the
daemon's threads sleep on events instead of polling hot (a box runs for years)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from testkit.mosquitto import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def test_idle_daemon_with_unreachable_broker_barely_uses_cpu(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"""\
store: {{id: idle-1, name: 空闲店, licence_number: X1, district: xuhui, address: 测试,
         kcps: [cooking]}}
broker: {{url: "mqtt://127.0.0.1:{free_port()}"}}
cameras:
  discovery: {{multicast: false}}
  enrolled: [{{id: mac-020000000009, kcps: [{{kcp: cooking}}]}}]
streams: {{ingest_url: "rtmp://127.0.0.1:{free_port()}/live/{{camera_id}}"}}
paths: {{state_dir: {tmp_path / "state"}, credentials_dir: {tmp_path},
        runtime_dir: {tmp_path / "run"}}}
""",
        encoding="utf-8",
    )
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "state" / "outbox.sqlite3").exists():  # workers are up
            assert time.monotonic() < deadline and agent.poll() is None
            time.sleep(0.1)
        time.sleep(2)  # start-up (imports, first rounds) is not idleness
        before = cpu_seconds(agent.pid)
        time.sleep(5)
        used = cpu_seconds(agent.pid) - before
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    # A hot loop burns ~5 s of CPU here; an idle agent a few hundredths.
    assert used < 0.5, f"idle agent used {used:.2f} s of CPU in 5 s"
