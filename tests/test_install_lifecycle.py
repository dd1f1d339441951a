"""install.sh, its --rollback and uninstall.sh on a box in a throw-away root.

The box (testkit/install_fixtures.py) is installed from a real offline bundle, configured
with the installed `kitchen-agent config init` and its service started by a fake
systemctl that runs the unit's real ExecStart and reports the unit running only after the
agent sent READY=1. So an upgrade here restarts the real new agent, and a build that does
not start is caught the way systemd would show it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from testkit.install_fixtures import UNIT, Box, Bundle, new_box

pytestmark = pytest.mark.timeout(600)
SETTLE = ("--settle", "2")


def ids(root: Path, database: str, name: str) -> int:
    for line in (root / "etc" / database).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"{name} not in {database}")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(path: Path) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", path.read_text(), flags=re.M)
    return {normal(name): version for name, version in pins}


def test_install_lays_out_the_box(box: Box, bundle: Bundle) -> None:
    root = box.root
    version_dir = root / "opt/kitchen-agent" / bundle.version
    assert (version_dir / ".complete").is_file()
    result = subprocess.run(
        [str(version_dir / "bin/kitchen-agent"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == f"kitchen-agent {bundle.version}"

    # Exactly the locked packages, nothing more or less: the lock is the whole closure.
    # The venv holds no pip (nothing gets pip-installed over a version); the bundle's does.
    assert subprocess.run(
        [str(version_dir / "bin/python"), "-m", "pip", "--version"],
        capture_output=True,
        timeout=60,
        check=False,
    ).returncode
    (pip_wheel,) = (bundle.path / "tools").glob("pip-*.whl")
    listing = subprocess.run(
        [str(version_dir / "bin/python"), str(pip_wheel / "pip"), "list", "--format=json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    installed = {normal(item["name"]): item["version"] for item in json.loads(listing)}
    assert installed.pop("kitchen-agent") == bundle.version
    assert installed == lock_pins(bundle.path / "requirements.lock")

    assert os.readlink(root / "usr/local/bin/kitchen-agent") == (
        "/opt/kitchen-agent/current/bin/kitchen-agent"
    )
    unit = root / "etc/systemd/system" / UNIT
    assert unit.read_text() == (bundle.path / "systemd" / UNIT).read_text()
    assert mode(unit) == 0o644

    # sysusers, run with --root: the service user and the technicians' group.
    passwd = {line.split(":")[0]: line for line in (root / "etc/passwd").read_text().splitlines()}
    assert passwd["kitchen-agent"].endswith(":/var/lib/kitchen-agent:/usr/sbin/nologin")
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (root / "etc/group").read_text().splitlines()
    }
    assert "kitchen-tech" in groups
    assert "kitchen-agent" in groups["video"]

    # tmpfiles, run with --root: owners from the box's own user database.
    agent_uid = ids(root, "passwd", "kitchen-agent")
    agent_gid = ids(root, "group", "kitchen-agent")
    etc = root / "etc/kitchen-agent"
    assert (mode(etc), etc.stat().st_uid, etc.stat().st_gid) == (0o750, 0, agent_gid)
    example = etc / "agent.example.yaml"
    assert (mode(example), example.stat().st_gid) == (0o640, agent_gid)
    credentials = etc / "credentials"
    assert (mode(credentials), credentials.stat().st_uid) == (0o700, 0)
    for name in ("camera-password", "mqtt-password", "stream-token"):
        assert mode(credentials / name) == 0o600
    state = root / "var/lib/kitchen-agent"
    assert (mode(state), state.stat().st_uid) == (0o750, agent_uid)
    # The code is readable by the service user and by technicians running `status`.
    assert mode(version_dir / "bin/kitchen-agent") == 0o755

    # The running service answers `kitchen-agent status` on the socket in its
    # RuntimeDirectory=, and systemd's status line (STATUS=) is the same picture.
    service = box.service()
    sock = Path(service["RuntimeDirectory"]) / "status.sock"
    answer = box.kitchen_agent("status", "--json", "--socket", str(sock))
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    assert (report["pid"], report["version"]) == (service["MainPID"], bundle.version)
    assert report["store"]["id"] == "sh-xh-0001"
    assert service["StatusText"].startswith("running; stage ")


def test_running_install_again_refreshes_files_without_a_restart(
    box: Box, bundle: Bundle, upgrade_bundle: Bundle
) -> None:
    in_use = box.link("current")
    (same,) = [b for b in (bundle, upgrade_bundle) if b.version == in_use]
    # The config written by `config init` is root's alone; the tmpfiles line gives it to
    # the service's group (0640), as the README's chgrp step does.
    config = box.root / "etc/kitchen-agent/agent.yaml"
    os.chown(config, 0, 0)
    pid = box.service()["MainPID"]
    calls_before = len(box.calls())

    result = box.install(same, *SETTLE)

    assert result.returncode == 0, result.stderr
    assert f"kitchen-agent {in_use} was already in use; system files refreshed" in result.stdout
    assert ["restart", UNIT] not in box.calls()[calls_before:]
    assert box.service()["MainPID"] == pid
    assert config.stat().st_gid == ids(box.root, "group", "kitchen-agent")
    assert mode(config) == 0o640
    fstab = (box.root / "etc/fstab").read_text().splitlines()
    assert [line for line in fstab if " /proc " in line] == [
        "proc /proc proc defaults,hidepid=invisible 0 0"
    ]


def test_upgrade_installs_beside_switches_restarts_and_rolls_back_on_demand(
    box: Box, upgrade_bundle: Bundle
) -> None:
    before = box.running_version()
    pid_before = box.service()["MainPID"]

    result = box.install(upgrade_bundle, *SETTLE)
    assert result.returncode == 0, result.stderr
    assert f"kitchen-agent {upgrade_bundle.version} is running" in result.stdout
    assert box.link("current") == upgrade_bundle.version
    assert box.link("previous") == before
    assert (box.root / "opt/kitchen-agent" / before / ".complete").is_file()  # kept beside
    # The service was restarted and its new process runs the new version's code.
    assert box.service()["MainPID"] != pid_before
    assert box.running_version() == upgrade_bundle.version
    assert ["daemon-reload"] in box.calls()
    assert ["restart", UNIT] in box.calls()

    result = box.script("install.sh", "--rollback", *SETTLE)
    assert result.returncode == 0, result.stderr
    assert box.link("current") == before
    assert box.link("previous") == upgrade_bundle.version
    assert box.running_version() == before
    unit = box.root / "etc/systemd/system" / UNIT
    assert (
        unit.read_text()
        == (
            box.root / "opt/kitchen-agent" / before / "share/kitchen-agent/systemd" / UNIT
        ).read_text()
    )


@pytest.mark.parametrize("failure", ["exits-before-ready", "dies-after-ready"])
def test_upgrade_that_does_not_stay_up_rolls_back_by_itself(
    box: Box, upgrade_bundle: Bundle, failure: str
) -> None:
    if box.link("current") == upgrade_bundle.version:
        assert box.script("install.sh", "--rollback", *SETTLE).returncode == 0
    before = box.running_version()
    previous = box.link("previous")
    pid_before = box.service()["MainPID"]

    # The new version's agent fails as a bad release would (see install_fixtures).
    result = box.install(upgrade_bundle, *SETTLE, BROKEN_BUILD=failure)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"kitchen-agent {upgrade_bundle.version} did not start: going back to {before}" in (
        result.stderr
    )
    assert f"rolled back: kitchen-agent {before} is running again" in result.stdout
    assert box.link("current") == before
    assert box.link("previous") == previous
    assert box.running_version() == before
    assert box.service()["MainPID"] != pid_before  # restarted on the old version
    # The failed version is kept for a look (pruned with old versions later).
    assert (box.root / "opt/kitchen-agent" / upgrade_bundle.version / ".complete").is_file()


def test_old_versions_are_pruned_but_never_current_or_previous(
    box: Box, upgrade_bundle: Bundle
) -> None:
    opt = box.root / "opt/kitchen-agent"
    if box.link("current") == upgrade_bundle.version:
        assert box.script("install.sh", "--rollback", *SETTLE).returncode == 0
    before = box.link("current")
    # An old version from long ago (a folder is all pruning looks at).
    old = opt / "0.0.1"
    old.mkdir()
    (old / ".complete").write_text("old\n")
    os.utime(old / ".complete", (1e9, 1e9))

    result = box.install(upgrade_bundle, "--keep", "2", *SETTLE)

    assert result.returncode == 0, result.stderr
    assert "removing old version 0.0.1" in result.stdout
    versions = {p.name for p in opt.iterdir() if not p.is_symlink() and p.is_dir()}
    assert versions == {before, upgrade_bundle.version}
    assert box.running_version() == upgrade_bundle.version


def test_rollback_without_a_previous_version_says_so(tmp_path: Path) -> None:
    empty = new_box(tmp_path)
    result = empty.script("install.sh", "--rollback")
    assert result.returncode == 1
    assert "no previous version to roll back to" in result.stderr


def test_one_install_at_a_time(box: Box) -> None:
    with (box.root / "opt/kitchen-agent/.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = box.script("install.sh", "--rollback")
    assert result.returncode == 75
    assert "another install, upgrade or uninstall is running" in result.stderr


def test_uninstall_keeps_config_credentials_and_state_until_purge(box_copy: Box) -> None:
    root = box_copy.root
    (root / "var/lib/kitchen-agent/outbox.db").write_bytes(b"undelivered events")
    assert box_copy.service()["ActiveState"] == "active"

    result = box_copy.script("uninstall.sh")

    assert result.returncode == 0, result.stderr
    assert ["stop", UNIT] in box_copy.calls()
    assert ["disable", UNIT] in box_copy.calls()
    assert box_copy.service()["ActiveState"] == "inactive"
    for gone in (
        "opt/kitchen-agent",
        "etc/systemd/system/kitchen-agent.service",
        "etc/systemd/system/kitchen-agent.service.d",
        "usr/lib/sysusers.d/kitchen-agent.conf",
        "usr/lib/tmpfiles.d/kitchen-agent.conf",
        "usr/local/bin/kitchen-agent",
    ):
        assert not (root / gone).exists() and not (root / gone).is_symlink(), gone
    assert "hidepid" not in (root / "etc/fstab").read_text()
    assert (root / "etc/kitchen-agent/agent.yaml").is_file()
    assert (root / "etc/kitchen-agent/credentials/camera-password").read_text() == (
        "shared camera secret"
    )
    assert (root / "var/lib/kitchen-agent/outbox.db").read_bytes() == b"undelivered events"
    # Accounts stay: files may still belong to them, and their ids must not be reused.
    assert "kitchen-agent:" in (root / "etc/passwd").read_text()
    assert "kitchen-tech:" in (root / "etc/group").read_text()

    result = box_copy.script("uninstall.sh", "--purge")
    assert result.returncode == 0, result.stderr
    for gone in ("etc/kitchen-agent", "var/lib/kitchen-agent"):
        assert not (root / gone).exists(), gone
