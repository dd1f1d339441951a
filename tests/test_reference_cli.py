"""`kitchen-agent reference`: an installer lists the enrolled views and resets one after
re-aiming a camera (the daemon's side of the reset is in test_quality_worker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest

from agent.capture.reference import ReferenceStore
from testkit.configs import VALID
from testkit.images import read_bgr

PHOTOS = Path(__file__).parent / "data" / "quality"
CAMERAS = """\
cameras:
  enrolled:
    - id: cam-wok
      kcps: [{kcp: cooking}, {kcp: prep}]
    - id: cam-sink
      kcps: [{kcp: dishwashing}]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    text = VALID + CAMERAS + f"paths:\n  state_dir: {tmp_path / 'state'}\n"
    path.write_text(text, encoding="utf-8")
    return path


def reference(config: Path, *args: str) -> tuple[int, Any, str]:
    result = subprocess.run(
        [sys.executable, "-m", "agent", "reference", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    payload = json.loads(result.stdout) if "--json" in args and result.stdout else None
    return result.returncode, payload, result.stdout + result.stderr


def enrol(config: Path, camera_id: str) -> None:
    picture = read_bgr(PHOTOS / "coffee.jpg")
    ReferenceStore(config.parent / "state").save(camera_id, picture, 320, captured_at=1.7e9)


def test_list_shows_each_enrolled_camera_and_its_reference(config: Path) -> None:
    enrol(config, "cam-wok")
    code, payload, _ = reference(config, "list", "--json")
    assert code == 0
    cameras = {c["camera_id"]: c for c in payload["cameras"]}
    assert list(cameras) == ["cam-wok", "cam-sink"]
    wok = cameras["cam-wok"]
    assert wok["kcps"] == ["cooking", "prep"]
    assert wok["enrolled_at"] == "2023-11-14T22:13:20+00:00"
    assert wok["source_size"] == [480, 320] and wok["features"] > 0
    # The picture is what check-frame takes as the camera's reference.
    assert cv2.imread(wok["image"]).shape[1] == 320
    assert cameras["cam-sink"]["enrolled_at"] is None
    code, _, text = reference(config, "list")
    assert code == 0 and "cam-sink" in text and "none yet" in text


def test_reset_forgets_named_or_all_references(config: Path) -> None:
    enrol(config, "cam-wok")
    enrol(config, "cam-sink")
    code, payload, _ = reference(config, "reset", "cam-sink", "--json")
    assert (code, payload) == (0, {"reset": ["cam-sink"], "without_reference": []})
    store = ReferenceStore(config.parent / "state")
    assert [e["camera_id"] for e in store.entries()] == ["cam-wok"]
    code, payload, _ = reference(config, "reset", "--all", "--json")
    assert (code, payload) == (0, {"reset": ["cam-wok"], "without_reference": ["cam-sink"]})
    assert store.entries() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reset", "cam-nope"), "not enrolled: cam-nope (enrolled: cam-wok, cam-sink)"),
        (("reset",), "name the cameras to reset, or give --all"),
        (("reset", "cam-wok", "--all"), "name the cameras to reset, or give --all"),
    ],
)
def test_reset_refuses_what_it_cannot_mean(
    config: Path, args: tuple[str, ...], message: str
) -> None:
    enrol(config, "cam-wok")
    code, _, text = reference(config, *args)
    assert code == 2
    assert message in text
    assert "Traceback" not in text
    entries = ReferenceStore(config.parent / "state").entries()
    assert [e["camera_id"] for e in entries] == ["cam-wok"]
