"""Subprocess hygiene for ffmpeg and friends.

Every child runs in its own session (a signal to the agent's terminal or process group
never reaches it, and we can kill its whole group), with no stdin (ffmpeg reads keys from
stdin and would stall), and with a parent-death signal so the kernel kills it if the agent
dies without cleaning up (kill -9, OOM). Its stderr is kept in a bounded ring buffer, scrubbed
of secrets, and shown only when the process fails.

The death signal is set by util-linux's ``setpriv --pdeathsig KILL`` in front of the
command, not by Python code between fork and exec (``preexec_fn`` can deadlock in a
multi-threaded process). The kernel sends it when the *thread* that forked the child
exits, so every child is forked by one long-lived spawner thread: a worker rebuilt on a
restart or a reload never takes its children with it, and the agent's death always does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

import structlog

from agent.errors import ProcessTimeout
from agent.scrub import scrub

log = structlog.get_logger(__name__)

_DEATH_SIGNAL = ["--pdeathsig", "KILL", "--"]


def death_signal_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL --`` when util-linux's setpriv is installed (a dependency
    of the package), else nothing: the child then outlives a killed agent, which is
    logged once."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        if not _warned_no_setpriv.is_set():
            _warned_no_setpriv.set()
            log.warning("setpriv_missing", effect="children may outlive a killed agent")
        return []
    return [setpriv, *_DEATH_SIGNAL]


_warned_no_setpriv = threading.Event()


class _Spawner:
    """The one thread that forks every child (see the module docstring)."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[
            tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]
        ] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        if threading.current_thread() is self._thread:
            return start()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="subprocess-spawner", daemon=True
                )
                self._thread.start()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((start, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            start, future = self._requests.get()
            try:
                future.set_result(start())
            except BaseException as error:  # delivered to the caller through the future
                future.set_exception(error)


_spawner = _Spawner()


def _popen(
    argv: Sequence[str], env: Mapping[str, str] | None, stdout: int
) -> subprocess.Popen[bytes]:
    program = argv[0]
    if shutil.which(program) is None:
        # Raised here, as Popen would: behind setpriv a missing program is only an exit 127.
        raise FileNotFoundError(errno.ENOENT, "no such program", program)
    command = [*death_signal_prefix(), *argv]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - argv lists built by our own pure builders
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=None if env is None else dict(env),
            close_fds=True,
        )

    return _spawner.run(start)


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
