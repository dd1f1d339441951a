"""Children never outlive the agent; state files are replaced atomically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.errors import ProcessTimeout
from agent.persist import atomic_write_json, read_json
from agent.scrub import forget_secrets, register_secret
from agent.subproc import ManagedProcess, run_bounded


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_until(condition, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_run_bounded_scrubs_stderr_and_times_out() -> None:
    register_secret("topsecret-77")
    try:
        code, out, err = run_bounded(
            ["sh", "-c", "echo frame; echo 'open rtsp://u:topsecret-77@h failed' >&2; exit 3"], 5
        )
    finally:
        forget_secrets()
    assert (code, out) == (3, b"frame\n")
    assert "topsecret-77" not in err
    assert "rtsp://u:***@h" in err
    started = time.monotonic()
    with pytest.raises(ProcessTimeout):
        run_bounded(["sleep", "30"], 0.5)
    assert time.monotonic() - started < 3


def test_run_bounded_caps_output() -> None:
    _, out, _ = run_bounded(["sh", "-c", "yes x | head -c 1000000"], 10, max_stdout_bytes=1000)
    assert len(out) == 1000


def test_managed_process_stops_group_and_keeps_stderr_tail() -> None:
    lines: list[str] = []
    process = ManagedProcess(
        ["sh", "-c", "trap '' TERM; echo started; echo oops >&2; sleep 60 & wait"],
        "stubborn",
        on_stdout_line=lines.append,
    )
    process.start()
    wait_until(lambda: lines == ["started"])
    assert process.poll() is None
    started = time.monotonic()
    code = process.stop(timeout_s=0.5)
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert "oops" in process.stderr_tail()


def test_child_dies_with_killed_parent(tmp_path: Path) -> None:
    """kill -9 of the agent must not leave an ffmpeg behind (parent-death signal)."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import sys, time\n"
        "from agent.subproc import ManagedProcess\n"
        "p = ManagedProcess(['sleep', '120'], 'child')\n"
        "p.start()\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait_until(pid_file.exists)
        wait_until(lambda: pid_file.read_text() != "")
        child = int(pid_file.read_text())
        assert pid_alive(child)
        parent.kill()
        parent.wait(10)
        wait_until(lambda: not pid_alive(child))
    finally:
        parent.kill()


def test_child_outlives_the_thread_that_asked_for_it_but_not_the_agent(tmp_path: Path) -> None:
    """A worker rebuilt on a reload (its thread gone) must not take its ffmpeg with it,
    while kill -9 of the agent still does: children are forked by one long-lived thread."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import threading, time\n"
        "from agent.subproc import ManagedProcess\n"
        "p = ManagedProcess(['sleep', '120'], 'child')\n"
        "t = threading.Thread(target=p.start)\n"
        "t.start(); t.join()\n"
        "time.sleep(0.5)\n"  # the short-lived thread is gone; the child must still run
        f"open({str(pid_file)!r}, 'w').write(str(p.pid) if p.poll() is None else 'dead')\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text() != "")
        text = pid_file.read_text()
        assert text != "dead", "the child died with the thread that started it"
        child = int(text)
        assert pid_alive(child)
        parent.kill()
        parent.wait(10)
        wait_until(lambda: not pid_alive(child))
    finally:
        parent.kill()


def test_a_missing_program_is_reported_as_such() -> None:
    with pytest.raises(FileNotFoundError):
        ManagedProcess(["no-such-program-here"], "missing").start()
    with pytest.raises(FileNotFoundError):
        run_bounded(["no-such-program-here"], 1)


def test_atomic_json_roundtrip_and_corrupt_fallback(tmp_path: Path) -> None:
    path = tmp_path / "state" / "inventory.json"
    atomic_write_json(path, {"名字": "老王", "n": 1})
    assert read_json(path) == {"名字": "老王", "n": 1}
    assert list(path.parent.iterdir()) == [path]  # no temp files left behind
    path.write_text("{half", encoding="utf-8")
    assert read_json(path, default={}) == {}
    assert read_json(tmp_path / "missing.json", default=[]) == []


def test_state_files_are_not_world_readable_whatever_the_umask(tmp_path: Path) -> None:
    """Reference images of the kitchen, command history and session numbers are the
    agent's: 0640 by default, even under a permissive umask (outside systemd's UMask)."""
    from agent.persist import atomic_write_bytes
    from agent.uplink.mqtt.session import SessionCounter

    previous = os.umask(0)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        atomic_write_bytes(tmp_path / "reference.png", b"\x89PNG")
        SessionCounter(tmp_path).commit(1)
    finally:
        os.umask(previous)
    for name in ("a.json", "reference.png", "mqtt-session.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
