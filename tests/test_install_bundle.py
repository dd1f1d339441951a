"""The offline bundle (scripts/build-wheelhouse.sh): pinned, reproducible, for either CPU,
and refused by install.sh on a box it does not fit."""

from __future__ import annotations

import hashlib
import platform
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from testkit.install_fixtures import REPO, Bundle, built, manifest, new_box

pytestmark = pytest.mark.timeout(600)
LOCK = REPO / "packaging" / "requirements.lock"


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_pins(bundle: Path) -> dict[str, str]:
    """package -> version of every wheel in a bundle, from the file names."""
    pins = {}
    for wheel in (bundle / "wheels").glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        pins[normal(name)] = version
    return pins


def test_lock_pins_every_dependency_exactly_with_hashes() -> None:
    text = LOCK.read_text(encoding="utf-8")
    blocks = re.findall(
        r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}.*\n)+)", text, re.M
    )
    pins = {normal(name): version for name, version, _ in blocks}
    assert len(pins) == len(re.findall(r"^[A-Za-z0-9]", text, re.M)), "a pin without hashes"
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for line in declared:
        requirement = Requirement(line)
        pinned = pins.get(normal(requirement.name))
        assert pinned is not None, f"{requirement.name} is not in the lock (scripts/lock.sh)"
        assert requirement.specifier.contains(pinned, prereleases=True), (line, pinned)


def test_bundle_holds_exactly_the_lock_and_says_what_it_is_for(bundle: Bundle) -> None:
    facts = manifest(bundle.path)
    assert facts["arch"] == {"arm64": "aarch64", "amd64": "x86_64"}.get(
        platform.machine(), platform.machine()
    )
    assert facts["python"] == "3.11"
    assert facts["lock_sha256"] == hashlib.sha256(LOCK.read_bytes()).hexdigest()
    pins = wheel_pins(bundle.path)
    assert pins.pop("kitchen-agent") == bundle.version
    locked = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", LOCK.read_text(), re.M)
    assert pins == {normal(name): version for name, version in locked}
    check = subprocess.run(
        ["sha256sum", "--quiet", "--strict", "-c", "SHA256SUMS"],
        cwd=bundle.path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout
    for needed in ("scripts/install.sh", "scripts/uninstall.sh", "systemd/kitchen-agent.service"):
        assert (bundle.path / needed).is_file(), needed


def test_two_builds_of_one_version_are_the_same_bytes(bundle: Bundle, tmp_path: Path) -> None:
    again = built(tmp_path / "again")
    assert again.sums == bundle.sums


def test_a_bundle_for_the_other_cpu_is_built_and_refused_here(
    bundle: Bundle, tmp_path: Path
) -> None:
    other = "aarch64" if bundle.arch == "x86_64" else "x86_64"
    cross = built(tmp_path / "cross", "--arch", other)

    assert manifest(cross.path)["arch"] == other
    assert wheel_pins(cross.path) == wheel_pins(bundle.path)  # same lock, same packages
    compiled = [w.name for w in (cross.path / "wheels").glob("*.whl") if "-none-any" not in w.name]
    assert compiled, "numpy, opencv, lxml... are compiled"
    for name in compiled:
        assert re.search(rf"manylinux\w*_{other}\b", name), name

    box = new_box(tmp_path / "box")
    result = box.install(cross)
    assert result.returncode == 2
    assert f"this wheelhouse is for {other} but this box is {bundle.arch}" in result.stderr
    assert f"--arch {bundle.arch}" in result.stderr
    assert list(box.root.iterdir()) == []  # nothing was touched


def copy_bundle(bundle: Bundle, target: Path) -> Path:
    """A copy sharing the wheels' bytes (hard links); replace a file, never edit it."""
    subprocess.run(["cp", "-al", str(bundle.path), str(target)], check=True, timeout=60)
    return target


def test_a_damaged_bundle_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = copy_bundle(bundle, tmp_path / "copy")
    wheel = next((copy / "wheels").glob("numpy-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    wheel.unlink()
    wheel.write_bytes(bytes(data))

    box = new_box(tmp_path / "box")
    result = box.install(Bundle(copy, bundle.version, bundle.arch))
    assert result.returncode == 2
    assert "damaged: a file does not match SHA256SUMS" in result.stderr
    assert list(box.root.iterdir()) == []


def test_a_bundle_for_another_python_is_refused(bundle: Bundle, tmp_path: Path) -> None:
    copy = copy_bundle(bundle, tmp_path / "copy")
    text = (copy / "MANIFEST").read_text().replace("python=3.11", "python=3.12")
    (copy / "MANIFEST").unlink()
    (copy / "MANIFEST").write_text(text)
    sums = (copy / "SHA256SUMS").read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    sums = re.sub(r"^[0-9a-f]{64}  MANIFEST$", f"{digest}  MANIFEST", sums, flags=re.M)
    (copy / "SHA256SUMS").unlink()
    (copy / "SHA256SUMS").write_text(sums)

    box = new_box(tmp_path / "box")
    result = box.install(Bundle(copy, bundle.version, bundle.arch))
    assert result.returncode == 2
    assert "this wheelhouse is for Python 3.12 but /usr/bin/python3 is Python 3.11" in (
        result.stderr
    )
