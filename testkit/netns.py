"""A test LAN in network namespaces, for multicast WS-Discovery over real sockets.

Topology (documentation address ranges only)::

    [agent ns] 192.0.2.1 ──veth── 192.0.2.2 [cams ns] 198.51.100.1 ──veth── 198.51.100.10 [far ns]
                                  192.0.2.10.. (one address per camera)

The agent's multicast probes reach the cameras in ``cams``; ``cams`` routes unicast to
``far`` but (like every kitchen router without a multicast daemon) not multicast, so a camera
in ``far`` is found only by a unicast ``--scan`` of 198.51.100.0/24.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def netns_unavailable_reason() -> str | None:
    """Why namespace tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "network namespace tests need root"
    if shutil.which("ip") is None:
        return "network namespace tests need iproute2 (`ip`)"
    probe = f"kaprobe{os.getpid()}"
    created = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if created.returncode != 0:
        return f"cannot create a network namespace: {created.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _run(argv: Sequence[str]) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


class TestLan:
    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        self.agent_ns = f"ka-{tag}-agent"
        self.cams_ns = f"ka-{tag}-cams"
        self.far_ns = f"ka-{tag}-far"
        self.agent_ip = "192.0.2.1"
        self.router_ip = "192.0.2.2"
        self.far_router_ip = "198.51.100.1"
        self._next_cam = 10
        self._next_far = 10
        self._processes: list[subprocess.Popen[str]] = []

    # --- topology ------------------------------------------------------------------------

    def up(self) -> TestLan:
        for ns in (self.agent_ns, self.cams_ns, self.far_ns):
            _run(["ip", "netns", "add", ns])
        a, c, d, f = (f"ka{self.tag}{x}" for x in "acdf")
        _run(["ip", "link", "add", a, "type", "veth", "peer", "name", c])
        _run(["ip", "link", "add", d, "type", "veth", "peer", "name", f])
        _run(["ip", "link", "set", a, "netns", self.agent_ns])
        _run(["ip", "link", "set", c, "netns", self.cams_ns])
        _run(["ip", "link", "set", d, "netns", self.cams_ns])
        _run(["ip", "link", "set", f, "netns", self.far_ns])
        self._ns(self.agent_ns, "ip", "addr", "add", f"{self.agent_ip}/24", "dev", a)
        self._ns(self.cams_ns, "ip", "addr", "add", f"{self.router_ip}/24", "dev", c)
        self._ns(self.cams_ns, "ip", "addr", "add", f"{self.far_router_ip}/24", "dev", d)
        for ns, dev in ((self.agent_ns, a), (self.cams_ns, c), (self.cams_ns, d), (self.far_ns, f)):
            self._ns(ns, "ip", "link", "set", dev, "up")
            self._ns(ns, "ip", "link", "set", "lo", "up")
        self._ns(self.agent_ns, "ip", "route", "add", "198.51.100.0/24", "via", self.router_ip)
        self._ns(self.cams_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self._far_dev = f
        self._cams_dev = c
        return self

    def _ns(self, ns: str, *argv: str) -> None:
        _run(["ip", "netns", "exec", ns, *argv])

    def add_camera_address(self) -> str:
        address = f"192.0.2.{self._next_cam}"
        self._next_cam += 1
        self._ns(self.cams_ns, "ip", "addr", "add", f"{address}/24", "dev", self._cams_dev)
        return address

    def add_far_address(self) -> str:
        address = f"198.51.100.{self._next_far}"
        if self._next_far == 10:
            self._ns(self.far_ns, "ip", "addr", "add", f"{address}/24", "dev", self._far_dev)
            self._ns(self.far_ns, "ip", "route", "add", "default", "via", self.far_router_ip)
        else:
            self._ns(self.far_ns, "ip", "addr", "add", f"{address}/24", "dev", self._far_dev)
        self._next_far += 1
        return address

    def down(self) -> None:
        for process in self._processes:
            stop_process(process)
        self._processes.clear()
        for ns in (self.agent_ns, self.cams_ns, self.far_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def __enter__(self) -> TestLan:
        return self.up()

    def __exit__(self, *_: object) -> None:
        self.down()

    # --- processes -----------------------------------------------------------------------

    def exec_argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def run(
        self,
        ns: str,
        argv: Sequence[str],
        timeout_s: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.exec_argv(ns, argv),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=REPO,
            env=_env(env),
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def start_cameras(
        self,
        ns: str,
        specs: Sequence[str],
        password_file: Path | None = None,
        timeout_s: float = 20.0,
    ) -> tuple[subprocess.Popen[str], list[dict[str, Any]]]:
        """Run fake cameras (``python -m testkit.fake_onvif``) in ``ns``; wait until ready."""
        argv = [sys.executable, "-m", "testkit.fake_onvif"]
        for spec in specs:
            argv += ["--camera", spec]
        if password_file is not None:
            argv += ["--password-file", str(password_file)]
        process = subprocess.Popen(
            self.exec_argv(ns, argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=_env(None),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        self._processes.append(process)
        ready: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                stderr = process.stderr.read() if process.stderr else ""
                raise RuntimeError(f"fake cameras exited: {stderr[-2000:]}")
            data = json.loads(line)
            if data.get("ready"):
                ready.append(data)
            if "all_ready" in data:
                return process, ready
        raise RuntimeError("fake cameras did not become ready in time")

    def stop(self, process: subprocess.Popen[str]) -> None:
        stop_process(process)
        if process in self._processes:
            self._processes.remove(process)

    def in_namespace(self, ns: str, function: Callable[[], T]) -> T:
        """Run ``function`` in a thread that has entered ``ns`` (threads it starts inherit it)."""
        result: list[T] = []
        errors: list[BaseException] = []

        def target() -> None:
            try:
                enter_netns(ns)
                result.append(function())
            except BaseException as error:  # re-raised in the caller
                errors.append(error)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return result[0]

    def thread_in_namespace(
        self, ns: str, function: Callable[[], None], name: str = "netns"
    ) -> threading.Thread:
        def target() -> None:
            enter_netns(ns)
            function()

        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread


def enter_netns(ns: str) -> None:
    """Move the *calling thread* into the named network namespace."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({ns}) failed: {os.strerror(errno)}")
    finally:
        os.close(fd)


def stop_process(process: subprocess.Popen[str], timeout_s: float = 5.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env.pop("CREDENTIALS_DIRECTORY", None)
    env.pop("KITCHEN_AGENT_CONFIG", None)
    if extra:
        env.update(extra)
    return env


@contextlib.contextmanager
def test_lan() -> Iterator[TestLan]:
    lan = TestLan().up()
    try:
        yield lan
    finally:
        lan.down()
