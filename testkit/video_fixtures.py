"""Fake RTSP cameras as pytest fixtures (see ``testkit/rtsp_camera.py``).

- ``rtsp_camera``: one session-wide camera serving ``main`` (H.264 1920x1080, ~2 Mbit/s) and
  ``sub`` (H.264 640x360, ~400 kbit/s), no auth. Shared: never freeze or stop it.
- ``rtsp_camera_factory``: make private cameras (own streams, credentials); they may be
  frozen, resumed and stopped, and are stopped when the test ends.
- ``video_clips``: the MP4 test clips themselves (for tests that read files).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from testkit.rtsp_camera import (
    MAIN_1080P,
    SUB_360P,
    SUB_360P_H265,
    RtspCamera,
    StreamSpec,
    make_clip,
)

CameraFactory = Callable[..., RtspCamera]


@pytest.fixture(scope="session")
def video_clips() -> dict[str, Path]:
    return {
        "main": make_clip(MAIN_1080P),
        "sub": make_clip(SUB_360P),
        "sub_h265": make_clip(SUB_360P_H265),
    }


@pytest.fixture(scope="session")
def rtsp_camera(
    tmp_path_factory: pytest.TempPathFactory, video_clips: dict[str, Path]
) -> Iterator[RtspCamera]:
    log = tmp_path_factory.mktemp("rtsp-camera") / "server.log"
    camera = RtspCamera({"main": MAIN_1080P, "sub": SUB_360P}, log_path=log).start()
    yield camera
    camera.stop()


@pytest.fixture
def rtsp_camera_factory(tmp_path: Path) -> Iterator[CameraFactory]:
    started: list[RtspCamera] = []

    def make(
        streams: Mapping[str, StreamSpec] | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> RtspCamera:
        camera = RtspCamera(
            streams, credentials=credentials, log_path=tmp_path / f"camera{len(started)}.log"
        )
        started.append(camera)
        return camera.start()

    yield make
    for camera in started:
        camera.stop()
