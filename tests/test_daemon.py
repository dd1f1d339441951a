"""`kitchen-agent run` as systemd sees it: ready notification, reload, clean stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testkit.configs import VALID


class LogReader:
    """Collects the daemon's JSON log lines from stderr on a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.events: list[dict[str, object]] = []
        self.raw: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._thread.join(5)
        assert self._process.stderr is not None
        self._process.stderr.close()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self.raw.append(line)
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def wait_for(self, predicate: Callable[[dict[str, object]], bool], timeout_s: float = 20):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no such log event; got: {''.join(self.raw)[-2000:]}")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    messages: list[str] = []
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                continue

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    yield path, messages
    stop.set()
    thread.join(2)
    sock.close()


def start_daemon(tmp_path: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen[str], Path]:
    config = tmp_path / "agent.yaml"
    text = VALID.replace("  max_kbps: 512", "  max_kbps: 512").replace(
        "broker:\n  url: mqtt://127.0.0.1:1883", "broker:\n  url: mqtt://127.0.0.1:9"
    )
    text = text.replace(
        "  ingest_url: rtmp://127.0.0.1/live/{store_id}-{camera_id}?token={token}\n", ""
    )
    text += f"paths:\n  state_dir: {tmp_path / 'state'}\n  credentials_dir: {tmp_path / 'creds'}\n"
    text += "cameras:\n  discovery:\n    multicast: false\n"
    config.write_text(text, encoding="utf-8")
    (tmp_path / "creds").mkdir()
    env = {**os.environ, **env_extra}
    process = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return process, config


def test_ready_reload_and_clean_stop(tmp_path: Path, notify_socket: tuple[str, list[str]]) -> None:
    path, messages = notify_socket
    process, config = start_daemon(tmp_path, {"NOTIFY_SOCKET": path})
    logs = LogReader(process)
    try:
        deadline = time.monotonic() + 30
        while not any("READY=1" in m for m in messages):
            assert time.monotonic() < deadline, "".join(logs.raw)
            assert process.poll() is None, "".join(logs.raw)
            time.sleep(0.05)
        logs.wait_for(lambda e: e.get("event") == "agent_starting")

        # A broken config on reload is rejected; the daemon keeps running on the old one.
        good = config.read_text(encoding="utf-8")
        config.write_text(good.replace("max_kbps: 512", "max_kbps: 1"), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        rejected = logs.wait_for(lambda e: e.get("event") == "config_rejected")
        assert "streams.max_kbps: must be between 64 and 8000" in json.dumps(rejected)
        assert process.poll() is None

        # A good change is applied.
        config.write_text(good.replace("max_kbps: 512", "max_kbps: 256"), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        logs.wait_for(lambda e: e.get("event") == "config_reloading")

        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        logs.wait_for(lambda e: e.get("event") == "agent_stopped")
        assert any("STOPPING=1" in m for m in messages)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        logs.close()


def test_bad_config_at_start_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(VALID.replace("cooking,", "wok,"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert "store.kcps[0]: unknown key control point 'wok'" in result.stderr
    assert "Traceback" not in result.stderr
