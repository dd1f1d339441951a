"""`kitchen-agent diagnose` gives a technician the answer in one command: every check with
what it saw and what to do (Chinese and English), eight cameras looked at live within
30 s, and a report a phone opens offline, with the pictures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.diagnose import Check, overall
from testkit.configs import VALID
from testkit.images import read_bgr
from testkit.mosquitto import Mosquitto, free_port
from testkit.nginx_rtmp import NginxRtmp
from testkit.site_fixtures import SiteCamera, agent_cli, provision

Kitchen = Callable[..., list[SiteCamera]]


def write_config(tmp_path: Path, broker_url: str) -> Path:
    creds = tmp_path / "creds"
    creds.mkdir(exist_ok=True)
    (creds / "camera-password").write_text("cam-pw-4321", encoding="utf-8")
    (creds / "stream-token").write_text("tok-98765", encoding="utf-8")
    text = VALID.replace("mqtts://127.0.0.1:8883", broker_url).replace("  username: box-0001\n", "")
    text += "cameras:\n  discovery:\n    multicast: false\n"
    text += f"paths:\n  state_dir: {tmp_path}\n  credentials_dir: {creds}\n"
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def diagnose(path: Path, *args: str) -> tuple[int, dict[str, Any]]:
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
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, json.loads(result.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_overall_is_worst() -> None:
    assert overall([]) == "ok"
    assert overall([Check("a", "ok", ""), Check("b", "warn", "")]) == "warn"
    assert overall([Check("a", "fail", ""), Check("b", "warn", "")]) == "fail"


def test_broker_up_passes_and_down_fails_with_what_to_do(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    code, report = diagnose(write_config(tmp_path, mosquitto.url))
    checks = by_name(report)
    assert checks["broker"]["status"] == "ok"
    assert "QoS 1 publish acknowledged" in checks["broker"]["detail"]
    assert checks["credentials"]["status"] == "ok"
    assert checks["dns broker"]["status"] == "ok"
    # The ingest in the sample config is a closed local port: the test push fails.
    ingest = checks["ingest"]
    assert ingest["status"] == "fail" and "平台没有收到视频" in ingest["advice_zh"]
    assert code == 1
    dead = f"mqtt://127.0.0.1:{free_port()}"
    code, report = diagnose(write_config(tmp_path, dead))
    broker = by_name(report)["broker"]
    assert broker["status"] == "fail"
    assert "central operations" in broker["advice_en"] and broker["hint"] == broker["advice_en"]
    assert "中心平台" in broker["advice_zh"]
    assert "tok-98765" not in json.dumps(report)


def test_broken_config_is_reported_not_crashed(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("store: {id: 1\n", encoding="utf-8")
    code, report = diagnose(path)
    assert code == 1
    assert by_name(report)["config"]["status"] == "fail"
    assert "network" in by_name(report) and "cpu" in by_name(report)


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


def found_in(screenshot: np.ndarray, picture: np.ndarray) -> float:
    """How well ``picture`` appears somewhere in ``screenshot``, at whatever width the page
    gave it (best normalised correlation over the plausible widths)."""
    best = 0.0
    for width in range(120, 260, 3):
        height = round(picture.shape[0] * width / picture.shape[1])
        small = cv2.resize(picture, (width, height), interpolation=cv2.INTER_AREA)
        if small.shape[0] >= screenshot.shape[0] or width >= screenshot.shape[1]:
            continue
        score = float(cv2.matchTemplate(screenshot, small, cv2.TM_CCOEFF_NORMED).max())
        best = max(best, score)
    return best


def test_report_names_the_wrong_password_the_fogged_lens_and_the_uncovered_kcp(
    site_kitchen: Kitchen, mosquitto: Mosquitto, nginx_rtmp: NginxRtmp, tmp_path: Path
) -> None:
    """Eight cameras: five good ones, one whose lens fogs after enrolment, one that refuses
    the password, one found but not enrolled; prep has no camera."""
    cameras = site_kitchen(*(["clean"] * 5), "clean", "wrong_password", "clean")
    wok, cold, sink, packing, storage, fogged, refusing, spare = cameras
    config = provision(
        tmp_path / "box",
        cameras,
        "cooking,cold_room,prep,dishwashing,packing,storage",
        broker_url=mosquitto.url,
        ingest_url=f"{nginx_rtmp.base_url}/{{store_id}}-{{camera_id}}?token={{token}}",
        secrets={"stream-token": "tok-77"},
    )
    assignments = [
        (wok, "cooking"),
        (cold, "cold_room"),
        (sink, "dishwashing"),
        (packing, "packing"),
        (storage, "storage"),
        (fogged, "dishwashing"),
        (refusing, "prep"),
    ]
    args = [part for camera, kcp in assignments for part in ("--assign", f"{camera.address}={kcp}")]
    roi = f"{wok.address}=cooking:0.05,0.4,0.95,0.4,0.95,0.98,0.05,0.98"
    enrolled = agent_cli("enroll", "--config", str(config), *args, "--roi", roi, "--force")
    assert enrolled.returncode == 0, enrolled.stderr
    fogged.camera.degrade_after_s = 0.0  # steam and grease on the lens since enrolment

    report_dir = tmp_path / "report"
    code, report = diagnose(config, "--lang", "zh", "--report", str(report_dir), "--timeout", "3")
    assert code == 1
    assert report["took_s"] < 30, report["took_s"]
    checks = by_name(report)
    fogged_check = checks[f"camera {fogged.id}"]
    assert fogged_check["status"] == "fail" and "low_contrast" in fogged_check["detail"]
    assert "镜头起雾或有油污" in fogged_check["advice_zh"]
    assert "RTSP opened, one 640x360 frame decoded" in fogged_check["detail"]
    refusing_check = next(
        c for n, c in checks.items() if n.startswith("camera") and "auth_failed" in c["detail"]
    )
    assert (
        refusing_check["status"] == "fail"
        and "rejected the username or password" in refusing_check["detail"]
    )
    assert (
        "camera-password" in refusing_check["advice_en"]
        and "拒绝密码" in refusing_check["advice_zh"]
    )
    assert checks["kcp prep"]["status"] == "fail"  # its one camera refuses the password
    assert checks["kcp dishwashing"]["status"] == "ok"  # the sink camera still covers it
    assert "region 100% in view" in checks[f"camera {wok.id}"]["detail"]
    assert (
        checks[f"camera {spare.id}"]["status"] == "ok"
        and "not enrolled" in checks[f"camera {spare.id}"]["detail"]
    )
    assert checks["ingest"]["status"] == "ok" and "pushed" in checks["ingest"]["detail"]
    assert "tok-77" not in json.dumps(report)

    saved = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert saved["checks"] == report["checks"] and saved["lang"] == "zh"
    pictures = {c["id"]: c["pictures"] for c in saved["cameras"]}
    assert pictures[fogged.id]["live"] and pictures[fogged.id]["reference"]

    # What the technician's phone shows, offline: headless Chromium at a phone's width.
    page = report_dir / "index.html"
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']https?:""", text)  # nothing fetched from outside
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "诊断报告" in dom and "镜头起雾或有油污" in dom and "摄像头拒绝密码" in dom
    assert dom.count('src="data:image/jpeg;base64,') >= 2 * 6
    shot = tmp_path / "phone.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=412,2400",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    screenshot = read_bgr(shot)
    assert screenshot is not None and screenshot.shape[1] == 412
    # The broken cameras come first: the fogged lens's live view and its reference are
    # on the screen, as the report's files hold them.
    live = read_bgr(report_dir / pictures[fogged.id]["live"])
    reference = read_bgr(report_dir / pictures[fogged.id]["reference"])
    assert live is not None and reference is not None
    assert found_in(screenshot, live) > 0.8
    assert found_in(screenshot, reference) > 0.8
    # The Chinese title is drawn (ink in the first line, in the report's dark text colour).
    title = screenshot[5:45, 5:200]
    assert (title.max(axis=2) < 100).sum() > 150


def test_chinese_by_the_locale(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("store: {id: 1\n", encoding="utf-8")
    human = subprocess.run(
        [sys.executable, "-m", "agent", "diagnose", "--timeout", "1", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))},
            "LANG": "zh_CN.UTF-8",
        },
    )
    assert "故障  config" in human.stdout and "结论: 故障" in human.stdout
