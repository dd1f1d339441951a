"""Fake ONVIF cameras and test LANs as pytest fixtures.

- ``fake_camera_factory(persona="generic", **kwargs)``: an in-process fake ONVIF camera on
  127.0.0.1 (free port, WS-Discovery off unless asked), stopped when the test ends.
- ``camera_password_file``: a file holding the fake cameras' site password.
- ``test_lan``: network namespaces for multicast tests (see ``testkit/netns.py``);
  skips with the reason when not root or without iproute2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.fake_onvif import DEFAULT_PASSWORD, FakeCamera
from testkit.netns import TestLan, netns_unavailable_reason

FakeCameraFactory = Callable[..., FakeCamera]

_netns_reason: list[str | None] = []


def require_netns() -> None:
    if not _netns_reason:
        _netns_reason.append(netns_unavailable_reason())
    if _netns_reason[0] is not None:
        pytest.skip(_netns_reason[0])


@pytest.fixture
def fake_camera_factory() -> Iterator[FakeCameraFactory]:
    started: list[FakeCamera] = []

    def make(persona: str = "generic", **kwargs: Any) -> FakeCamera:
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("discovery", False)
        camera = FakeCamera(persona=persona, **kwargs)
        started.append(camera)
        return camera.start()

    yield make
    for camera in started:
        camera.stop()


@pytest.fixture
def camera_password_file(tmp_path: Path) -> Path:
    path = tmp_path / "camera-password"
    path.write_text(DEFAULT_PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def test_lan() -> Iterator[TestLan]:
    require_netns()
    lan = TestLan().up()
    try:
        yield lan
    finally:
        lan.down()
