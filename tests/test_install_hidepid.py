"""/proc with hidepid=invisible: ffmpeg 5.1 takes the camera's RTSP URL (password inside)
and the ingest URL (stream token inside) only on its command line, so the installer makes
every process invisible to other users of the box. These tests read the fstab line the
installer writes, prove what a proc mounted with its options hides (in a private mount
namespace: this machine's /proc is never touched), and that an admin's own /proc line is
kept and given back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from testkit.install_fixtures import Box, run_lib

SECRET = "rtsp://admin:kitchen-secret@192.0.2.10/stream"


def proc_options(fstab: Path) -> str:
    result = subprocess.run(
        ["findmnt", "--tab-file", str(fstab), "--noheadings", "--output", "OPTIONS", "/proc"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def visible_to_nobody(options: str, pid: int, mountpoint: Path) -> bool:
    """Whether user nobody sees pid's command line in a proc mounted with options."""
    script = (
        f"mount -t proc -o {options} proc {mountpoint} && "
        f"setpriv --reuid=nobody --regid=nogroup --clear-groups "
        f"cat {mountpoint}/{pid}/cmdline"
    )
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0 and b"No such file" not in result.stderr:
        pytest.skip(f"cannot mount a private proc here: {result.stderr.decode()[-200:]}")
    return SECRET.encode() in result.stdout


def test_the_box_hides_every_process_from_other_users(box: Box) -> None:
    options = proc_options(box.root / "etc/fstab")
    assert "hidepid=invisible" in options.split(",")
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        pytest.skip("needs root, unshare and setpriv")
    public = Path(tempfile.mkdtemp(prefix="kitchen-agent-proc-"))  # nobody must reach it
    public.chmod(0o755)
    mountpoint = public / "proc"
    mountpoint.mkdir()
    # A root process with a camera URL in its argv, as ffmpeg has.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", SECRET],
        stdin=subprocess.DEVNULL,
    )
    try:
        assert visible_to_nobody("defaults", holder.pid, mountpoint)  # the risk
        assert not visible_to_nobody(options, holder.pid, mountpoint)  # the control
    finally:
        holder.kill()
        holder.wait()
        shutil.rmtree(public)


def test_an_admins_proc_line_gets_hidepid_and_is_given_back(tmp_path: Path) -> None:
    fstab = tmp_path / "etc/fstab"
    fstab.parent.mkdir()
    original = (
        "# /etc/fstab\nUUID=1234 / ext4 errors=remount-ro 0 1\n"
        "proc /proc proc defaults,nosuid,hidepid=off 0 0\ntmpfs /tmp tmpfs defaults 0 0\n"
    )
    fstab.write_text(original)

    for _ in range(2):  # idempotent: a second install changes nothing
        assert run_lib(tmp_path, "configure_hidepid").returncode == 0
    assert proc_options(fstab) == "defaults,nosuid,hidepid=invisible"
    assert fstab.read_text().count("/proc") == 2  # ours, and the admin's kept as a comment

    assert run_lib(tmp_path, "unconfigure_hidepid").returncode == 0
    assert fstab.read_text() == original


def test_a_box_already_hiding_processes_is_left_alone(tmp_path: Path) -> None:
    fstab = tmp_path / "etc/fstab"
    fstab.parent.mkdir()
    original = "proc /proc proc hidepid=2,gid=adm 0 0\n"
    fstab.write_text(original)
    assert run_lib(tmp_path, "configure_hidepid", "unconfigure_hidepid").returncode == 0
    assert fstab.read_text() == original
