"""Subprocess hygiene for ffmpeg and friends.

Every child runs in its own session (a signal to the agent's terminal or process group
never reaches it, and we can kill its whole group), with no stdin (ffmpeg reads keys from
stdin and would stall), and with ``PR_SET_PDEATHSIG`` so the kernel kills it if the agent
dies without cleaning up (kill -9, OOM). Its stderr is kept in a bounded ring buffer, scrubbed
of secrets, and shown only when the process fails.

Note: the death signal fires when the *thread* that started the child exits, so start
long-lived children from a long-lived thread (a supervisor worker), not a short-lived one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import structlog

from agent.errors import ProcessTimeout
from agent.scrub import scrub

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1


def _child_setup(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would kill us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


def _popen(
    argv: Sequence[str], env: Mapping[str, str] | None, stdout: int
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - argv lists built by our own pure builders
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_child_setup(os.getpid()),  # noqa: PLW1509 - prctl needs it
        env=None if env is None else dict(env),
        close_fds=True,
    )


def _kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


class ManagedProcess:
    """One long-running child with a scrubbed stderr ring buffer and orderly stop."""

    def __init__(
        self,
        argv: Sequence[str],
        name: str,
        on_stdout_line: Callable[[str], None] | None = None,
        stderr_lines: int = 200,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.name = name
        self._on_stdout_line = on_stdout_line
        self._stderr: deque[str] = deque(maxlen=stderr_lines)
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._readers: list[threading.Thread] = []
        self.started_at: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        stdout = subprocess.PIPE if self._on_stdout_line is not None else subprocess.DEVNULL
        self._process = _popen(self.argv, self._env, stdout)
        self.started_at = time.monotonic()
        self._readers = [
            threading.Thread(target=self._read_stderr, name=f"{self.name}-stderr", daemon=True)
        ]
        if self._on_stdout_line is not None:
            self._readers.append(
                threading.Thread(target=self._read_stdout, name=f"{self.name}-stdout", daemon=True)
            )
        for reader in self._readers:
            reader.start()

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for raw in self._process.stderr:
            self._stderr.append(scrub(raw.decode("utf-8", "replace").rstrip()))

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        callback = self._on_stdout_line
        assert callback is not None
        for raw in self._process.stdout:
            try:
                callback(raw.decode("utf-8", "replace").rstrip("\n"))
            except Exception:  # a bad parser must not kill the reader and block the pipe
                log.exception("subprocess_stdout_handler_failed", process=self.name)

    def poll(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def wait(self, timeout_s: float) -> int | None:
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGTERM the group, wait, then SIGKILL; returns the exit code."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            _kill_group(process, signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("subprocess_kill", process=self.name, after_s=timeout_s)
                _kill_group(process, signal.SIGKILL)
                process.wait()
        for reader in self._readers:
            reader.join(1.0)
        _close_pipes(process)
        return process.returncode

    def stderr_tail(self, lines: int | None = None) -> str:
        tail = list(self._stderr)
        if lines is not None:
            tail = tail[-lines:]
        return "\n".join(tail)


def run_bounded(
    argv: Sequence[str],
    timeout_s: float,
    max_stdout_bytes: int = 32 * 1024 * 1024,
    env: Mapping[str, str] | None = None,
) -> tuple[int, bytes, str]:
    """Run a short-lived child to completion within ``timeout_s``.

    Returns (returncode, stdout, scrubbed stderr tail). Output beyond ``max_stdout_bytes``
    ends the child (returncode then reflects the kill). Raises ProcessTimeout when the
    deadline passes; the whole process group is killed first.
    """
    process = _popen(argv, env, subprocess.PIPE)
    chunks: list[bytes] = []
    size = 0
    stderr_tail: deque[str] = deque(maxlen=50)

    def read_stderr() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            stderr_tail.append(scrub(raw.decode("utf-8", "replace").rstrip()))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    stdout_fd = process.stdout.fileno()
    os.set_blocking(stdout_fd, False)
    with selectors.DefaultSelector() as selector:
        selector.register(stdout_fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill_group(process, signal.SIGKILL)
                process.wait()
                reader.join(1.0)
                _close_pipes(process)
                raise ProcessTimeout(f"{Path(argv[0]).name} ran past {timeout_s:g} s")
            if not selector.select(min(remaining, 0.5)):
                continue
            try:
                data = os.read(stdout_fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                break
            chunks.append(data)
            size += len(data)
            if size >= max_stdout_bytes:
                _kill_group(process, signal.SIGKILL)
                break
    try:
        returncode = process.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill_group(process, signal.SIGKILL)
        returncode = process.wait()
    reader.join(1.0)
    _close_pipes(process)
    return returncode, b"".join(chunks)[:max_stdout_bytes], "\n".join(stderr_tail)
