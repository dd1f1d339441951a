"""The one thread pool that logs into cameras, each under its own bounds."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.capture.onvif.device import DeviceFacts, RetryLogin, inventory_device
from agent.capture.onvif.parse import where
from agent.capture.onvif.session import DEFAULT_REQUEST_TIMEOUT_S, DEFAULT_TIMEOUT_S
from agent.capture.onvif.wsdl import warm_up
from agent.errors import CameraTimeout


@dataclass(frozen=True)
class InventoryTarget:
    xaddr: str
    username: str
    password: str | None
    key: Any = None  # caller's handle, returned untouched
    retry_login: RetryLogin | None = None  # see inventory_device
    media_hosts: frozenset[str] = frozenset()  # see inventory_device


@dataclass
class InventoryRun:
    results: list[tuple[InventoryTarget, DeviceFacts]] = field(default_factory=list)
    wall_s: float = 0.0


InventoryJob = tuple[InventoryTarget, concurrent.futures.Future[DeviceFacts]]


class InventoryPool:
    """The one thread pool that logs into cameras.

    A target starts as soon as it is submitted (so a discovery round can hand over each
    camera the moment it answers, while it still listens for others), at most
    ``concurrency`` at a time, each under its own ``timeout_s``. The WSDLs are parsed on
    the pool too, so that also overlaps the listening window.
    """

    def __init__(
        self,
        concurrency: int = 16,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.timeout_s = timeout_s
        self.request_timeout_s = request_timeout_s
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="onvif"
        )
        self._warm = self._executor.submit(warm_up)

    def __enter__(self) -> InventoryPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop queued work; a camera already talking finishes within its own timeout."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, target: InventoryTarget) -> InventoryJob:
        future = self._executor.submit(
            inventory_device,
            target.xaddr,
            target.username,
            target.password,
            self.timeout_s,
            self.request_timeout_s,
            target.retry_login,
            target.media_hosts,
        )
        return target, future

    def collect(
        self,
        jobs: Sequence[InventoryJob],
        on_done: Callable[[InventoryTarget, DeviceFacts], None] | None = None,
    ) -> list[tuple[InventoryTarget, DeviceFacts]]:
        """Every job's facts, in the order given; a job that overruns every bound is a
        timeout. ``on_done`` is called from this thread, in completion order."""
        if not jobs:
            return []
        self._warm.result()  # a missing onvif-zeep raises here, not once per camera
        # Queued cameras start late: the bound is one camera's timeout per wave, counted
        # from now (jobs submitted earlier have had a head start).
        waves = -(-len(jobs) // self.concurrency)
        overall = self.timeout_s * waves + 1.0
        results: dict[int, DeviceFacts] = {}
        index_of = {future: index for index, (_, future) in enumerate(jobs)}
        try:
            for future in concurrent.futures.as_completed(index_of, timeout=overall):
                index = index_of[future]
                results[index] = future.result()
                if on_done is not None:
                    on_done(jobs[index][0], results[index])
        except concurrent.futures.TimeoutError:
            pass
        collected = []
        for index, (target, future) in enumerate(jobs):
            facts = results.get(index)
            if facts is None:
                future.cancel()
                facts = DeviceFacts(
                    xaddr=target.xaddr,
                    error=CameraTimeout(
                        f"{where(target.xaddr)} did not finish the "
                        f"inventory within {self.timeout_s:g} s"
                    ),
                )
                if on_done is not None:
                    on_done(target, facts)
            collected.append((target, facts))
        return collected


def inventory_many(
    targets: Sequence[InventoryTarget],
    concurrency: int = 16,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    on_done: Callable[[InventoryTarget, DeviceFacts], None] | None = None,
) -> InventoryRun:
    """Inventory cameras concurrently; every target gets a result within ``timeout_s``
    (plus a small grace), whatever the cameras do."""
    started = time.monotonic()
    run = InventoryRun()
    if not targets:
        return run
    with InventoryPool(min(concurrency, len(targets)), timeout_s, request_timeout_s) as pool:
        run.results = pool.collect([pool.submit(t) for t in targets], on_done)
    run.wall_s = time.monotonic() - started
    return run
