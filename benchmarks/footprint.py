"""The agent's idle footprint on a small box: memory (RSS) and CPU of `kitchen-agent run`.

The daemon runs with its broker unreachable and four enrolled cameras that never answer
(the worst quiet case: reconnect loops and discovery rounds keep going). Baseline, measured
in the same run: a bare Python process that imports the same heavy libraries (numpy, cv2,
zeep, paho, pydantic) and sleeps — what any Python agent doing this job would cost at rest.

Run: ``.venv/bin/python benchmarks/footprint.py [SECONDS]``
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
BASELINE = (
    "import numpy, cv2, zeep, paho.mqtt.client, pydantic, yaml, structlog, time\n"
    "print('ready', flush=True)\ntime.sleep(3600)\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(process: subprocess.Popen[bytes], seconds: float) -> tuple[float, float]:
    before = cpu_s(process.pid)
    time.sleep(seconds)
    return rss_mb(process.pid), (cpu_s(process.pid) - before) / seconds * 100


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    with tempfile.TemporaryDirectory() as home:
        root = Path(home)
        enrolled = ", ".join(
            f"{{id: mac-02000000000{i}, kcps: [{{kcp: cooking}}]}}" for i in range(4)
        )
        static = ", ".join(f'"127.0.0.1:{free_port()}"' for _ in range(4))
        config = root / "agent.yaml"
        config.write_text(
            f"""\
store: {{id: bench-1, name: 基准店, licence_number: X1, district: xuhui, address: 测试,
         kcps: [cooking]}}
broker: {{url: "mqtt://127.0.0.1:{free_port()}"}}
cameras: {{discovery: {{multicast: false}}, static: [{static}], enrolled: [{enrolled}]}}
streams: {{ingest_url: "rtmp://127.0.0.1:{free_port()}/live/{{camera_id}}"}}
paths: {{state_dir: {root / "state"}, credentials_dir: {root}, runtime_dir: {root / "run"}}}
""",
            encoding="utf-8",
        )
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        baseline = subprocess.Popen(
            [sys.executable, "-c", BASELINE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        try:
            assert baseline.stdout is not None
            baseline.stdout.readline()
            time.sleep(5)  # start-up is not rest
            agent_rss, agent_cpu = measure(agent, seconds)
            base_rss, base_cpu = rss_mb(baseline.pid), 0.0
        finally:
            agent.send_signal(signal.SIGTERM)
            baseline.kill()
            agent.wait(30)
            baseline.wait()
    print(f"idle footprint over {seconds:.0f} s (broker unreachable, 4 silent cameras)")
    print(f"  baseline (imports only)  RSS {base_rss:6.1f} MB  CPU {base_cpu:5.2f} %")
    print(f"  kitchen-agent run        RSS {agent_rss:6.1f} MB  CPU {agent_cpu:5.2f} %")
    print(f"  ratio                    RSS {agent_rss / base_rss:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
