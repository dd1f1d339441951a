"""Reloads without a blink: which workers a new config touches. Pure, no I/O.

A worker is built from a **settings slice** of the config (:class:`WorkerSpec`, the specs
themselves are in :mod:`agent.workers`). A valid new config is compared slice by slice with
the running one: a worker whose slice is unchanged is kept (and given the new runtime for
what it reads live); one whose slice changed is rebuilt; one the new config no longer wants
is stopped, one it newly wants is started.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.daemon import Runtime
    from agent.supervisor import Worker


def _keep(worker: Any, runtime: Runtime) -> None:
    """A kept worker that reads nothing live from the config."""


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    # The settings slice the worker is built from; None when the config wants no such
    # worker (no ingest URL: no streams worker). Compared with ==, never logged.
    settings: Callable[[Runtime], object]
    build: Callable[[Runtime], Worker]
    # Hands a kept worker the new runtime (its slice is unchanged; the rest may not be).
    update: Callable[[Any, Runtime], None] = field(default=_keep)


@dataclass(frozen=True)
class ReloadPlan:
    keep: tuple[str, ...] = ()
    rebuild: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()

    @property
    def to_stop(self) -> tuple[str, ...]:
        return self.stop + self.rebuild

    @property
    def to_build(self) -> tuple[str, ...]:
        return self.rebuild + self.start


def plan_reload(
    order: Sequence[str], running: Mapping[str, object], wanted: Mapping[str, object]
) -> ReloadPlan:
    """Which workers a reload keeps, rebuilds, starts and stops. Pure.

    ``running`` and ``wanted`` map worker names (in ``order``) to their settings slice
    under the running and the new config; a slice of None means not wanted.
    """
    keep, rebuild, start, stop = [], [], [], []
    for name in order:
        old, new = running.get(name), wanted.get(name)
        if old is None and new is None:
            continue
        if old is None:
            start.append(name)
        elif new is None:
            stop.append(name)
        elif old == new:
            keep.append(name)
        else:
            rebuild.append(name)
    return ReloadPlan(tuple(keep), tuple(rebuild), tuple(start), tuple(stop))


def slices(specs: Sequence[WorkerSpec], runtime: Runtime) -> dict[str, object]:
    return {spec.name: spec.settings(runtime) for spec in specs}
