"""The one backoff policy of the agent, built on tenacity.

Every loop that tries again — the supervisor restarting a crashed worker, a relay
restarting its ffmpeg, the MQTT link reconnecting — waits ``initial_s * 2^(n-1)`` after the
n-th failure in a row, capped at ``max_s``, and varied by ±:data:`JITTER` of itself. The
jitter is there so that a city's boxes, which lose the same broker or ingest at the same
moment, do not all come back in the same second.

The loops are event loops (they cannot block in ``tenacity.Retrying`` while they supervise
other things), so they ask :class:`Backoff` for the delay and schedule the next attempt
themselves; tenacity's wait strategies compute it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import tenacity
from tenacity.wait import wait_base

JITTER = 0.2  # each delay is drawn from [0.8, 1.2] x the exponential delay


class wait_jittered(wait_base):  # noqa: N801 - tenacity's naming for wait strategies
    """``base`` scaled by a factor drawn uniformly from ``[1 - jitter, 1 + jitter]``."""

    def __init__(
        self, base: wait_base, jitter: float, rng: Callable[[], float] = random.random
    ) -> None:
        self.base = base
        self.jitter = jitter
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        factor = 1.0 + self.jitter * (2.0 * self.rng() - 1.0)
        return float(self.base(retry_state)) * factor


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with the agent's jitter. ``delay(n)`` after n failures in a row."""

    initial_s: float
    max_s: float

    def wait(self, rng: Callable[[], float] = random.random) -> wait_base:
        """The policy as a tenacity wait strategy (for ``tenacity.Retrying`` too)."""
        exponential = tenacity.wait_exponential(multiplier=self.initial_s, max=self.max_s)
        return wait_jittered(exponential, JITTER, rng)

    def delay(self, failures: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 = the first)."""
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = max(1, failures)
        return self.wait(rng)(state)
