"""A kitchen LAN with a rogue on it: network namespaces on one bridge, like one switch.

Topology (documentation addresses only)::

    [agent ns] 192.0.2.1 ──┐
    [cams ns]  192.0.2.10 ─┼── br0 [switch ns]   (multicast flooded to every port)
    [rogue ns] 192.0.2.66 ─┘
               192.0.2.77  (the rogue's "other host": a listener that records credentials)

Each device owns its namespace, so each owns UDP 3702. The box-side services the agent
needs (broker, ingest) run inside the agent namespace on its loopback; a test talks to
them from a thread that entered that namespace (:meth:`TestLan.in_namespace`).
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

from testkit.netns import TestLan, enter_netns, stop_process

T = TypeVar("T")


class HostileLan(TestLan):
    __test__ = False

    def __init__(self) -> None:
        super().__init__()
        self.switch_ns = f"ka-{self.tag}-sw"
        self.rogue_ns = f"ka-{self.tag}-rogue"
        self.camera_ip = "192.0.2.10"
        self.rogue_ip = "192.0.2.66"
        self.recorder_ip = "192.0.2.77"
        self._released = threading.Event()

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.switch_ns, self.agent_ns, self.cams_ns, self.rogue_ns)

    def up(self) -> HostileLan:
        for ns in self.namespaces:
            self._ns_add(ns)
        self._ns(self.switch_ns, "ip", "link", "add", "br0", "type", "bridge")
        # No IGMP snooping: every port sees every multicast datagram, as on a cheap switch.
        self._ns(
            self.switch_ns, "ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"
        )
        self._ns(self.switch_ns, "ip", "link", "set", "br0", "up")
        ports = (
            (self.agent_ns, "a", [self.agent_ip]),
            (self.cams_ns, "c", [self.camera_ip]),
            (self.rogue_ns, "r", [self.rogue_ip, self.recorder_ip]),
        )
        for ns, letter, addresses in ports:
            device, switch_end = f"ka{self.tag}{letter}", f"ka{self.tag}{letter}s"
            _run(["ip", "link", "add", device, "type", "veth", "peer", "name", switch_end])
            _run(["ip", "link", "set", device, "netns", ns])
            _run(["ip", "link", "set", switch_end, "netns", self.switch_ns])
            self._ns(self.switch_ns, "ip", "link", "set", switch_end, "master", "br0")
            self._ns(self.switch_ns, "ip", "link", "set", switch_end, "up")
            for address in addresses:
                self._ns(ns, "ip", "addr", "add", f"{address}/24", "dev", device)
            self._ns(ns, "ip", "link", "set", device, "up")
            self._ns(ns, "ip", "link", "set", "lo", "up")
        return self

    def keep_in(self, ns: str, start: Callable[[], T]) -> T:
        """``start()`` in a thread of ``ns`` that lives until :meth:`down`: helpers started
        with ``setpriv --pdeathsig`` die with the *thread* that spawned them."""
        done: queue.Queue[tuple[bool, object]] = queue.Queue()

        def keeper() -> None:
            try:
                enter_netns(ns)
                done.put((True, start()))
            except BaseException as error:  # handed to the caller
                done.put((False, error))
                return
            self._released.wait()

        threading.Thread(target=keeper, name=f"keep-{ns}", daemon=True).start()
        ok, value = done.get(timeout=120)
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value  # type: ignore[return-value]

    def _ns(self, ns: str, *argv: str | int) -> None:
        super()._ns(ns, *(str(arg) for arg in argv))

    def _ns_add(self, ns: str) -> None:
        _run(["ip", "netns", "add", ns])

    def down(self) -> None:
        self._released.set()
        for process in self._processes:
            stop_process(process)
        self._processes.clear()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def __enter__(self) -> HostileLan:
        return self.up()


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
