"""The systemd files the installer writes, read by systemd's own parsers.

`systemd-analyze verify` and `systemd --test` (the manager's parser, run unprivileged on a
unit folder) print every line they ignore; a LoadCredential= they cannot parse would
silently leave a camera on the shared password, so any such line fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.install_fixtures import run_lib

REPO = Path(__file__).resolve().parents[1]
SYSTEMD = REPO / "systemd"
UNIT = SYSTEMD / "kitchen-agent.service"

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A folder the unprivileged manager can read (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="kitchen-agent-units-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def unit_folder(base: Path, root: Path | None = None) -> Path:
    """The unit (ExecStart pointing at an executable that exists here) and the drop-ins
    written under root, in one folder as systemd would find them."""
    folder = base / "units"
    folder.mkdir()
    executable = Path(sys.executable).with_name("kitchen-agent")
    text = UNIT.read_text(encoding="utf-8").replace(
        "/opt/kitchen-agent/current/bin/kitchen-agent", str(executable)
    )
    (folder / UNIT.name).write_text(text, encoding="utf-8")
    if root is not None:
        shutil.copytree(
            root / "etc/systemd/system/kitchen-agent.service.d",
            folder / "kitchen-agent.service.d",
        )
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def parse_problems(folder: Path) -> list[str]:
    """What systemd-analyze verify and the manager's own parser complain about."""
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(folder / UNIT.name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    problems = [line for line in verify.stderr.splitlines() if line.strip()]
    manager = Path("/lib/systemd/systemd")
    if manager.exists() and shutil.which("setpriv") and os.geteuid() == 0:
        # The manager refuses --test as root; nobody may read the world-readable folder.
        test = subprocess.run(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                str(manager),
                "--test",
                "--system",
                f"--unit={UNIT.name}",
                "--no-pager",
            ],
            env={"SYSTEMD_UNIT_PATH": f"{folder}:", "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert f"-> Unit {UNIT.name}:" in test.stdout, test.stdout[-2000:] + test.stderr
        problems += [line for line in test.stderr.splitlines() if str(folder) in line]
    return problems


def test_unit_contract_for_install_and_status() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "ExecStart=/opt/kitchen-agent/current/bin/kitchen-agent run --config "
        "/etc/kitchen-agent/agent.yaml",
        "User=kitchen-agent",
        "ProtectProc=invisible",
        "RuntimeDirectory=kitchen-agent",
        "RuntimeDirectoryMode=0755",
        "UMask=0027",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    groups = re.search(r"^SupplementaryGroups=(.*)$", text, re.M)
    assert groups and {"video", "kitchen-tech"} <= set(groups.group(1).split())
    for name in ("camera-password", "mqtt-password", "stream-token"):
        assert f"LoadCredential={name}:/etc/kitchen-agent/credentials/{name}\n" in text
        assert f"SetCredential={name}:\\n\n" in text
    sysusers = (SYSTEMD / "kitchen-agent.sysusers").read_text(encoding="utf-8")
    assert re.search(r"^g kitchen-tech ", sysusers, re.M)


@needs_systemd
def test_exposure_stays_at_1_5_or_better(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit_folder(tmp_path) / UNIT.name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:]
    assert float(match.group(1)) <= 1.5


@needs_systemd
def test_per_camera_drop_in_parses_cleanly_in_systemd(tmp_path: Path, public_tmp: Path) -> None:
    root = tmp_path / "root"
    credentials = root / "etc/kitchen-agent/credentials"
    credentials.mkdir(parents=True)
    files = {
        "camera-password": "shared",
        "camera-password.cam-01": "one",
        "camera-password.mac-00:11:22:33:44:55": "two",
        "camera-password.sn-A1_B.2": "three",
        "camera-password.bad id": "ignored",
        "mqtt-password": "not a camera",
    }
    for name, value in files.items():
        (credentials / name).write_text(value, encoding="utf-8")

    result = run_lib(root, "write_credentials_dropin", 'echo "count=$CREDENTIALS_COUNT"')

    assert result.returncode == 0, result.stderr
    assert "count=3" in result.stdout
    assert "ignoring /etc/kitchen-agent/credentials/camera-password.bad id" in result.stderr
    dropin = root / "etc/systemd/system/kitchen-agent.service.d/credentials.conf"
    lines = [
        line for line in dropin.read_text(encoding="utf-8").splitlines() if "Credential=" in line
    ]
    base = "/etc/kitchen-agent/credentials/camera-password"
    assert lines == [
        f"LoadCredential=camera-password.cam-01:{base}.cam-01",
        "SetCredential=camera-password.cam-01:\\n",
        # a credential name cannot hold ':'; the agent also looks under this name
        f"LoadCredential=camera-password.mac-00-11-22-33-44-55:{base}.mac-00:11:22:33:44:55",
        "SetCredential=camera-password.mac-00-11-22-33-44-55:\\n",
        f"LoadCredential=camera-password.sn-A1_B.2:{base}.sn-A1_B.2",
        "SetCredential=camera-password.sn-A1_B.2:\\n",
    ]
    assert oct(dropin.stat().st_mode & 0o777) == "0o644"
    for name in ("cam-01", "mac-00:11:22:33:44:55", "sn-A1_B.2"):
        assert (credentials / f"camera-password.{name}").stat().st_mode & 0o777 == 0o600

    assert parse_problems(unit_folder(public_tmp, root)) == []


@needs_systemd
def test_the_parse_check_catches_a_bad_credential_line(tmp_path: Path, public_tmp: Path) -> None:
    """The check above can fail: a raw ':' in a credential name is what systemd drops."""
    root = tmp_path / "root"
    dropins = root / "etc/systemd/system/kitchen-agent.service.d"
    dropins.mkdir(parents=True)
    (dropins / "credentials.conf").write_text(
        "[Service]\nLoadCredential=camera-password.mac-00:11:/etc/x\nSetCredential=a:\n",
        encoding="utf-8",
    )
    problems = parse_problems(unit_folder(public_tmp, root))
    assert any("not valid" in p or "ignoring" in p for p in problems), problems


def test_the_agent_finds_a_camera_password_under_its_credential_name(tmp_path: Path) -> None:
    from agent.secrets import CredentialStore

    (tmp_path / "camera-password").write_text("shared\n")
    (tmp_path / "camera-password.mac-00-11-22-33-44-55").write_text("own\n")
    (tmp_path / "camera-password.cam-02").write_text("\n")  # a SetCredential= default
    credentials = CredentialStore(tmp_path)
    assert credentials.camera_password("mac-00:11:22:33:44:55") == "own"
    assert credentials.camera_password("cam-02") == "shared"
    assert credentials.camera_password("cam-03") == "shared"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_install_scripts_pass_shellcheck() -> None:
    scripts = sorted(str(p) for p in (REPO / "scripts").glob("*.sh"))
    result = subprocess.run(
        ["shellcheck", "-x", *scripts],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
