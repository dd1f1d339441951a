"""Real ingests as pytest fixtures (see ``testkit/nginx_rtmp.py``).

- ``nginx_rtmp``: one session-wide nginx-rtmp; use a unique stream name per test.
- ``nginx_rtmp_private``: a fresh nginx-rtmp for a test that stops and starts it.
- ``ffmpeg_listener_factory``: ``make("rtsp" | "srt", name)`` one-publisher receivers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testkit.nginx_rtmp import FfmpegListener, NginxRtmp


@pytest.fixture(scope="session")
def nginx_rtmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxRtmp]:
    ingest = NginxRtmp(tmp_path_factory.mktemp("nginx-rtmp")).start()
    yield ingest
    ingest.stop()


@pytest.fixture
def nginx_rtmp_private(tmp_path: Path) -> Iterator[NginxRtmp]:
    ingest = NginxRtmp(tmp_path / "nginx").start()
    yield ingest
    ingest.stop()


@pytest.fixture
def ffmpeg_listener_factory(tmp_path: Path) -> Iterator[Callable[[str, str], FfmpegListener]]:
    started: list[FfmpegListener] = []

    def make(scheme: str, name: str = "ingest") -> FfmpegListener:
        listener = FfmpegListener(scheme, tmp_path / "listeners", name)
        started.append(listener)
        return listener.start()

    yield make
    for listener in started:
        listener.stop()
