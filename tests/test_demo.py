"""`scripts/demo.sh`'s simulated kitchen, run short: the installer's four commands take it
to 完成建设 before the agent runs, and the closing acceptance names the lens that steamed up
while it ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_enrols_with_enroll_and_ends_with_acceptance(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "testkit.kitchen_sim",
            "--duration",
            "12",
            "--steam-after",
            "1",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    before, _, after = out.partition("[demo] starting kitchen-agent run")
    assert "[demo] kitchen-agent enroll --assign" in before
    assert "enrolled, reference taken (picture: ok)" in before
    assert "建设进度 stage: 完成建设 (completed)" in before
    assert "[demo] EVENT stream_up" in after and "[demo] heartbeat seq=" in after
    assert "jitter" not in after  # the lens fogging up is not told as a shaking mount
    closing = after.split("[demo] kitchen-agent acceptance")[-1]
    assert "FAIL  kcp dishwashing" in closing and "degreaser" in closing
    assert "建设进度 stage: 视频对接 (video_connected)" in closing
    assert (tmp_path / "box" / "snapshots").is_dir()
