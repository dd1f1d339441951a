"""`kitchen-agent diagnose` gives a technician the answer in one command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.diagnose import Check, overall
from testkit.configs import VALID
from testkit.mosquitto import Mosquitto, free_port


def write_config(tmp_path: Path, broker_url: str) -> Path:
    creds = tmp_path / "creds"
    creds.mkdir(exist_ok=True)
    (creds / "camera-password").write_text("cam-pw-4321", encoding="utf-8")
    (creds / "stream-token").write_text("tok-98765", encoding="utf-8")
    text = VALID.replace("mqtts://127.0.0.1:8883", broker_url).replace("  username: box-0001\n", "")
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


def test_cameras_checked_against_last_inventory(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Each enrolled camera: reachable and healthy, reachable with a wrong password,
    gone from the network, never discovered; and a declared KCP nobody covers."""
    from agent.capture.inventory import InventoryStore
    from agent.model import Camera, ErrorInfo
    from testkit.fake_onvif import FakeCamera

    live = FakeCamera(discovery=False).start()
    try:
        dead_port = free_port()
        InventoryStore(tmp_path).save(
            {
                "mac-020000000001": Camera(
                    id="mac-020000000001",
                    address=f"127.0.0.1:{live.port}",
                    xaddr=live.xaddr,
                    model="IPC-1080",
                ),
                "mac-020000000002": Camera(
                    id="mac-020000000002",
                    address=f"127.0.0.1:{live.port}",
                    xaddr=live.xaddr,
                    error=ErrorInfo(code="auth_failed", message="the camera refused the password"),
                ),
                "mac-020000000003": Camera(
                    id="mac-020000000003",
                    address=f"127.0.0.1:{dead_port}",
                    xaddr=f"http://127.0.0.1:{dead_port}/onvif/device_service",
                ),
            }
        )
        path = write_config(tmp_path, mosquitto.url)
        text = path.read_text(encoding="utf-8").replace(
            "paths:",
            "cameras:\n  enrolled:\n"
            "    - {id: mac-020000000001, name: 热菜区, kcps: [{kcp: cooking}]}\n"
            "    - {id: mac-020000000002, kcps: [{kcp: prep}]}\n"
            "    - {id: mac-020000000003, kcps: [{kcp: cooking}]}\n"
            "    - {id: mac-020000000004, kcps: [{kcp: cooking}]}\n"
            "paths:",
        )
        path.write_text(text, encoding="utf-8")
        code, report = diagnose(path)
    finally:
        live.stop()
    checks = by_name(report)
    assert code == 1
    assert checks["camera mac-020000000001 (热菜区)"]["status"] == "ok"
    wrong = checks["camera mac-020000000002"]
    assert wrong["status"] == "fail" and "camera-password.<camera id>" in wrong["hint"]
    gone = checks["camera mac-020000000003"]
    assert gone["status"] == "fail" and "powered" in gone["hint"]
    assert "never discovered" in checks["camera mac-020000000004"]["detail"]
    assert checks["kcp dishwashing"]["status"] == "fail"


def test_an_empty_credential_file_is_reported_as_empty_not_present(tmp_path: Path) -> None:
    """install.sh leaves the credential files empty; the agent reads them as unset."""
    from agent.config import load_config
    from agent.diagnose import check_credentials

    path = write_config(tmp_path, "mqtt://127.0.0.1:1883")
    creds = tmp_path / "creds"
    (creds / "camera-password").write_text("\n", encoding="utf-8")
    check = check_credentials(load_config(path))
    assert check.status == "fail"
    assert f"camera-password: empty — write the password into {creds}/camera-password" in (
        check.detail
    )
