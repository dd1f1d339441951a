"""`kitchen-agent diagnose` gives a technician the answer in one command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.diagnose import Check, overall
from tests.kit.mosquitto import Mosquitto, free_port
from tests.test_config_errors import VALID


def write_config(tmp_path: Path, broker_url: str) -> Path:
    creds = tmp_path / "creds"
    creds.mkdir(exist_ok=True)
    (creds / "camera-password").write_text("cam-pw-4321", encoding="utf-8")
    (creds / "stream-token").write_text("tok-98765", encoding="utf-8")
    text = VALID.replace("mqtt://127.0.0.1:1883", broker_url).replace("  username: box-0001\n", "")
    text += f"paths:\n  state_dir: {tmp_path}\n  credentials_dir: {creds}\n"
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def diagnose(path: Path) -> tuple[int, dict[str, object]]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "diagnose",
            "--json",
            "--timeout",
            "1",
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, json.loads(result.stdout)


def by_name(report: dict[str, object]) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in report["checks"]}  # type: ignore[attr-defined,index]


def test_overall_is_worst() -> None:
    assert overall([]) == "ok"
    assert overall([Check("a", "ok", ""), Check("b", "warn", "")]) == "warn"
    assert overall([Check("a", "fail", ""), Check("b", "warn", "")]) == "fail"


def test_broker_up_passes_and_down_fails_with_hint(tmp_path: Path, mosquitto: Mosquitto) -> None:
    code, report = diagnose(write_config(tmp_path, mosquitto.url))
    checks = by_name(report)
    assert checks["broker"]["status"] == "ok"
    assert checks["credentials"]["status"] == "ok"
    # The ingest in the sample config is a closed local port: a failure with a hint.
    assert checks["ingest"]["status"] == "fail"
    assert code == 1
    dead = f"mqtt://127.0.0.1:{free_port()}"
    code, report = diagnose(write_config(tmp_path, dead))
    broker = by_name(report)["broker"]
    assert broker["status"] == "fail"
    assert "central operations" in broker["hint"]
    assert "tok-98765" not in json.dumps(report)


def test_broken_config_is_reported_not_crashed(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("store: {id: 1\n", encoding="utf-8")
    code, report = diagnose(path)
    assert code == 1
    assert by_name(report)["config"]["status"] == "fail"
    assert "network" in by_name(report)
