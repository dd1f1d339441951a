"""Offline bundles and an installed box in a throw-away root, for the installer's tests.

Bundles are built once per session by the real ``scripts/build-wheelhouse.sh`` (the
dependency wheels from PyPI or pip's cache, checked against the lock's hashes); the
upgrade bundle is this checkout as another version, built with ``--wheels-from``. The box
is ``scripts/install.sh --root`` into a temporary folder, with a fake ``systemctl``
(testkit/fake_systemd.py) that runs the installed agent's real ExecStart under a notify
socket, configured with the installed ``kitchen-agent config init`` and started with
``systemctl enable --now``, as the README tells an installer.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testkit import fake_systemd

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
UNIT = "kitchen-agent.service"
# What a bundle is built from; everything else in the checkout is not shipped.
SOURCE_ITEMS = ("pyproject.toml", "setup.cfg", "README.md", "agent", "scripts", "systemd")
SOURCE_ITEMS_MORE = ("config", "packaging")

# The upgrade bundle's entry point: the real CLI, unless the environment asks `run` to
# fail the way a bad release would (tests of the installer's rollback).
FAILING_ENTRY = '''"""kitchen-agent, or a build that does not stay up when BROKEN_BUILD says so."""

import os
import socket
import sys
import time


def entry_point() -> None:
    failure = os.environ.get("BROKEN_BUILD")
    if not failure or sys.argv[1:2] != ["run"]:
        from agent.cli import entry_point as real

        real()
        return
    if failure == "dies-after-ready":
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
        time.sleep(0.5)
    sys.exit("broken build: cannot start")
'''


@dataclass(frozen=True)
class Bundle:
    path: Path
    version: str
    arch: str

    @property
    def sums(self) -> str:
        return (self.path / "SHA256SUMS").read_text(encoding="utf-8")


def manifest(path: Path) -> dict[str, str]:
    lines = (path / "MANIFEST").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def build_bundle(
    output: Path, *extra: str, source: Path = REPO, timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SCRIPTS / "build-wheelhouse.sh"),
            "--no-build-isolation",
            "--source",
            str(source),
            "--output",
            str(output),
            *extra,
        ],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def built(output: Path, *extra: str, source: Path = REPO) -> Bundle:
    result = build_bundle(output, *extra, source=source)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = manifest(output)
    return Bundle(output, facts["version"], facts["arch"])


def source_copy(target: Path, version: str) -> Path:
    """This checkout as another version, whose `run` fails when BROKEN_BUILD is set."""
    target.mkdir(parents=True)
    for item in SOURCE_ITEMS + SOURCE_ITEMS_MORE:
        path = REPO / item
        if path.is_dir():
            shutil.copytree(path, target / item, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy2(path, target / item)
    init = target / "agent" / "__init__.py"
    text, count = re.subn(
        r'^__version__ = ".*"$', f'__version__ = "{version}"', init.read_text(), flags=re.M
    )
    assert count == 1
    init.write_text(text, encoding="utf-8")
    (target / "agent" / "failing_entry.py").write_text(FAILING_ENTRY, encoding="utf-8")
    pyproject = target / "pyproject.toml"
    text, count = re.subn(
        r'^kitchen-agent = "agent.cli:entry_point"$',
        'kitchen-agent = "agent.failing_entry:entry_point"',
        pyproject.read_text(),
        flags=re.M,
    )
    assert count == 1
    pyproject.write_text(text, encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """This checkout's bundle for this machine, built the way a release is."""
    return built(tmp_path_factory.mktemp("bundles") / "current")


@pytest.fixture(scope="session")
def upgrade_bundle(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """This checkout as a newer version (``BROKEN_BUILD`` in the service's environment
    makes its `run` fail, for the rollback tests)."""
    version = f"{bundle.version}+upgrade"
    source = source_copy(tmp_path_factory.mktemp("src") / "upgrade", version)
    out = tmp_path_factory.mktemp("bundles") / "upgrade"
    return built(out, "--wheels-from", str(bundle.path), source=source)


@dataclass
class Box:
    """A root with kitchen-agent installed, and the fake service manager that runs it."""

    root: Path
    state: Path
    systemctl: Path
    env: dict[str, str] = field(default_factory=dict)

    def script(
        self, name: str, *args: str, timeout_s: float = 300, offline: bool = False, **env: str
    ) -> subprocess.CompletedProcess[str]:
        # offline: in a network namespace of its own, where nothing can be reached.
        prefix = ["unshare", "--net"] if offline else []
        return subprocess.run(
            [*prefix, str(SCRIPTS / name), "--root", str(self.root), *args],
            env={**os.environ, "SYSTEMCTL": str(self.systemctl), **env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def install(
        self, bundle: Bundle, *args: str, offline: bool = False, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return self.script(
            "install.sh",
            "--wheelhouse",
            str(bundle.path),
            *args,
            offline=offline,
            **env,  # type: ignore[arg-type]  # environment names never collide with timeout_s
        )

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.systemctl), *args], capture_output=True, text=True, timeout=180, check=False
        )

    def link(self, name: str) -> str | None:
        path = self.root / "opt/kitchen-agent" / name
        return os.readlink(path) if path.is_symlink() else None

    def service(self) -> dict[str, Any]:
        return fake_systemd.unit_state(self.state, UNIT)

    def running_version(self) -> str:
        """The version folder the service's main process runs from (its interpreter)."""
        service = self.service()
        assert service["ActiveState"] == "active", service
        argv = Path(f"/proc/{service['MainPID']}/cmdline").read_bytes().split(b"\0")
        match = re.search(rb"/opt/kitchen-agent/([^/]+)/bin/", b" ".join(argv))
        assert match, argv
        return match.group(1).decode()

    def calls(self) -> list[list[str]]:
        return fake_systemd.calls(self.state)

    def kitchen_agent(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.root / "opt/kitchen-agent/current/bin/kitchen-agent"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def can_unshare_net() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


def new_box(base: Path) -> Box:
    root = base / "root"
    root.mkdir(parents=True)
    state = base / "systemd"
    systemctl = fake_systemd.write_systemctl(base / "bin", root, state)
    return Box(root=root, state=state, systemctl=systemctl)


def configure(box: Box) -> None:
    """What the README tells an installer to do after install.sh."""
    result = box.kitchen_agent(
        "config",
        "init",
        "--store-id",
        "sh-xh-0001",
        "--store-name",
        "老王面馆",
        "--licence-number",
        "JY23101040012345",
        "--district",
        "xuhui",
        "--address",
        "上海市徐汇区漕溪北路1号",
        "--broker",
        "mqtt://127.0.0.1:9",  # nobody listens: the agent starts regardless
        "--kcp",
        "cooking",
        "--set",
        f"paths.state_dir={box.root / 'var/lib/kitchen-agent'}",
        "--set",
        "cameras.discovery.multicast=false",
        "--set",  # a round with no camera to find is short: so is a stop during it
        "cameras.discovery.timeout_s=0.5",
        "--output",
        str(box.root / "etc/kitchen-agent/agent.yaml"),
    )
    assert result.returncode == 0, result.stderr
    credentials = box.root / "etc/kitchen-agent/credentials"
    (credentials / "camera-password").write_text("shared camera secret", encoding="utf-8")


@pytest.fixture(scope="session")
def box(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    """A box with this checkout installed, configured and its service running.

    Shared by the installer's tests; each leaves the service running on some version.
    Tests that would end the box work on ``box_copy``.
    """
    box = new_box(tmp_path_factory.mktemp("box"))
    try:
        # The box has no network: the bundle must be all it needs.
        result = box.install(bundle, offline=can_unshare_net())
        assert result.returncode == 0, result.stderr
        configure(box)
        started = box.ctl("enable", "--now", UNIT)
        assert started.returncode == 0, (box.state / f"{UNIT}.journal").read_text()
        yield box
    finally:
        fake_systemd.stop_all(box.state)


@pytest.fixture
def box_copy(box: Box, tmp_path: Path) -> Iterator[Box]:
    """A copy of the installed box (hard links: removing files never touches the box's),
    with its own service manager, in which the service is enabled and running."""
    copy = new_box(tmp_path)
    copy.root.rmdir()
    subprocess.run(["cp", "-al", str(box.root), str(copy.root)], check=True, timeout=60)
    # Files the copy's scripts or agent write in place get their own inode first.
    (copy.root / "opt/kitchen-agent/.lock").unlink(missing_ok=True)
    config = copy.root / "etc/kitchen-agent/agent.yaml"
    text = config.read_text(encoding="utf-8").replace(str(box.root), str(copy.root))
    config.unlink()
    config.write_text(text, encoding="utf-8")
    try:
        started = copy.ctl("enable", "--now", UNIT)
        assert started.returncode == 0, (copy.state / f"{UNIT}.journal").read_text()
        yield copy
    finally:
        fake_systemd.stop_all(copy.state)


def run_lib(root: Path, *commands: str) -> subprocess.CompletedProcess[str]:
    """Run install-lib.sh functions against a root, as the scripts do."""
    lib = REPO / "scripts" / "install-lib.sh"
    script = f'set -euo pipefail; . "{lib}"; ROOT="{root}"; ' + "; ".join(commands)
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
