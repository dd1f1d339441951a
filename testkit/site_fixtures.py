"""A kitchen on site as pytest fixtures: fake ONVIF cameras whose snapshots are kitchen
pictures (one may have a greasy lens, one may refuse the site password), each streaming
the session's real RTSP video, and a box provisioned with ``config init`` like an
installer does it.

- ``site_kitchen(*specs)``: start cameras; a spec is ``"clean"``, ``"greasy"``,
  ``"smeared"`` (grease strokes over most of the lens, clear glass between: nothing raised
  on one frame, but a soft picture said), ``"granite"`` (a granite counter filling the
  view: one frame reads it as noisy), ``"snowy"`` (a kitchen at a night's gain: noisy) or
  ``"wrong_password"``; returns :class:`SiteCamera` objects (stopped at the end).
- ``provision(home, cameras, kcps, broker=None, ingest=None, **sets)``: ``config init``
  through the CLI, credentials written; returns the config path.
- ``agent_cli(*args, config=...)``: run ``kitchen-agent`` (as ``python -m agent``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from testkit import kitchen_textures
from testkit import quality_physical as qp
from testkit.fake_onvif import DEFAULT_PASSWORD
from testkit.images import read_bgr
from testkit.kitchen_sim import SimCamera, kitchen_photo
from testkit.rtsp_camera import RtspCamera

AGENT = [sys.executable, "-m", "agent"]
PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "quality"


def smeared_counter() -> np.ndarray:
    """A counter (a committed photograph, 640x360) seen through grease smeared over 60 % of
    the lens: clear glass between the strokes, so one frame raises nothing, while most of
    its lit picture is soft."""
    photo = read_bgr(PHOTOS / "coffee.jpg")
    photo = cv2.resize(photo, (640, 360), interpolation=cv2.INTER_AREA).astype(np.uint8)
    strokes = qp.grease_smear(qp.to_radiance(photo), 0.6, np.random.default_rng(3))
    return qp.to_signal(strokes)


def granite_counter() -> np.ndarray:
    """A granite counter filling the view (``kitchen_textures``, 640x360): its grain is a
    pixel or two at the analysis width, as a sensor's noise is."""
    texture = kitchen_textures.scene("granite", 9, 0.0)
    return np.asarray(cv2.resize(texture, (640, 360), interpolation=cv2.INTER_AREA), np.uint8)


@dataclass
class SiteCamera:
    camera: SimCamera
    spec: str

    @property
    def address(self) -> str:
        return f"{self.camera.host}:{self.camera.port}"

    @property
    def id(self) -> str:
        """The id the box gives it once logged in: from its MAC."""
        assert self.camera.mac is not None
        return "mac-" + self.camera.mac.replace(":", "")


@pytest.fixture
def site_kitchen(rtsp_camera: RtspCamera) -> Iterator[Callable[..., list[SiteCamera]]]:
    started: list[SimCamera] = []

    def make(*specs: str) -> list[SiteCamera]:
        made = []
        for spec in specs:
            camera = SimCamera(
                persona="other_password" if spec == "wrong_password" else "hikvision",
                discovery=False,
                rtsp_main=rtsp_camera.url("main"),
                rtsp_sub=rtsp_camera.url("sub"),
            )
            if spec == "smeared":
                camera.scene = smeared_counter()
            elif spec == "granite":
                camera.scene = granite_counter()
            else:
                camera.scene = kitchen_photo(len(started) + 1)
            camera.degrade_after_s = 0.0 if spec == "greasy" else None
            camera.grain = 14.0 if spec == "snowy" else camera.grain
            started.append(camera.start())
            made.append(SiteCamera(camera, spec))
        return made

    yield make
    for camera in started:
        camera.stop()


def agent_cli(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENT, *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def provision(
    home: Path,
    cameras: list[SiteCamera],
    kcps: str,
    *,
    broker_url: str = "mqtt://127.0.0.1:1",
    ingest_url: str | None = None,
    secrets: dict[str, str] | None = None,
    sets: dict[str, Any] | None = None,
) -> Path:
    """The box as an installer leaves it after ``config init``: credentials in place, the
    cameras' addresses static (the test LAN has no multicast)."""
    creds = home / "credentials"
    creds.mkdir(parents=True, exist_ok=True)
    for name, value in {"camera-password": DEFAULT_PASSWORD, **(secrets or {})}.items():
        (creds / name).write_text(value, encoding="utf-8")
        (creds / name).chmod(0o600)
    config = home / "agent.yaml"
    values: dict[str, Any] = {
        "paths.state_dir": str(home / "state"),
        "paths.credentials_dir": str(creds),
        "paths.runtime_dir": str(home / "run"),  # its own status socket
        "cameras.discovery.multicast": "false",
        "cameras.static": json.dumps([c.address for c in cameras]),
        **({"streams.ingest_url": ingest_url} if ingest_url else {}),
        **(sets or {}),
    }
    result = agent_cli(
        "config",
        "init",
        "--store-id",
        "sh-xh-0001",
        "--store-name",
        "老王面馆（漕溪北路店）",
        "--licence-number",
        "JY23101040012345",
        "--district",
        "xuhui",
        "--address",
        "上海市徐汇区漕溪北路1号",
        "--expected-completion",
        "2024-09",
        "--broker",
        broker_url,
        "--kcp",
        kcps,
        *[part for key, value in values.items() for part in ("--set", f"{key}={value}")],
        "--output",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    return config
