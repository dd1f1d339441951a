"""`kitchen-agent run` as systemd sees it: ready notification, status, reload, clean stop.

The daemon runs as a child process with its broker unreachable and its one camera's
address refusing connections: everything here must work with the kitchen dark.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.configs import VALID
from testkit.mosquitto import wait_until
from testkit.notify import LogReader, NotifySocket


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "agent.yaml"
    text = VALID.replace(
        "broker:\n  url: mqtts://127.0.0.1:8883", "broker:\n  url: mqtts://127.0.0.1:9"
    )
    text = text.replace(
        "  ingest_url: rtmp://127.0.0.1/live/{store_id}-{camera_id}?token={token}\n", ""
    )
    text += (
        f"paths:\n  state_dir: {tmp_path / 'state'}\n  credentials_dir: {tmp_path / 'creds'}\n"
        f"  runtime_dir: {tmp_path / 'run'}\n"
    )
    text += (
        "cameras:\n  discovery:\n    multicast: false\n    timeout_s: 0.5\n"
        f"  static: ['127.0.0.1:{closed_port()}']\n"
        "  enrolled:\n    - id: cam-dark\n      name: 热菜区\n      kcps: [{kcp: cooking}]\n"
    )
    config.write_text(text, encoding="utf-8")
    (tmp_path / "creds").mkdir()
    return config


def start_daemon(config: Path, env_extra: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env_extra},
    )


def agent_cli(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=timeout_s
    )


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    with NotifySocket() as harness:
        yield harness


def test_ready_status_reload_and_clean_stop(tmp_path: Path, notify: NotifySocket) -> None:
    config = write_config(tmp_path)
    process = start_daemon(config, notify.env)
    logs = LogReader(process)
    try:
        notify.wait_for("READY=1")
        logs.wait_for(lambda e: e.get("event") == "agent_starting")

        # The agent answers for itself while its broker and its camera are both down. The
        # static address is listed once the discovery worker has probed it: on a loaded
        # machine that can be after the first answer.
        def both_cameras_listed() -> dict[str, Any] | None:
            status = agent_cli("status", "--json", "--config", str(config))
            assert status.returncode == 0, status.stderr
            answer: dict[str, Any] = json.loads(status.stdout)
            return answer if len(answer["cameras"]) == 2 else None

        report = wait_until(both_cameras_listed, 30.0, interval_s=0.2)
        assert report["pid"] == process.pid
        assert report["store"]["id"] == "sh-xh-0001"
        assert report["phase"] == "running"
        assert report["uplink"]["broker"] == "mqtts://127.0.0.1:9"
        assert report["uplink"]["state"] in ("offline", "connecting")
        dark, found = report["cameras"]  # the enrolled camera, then the static address
        assert (dark["id"], dark["name"], dark["enrolled"], dark["online"]) == (
            "cam-dark",
            "热菜区",
            True,
            False,
        )
        assert found["enrolled"] is False and found["online"] is False
        assert [k["kcp"] for k in report["coverage"]["kcps"]] == ["cooking", "prep", "dishwashing"]
        assert {w["name"]: w["state"] for w in report["workers"]} == {
            "mqtt": "running",
            "status": "running",
            "discovery": "running",
            "quality": "running",
            "stage": "running",
        }
        assert report["outbox"]["depth"] >= 1  # agent_started waits for a broker
        # The socket is for the agent's user and the technicians' group only.
        sock = tmp_path / "run" / "status.sock"
        assert sock.stat().st_mode & 0o777 == 0o660
        # systemd's one line is the same picture.
        summaries = notify.lines("STATUS=")
        assert summaries and summaries[-1].startswith("STATUS=running; stage preparation; mqtt ")
        assert "cameras 0/1 online" in summaries[-1]

        # diagnose asks the same socket: the agent runs, and runs this very config.
        diagnosis = agent_cli("diagnose", "--json", "--timeout", "1", "--config", str(config))
        daemon_check = next(
            c for c in json.loads(diagnosis.stdout)["checks"] if c["name"] == "daemon"
        )
        assert daemon_check["status"] == "ok", daemon_check
        assert f"pid {process.pid}" in daemon_check["detail"]

        # A broken config on reload is rejected; the daemon keeps running on the old one.
        good = config.read_text(encoding="utf-8")
        config.write_text(good.replace("max_kbps: 512", "max_kbps: 1"), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        rejected = logs.wait_for(lambda e: e.get("event") == "config_rejected")
        assert "streams.max_kbps: must be between 64 and 8000" in json.dumps(rejected)
        assert process.poll() is None

        # A good change that the running agent has not applied yet: diagnose says so.
        changed = good.replace("max_kbps: 512", "max_kbps: 256")
        config.write_text(changed, encoding="utf-8")
        diagnosis = agent_cli("diagnose", "--json", "--timeout", "1", "--config", str(config))
        daemon_check = next(
            c for c in json.loads(diagnosis.stdout)["checks"] if c["name"] == "daemon"
        )
        assert daemon_check["status"] == "warn" and "not this file's" in daemon_check["detail"]
        process.send_signal(signal.SIGHUP)
        logs.wait_for(lambda e: e.get("event") == "config_reloading")

        # Where the agent keeps its state changes only at a restart: refused, with its line.
        moved = changed.replace(
            f"state_dir: {tmp_path / 'state'}", f"state_dir: {tmp_path / 'elsewhere'}"
        )
        assert moved != changed
        config.write_text(moved, encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        rejected = logs.wait_for(
            lambda e: e.get("event") == "config_rejected" and "state_dir" in json.dumps(e)
        )
        line = next(n for n, text in enumerate(moved.splitlines(), 1) if "state_dir:" in text)
        assert rejected["problems"] == [
            f"{config}:{line}: paths.state_dir: changes only when the agent restarts (it runs "
            f"with {tmp_path / 'state'}): restart it (systemctl restart kitchen-agent) to use "
            "the new value"
        ]
        assert not (tmp_path / "elsewhere").exists()
        assert process.poll() is None

        # The log level is the config's from the reload that sets it on: at `warning`, a
        # later reload is applied (diagnose: the agent runs this file) without a line.
        quiet = changed + "log:\n  level: warning\n"
        config.write_text(quiet, encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        logs.wait_for(lambda e: e.get("event") == "log_level_changed")
        reloads = len(logs.named("config_reloading"))
        config.write_text(quiet.replace("max_kbps: 256", "max_kbps: 320"), encoding="utf-8")
        process.send_signal(signal.SIGHUP)

        def runs_this_file() -> bool:
            diagnosis = agent_cli("diagnose", "--json", "--timeout", "1", "--config", str(config))
            checks = json.loads(diagnosis.stdout)["checks"]
            return next(c for c in checks if c["name"] == "daemon")["status"] == "ok"

        wait_until(runs_this_file, 30.0, interval_s=0.2)
        assert len(logs.named("config_reloading")) == reloads
        config.write_text(changed, encoding="utf-8")  # back to `info`: it says so
        process.send_signal(signal.SIGHUP)
        back = logs.wait_for(lambda e: e.get("event") == "log_level_changed" and e["to"] == "info")
        assert back["was"] == "warning"

        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        logs.wait_for(lambda e: e.get("event") == "agent_stopped")
        assert notify.lines("STOPPING=1")
        assert not sock.exists()  # the socket goes with the agent
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        logs.close()

    # No agent: a plain sentence and exit 69 (EX_UNAVAILABLE), for people and for scripts.
    gone = agent_cli("status", "--config", str(config))
    assert gone.returncode == 69
    assert gone.stderr.strip() == (
        f"kitchen-agent: No kitchen-agent is running here: nothing answers on {sock}."
    )
    gone = agent_cli("status", "--json", "--config", str(config))
    assert gone.returncode == 69
    assert json.loads(gone.stdout)["error"]["code"] == "agent_not_running"


def test_bad_config_at_start_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(VALID.replace("cooking,", "wok,"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert "store.kcps[0]: unknown key control point 'wok'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_stop_budget_is_well_inside_the_units_timeout() -> None:
    from agent.daemon import STOP_BUDGET

    unit = (Path(__file__).resolve().parents[1] / "systemd/kitchen-agent.service").read_text()
    timeout_s = float(unit.split("\nTimeoutStopSec=", 1)[1].split()[0])
    assert STOP_BUDGET.total_s <= timeout_s / 2
    assert 0 < STOP_BUDGET.last_s < STOP_BUDGET.total_s
