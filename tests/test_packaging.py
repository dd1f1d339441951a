"""What lands on a box: the systemd unit is valid and hardened, the package installs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "kitchen-agent.service"

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def local_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's kitchen-agent."""
    executable = Path(sys.executable).with_name("kitchen-agent")
    assert executable.exists(), "pip install -e . gives the console script"
    text = UNIT.read_text(encoding="utf-8").replace(
        "/opt/kitchen-agent/current/bin/kitchen-agent", str(executable)
    )
    unit = tmp_path / "kitchen-agent.service"
    unit.write_text(text, encoding="utf-8")
    return unit


@needs_systemd
def test_unit_verifies(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@needs_systemd
def test_unit_exposure_is_low(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(local_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:]
    assert float(match.group(1)) <= 2.5


def test_unit_contract() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "RestartPreventExitStatus=78",
        "KillMode=mixed",
        "Restart=on-failure",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "LoadCredential=camera-password:",
        "StateDirectory=kitchen-agent",
    ):
        assert line in text
    assert re.search(r"^WatchdogSec=\d+", text, re.MULTILINE)


def test_version_and_module_entry() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent", "--version"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert result.stdout.startswith("kitchen-agent ")


def test_wheel_carries_the_whole_package(tmp_path: Path) -> None:
    """What `pip install .` puts on a box: every module, typed, with its console script."""
    import zipfile

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("kitchen_agent-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {
        str(p.relative_to(REPO))
        for p in (REPO / "agent").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources <= names, sorted(sources - names)
    assert "agent/py.typed" in names
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "kitchen-agent = agent.cli:entry_point"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )
