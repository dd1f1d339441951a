"""Keep the C heap small on a box that runs for years.

glibc gives each thread that meets contention a heap of its own (up to eight per core),
and keeps what is freed in each for reuse. The agent's threads come and go (a relay's
readers, camera logins), so over days memory spreads over many heaps, each holding free
pages: resident memory creeps up while Python's own objects stay flat (the soak showed
this). Two heaps are plenty for a handful of threads that mostly wait on sockets, and
after a quality round (a few decoded frames, thumbnails and features) ``malloc_trim``
gives the round's free pages back. Both are glibc calls; elsewhere (musl) nothing is done.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable

M_ARENA_MAX = -8  # glibc's malloc.h
HEAPS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library the interpreter runs on (its symbols, without a library search)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _function(name: str) -> Callable[..., int] | None:
    libc = _libc()
    function: Callable[..., int] | None = getattr(libc, name, None) if libc else None
    return function


def limit_heaps(heaps: int = HEAPS) -> bool:
    """At most ``heaps`` C heaps from now on (call before starting threads).

    Returns whether the C library took it. ``MALLOC_ARENA_MAX`` in the environment wins:
    an operator who set it knows better.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = _function("mallopt")
    return mallopt is not None and mallopt(M_ARENA_MAX, heaps) == 1


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc only)."""
    trim = _function("malloc_trim")
    if trim is not None:
        trim(0)
