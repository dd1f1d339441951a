"""The command ledger: every command id answered, kept until its command has expired.

A command lives at most :data:`MAX_LIFETIME_S` (its ``expires_at`` may be no further
ahead), and its id is remembered until then: a replay of a captured command is either a
duplicate (answered with the first one's status, never run again) or expired. Nothing is
forgotten to make room: when the ledger is full of live commands a new one is refused as
busy instead. Ids of rejected commands protect nothing (they never ran) and give way first.

Persisted atomically in the state directory so that a restart forgets nothing; a full or
broken disk degrades the ledger to memory (ids are still remembered until the agent stops)
and :attr:`SeenCommands.fault` says why, for the heartbeat. It never raises on storage.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from agent.errors import StorageError, StorageFull
from agent.persist import (
    RESERVE_BYTES,
    atomic_write_json,
    below_reserve,
    read_json,
    storage_fault,
)

log = structlog.get_logger(__name__)

SEEN_FILE = "commands-seen.json"
MAX_LIFETIME_S = 3600.0  # the longest a command may live (from its arrival to expires_at)
CLOCK_MARGIN_S = 300.0  # ops' clock and the box's may differ by this much
REJECTED_KEEP_S = 600.0  # a rejected id is answered as a duplicate for this long, at most
LIMIT = 2000  # ids remembered at once (live commands are never dropped to make room)


class SeenCommands:
    """Command ids already answered, with their last status. Thread-safe."""

    def __init__(
        self,
        state_dir: Path,
        limit: int = LIMIT,
        clock: Callable[[], float] = time.time,
        reserve_bytes: int = RESERVE_BYTES,
    ) -> None:
        self.path = Path(state_dir) / SEEN_FILE
        self.limit = limit
        self.reserve_bytes = reserve_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.fault: StorageError | None = None
        now = clock()
        stored = read_json(self.path, default={})
        entries = stored.get("seen") if isinstance(stored, dict) else None
        for item in entries if isinstance(entries, list) else []:
            if not (isinstance(item, list) and len(item) == 2):
                continue
            key, value = item
            if isinstance(key, str) and isinstance(value, dict):
                until = value.get("keep_until")
                # An entry from before ids were kept until expiry: keep it the longest time.
                if not isinstance(until, int | float):
                    value = {**value, "keep_until": now + MAX_LIFETIME_S + CLOCK_MARGIN_S}
                self._seen[key] = value
        self._prune(now)

    def get(self, command_id: str) -> dict[str, Any] | None:
        with self._lock:
            self._prune(self._clock())
            return self._seen.get(command_id)

    def has_room(self) -> bool:
        """False when every remembered id belongs to a command still alive: a new one
        must wait (forgetting a live id would let its replay run)."""
        with self._lock:
            self._prune(self._clock())
            if len(self._seen) < self.limit:
                return True
            return any(v.get("status") == "rejected" for v in self._seen.values())

    def record(
        self,
        command_id: str | None,
        name: str | None,
        status: str,
        error: dict[str, Any] | None,
        keep_until: float,
    ) -> None:
        """Remember the latest status of ``command_id`` until ``keep_until`` (epoch s)."""
        if command_id is None:
            return
        with self._lock:
            now = self._clock()
            previous = self._seen.pop(command_id, None)
            if previous is not None:
                keep_until = max(keep_until, float(previous.get("keep_until", 0.0)))
            self._seen[command_id] = {
                "name": name,
                "status": status,
                "error": error,
                "keep_until": round(keep_until, 3),
            }
            self._prune(now)
            if status == "rejected":
                return  # protects nothing (it never ran): not worth an fsync per flood item
            # Saved under the lock: two threads' snapshots must reach the disk in order.
            self._save([[key, value] for key, value in self._seen.items()])

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._seen.items() if float(v.get("keep_until", 0)) < now]:
            del self._seen[key]
        if len(self._seen) <= self.limit:
            return
        for key in [k for k, v in self._seen.items() if v.get("status") == "rejected"]:
            if len(self._seen) <= self.limit:
                break
            del self._seen[key]

    def _save(self, snapshot: list[list[Any]]) -> None:
        try:
            if below_reserve(self.path.parent, self.reserve_bytes):
                raise StorageFull("less free space than the reserve on the state filesystem")
            atomic_write_json(self.path, {"seen": snapshot})
        except (OSError, StorageError) as error:
            fault = storage_fault(error, self.path.parent)
            if self.fault is None or fault.code != self.fault.code:
                log.error("command_ledger_degraded", error=fault.to_dict())  # noqa: TRY400
            self.fault = fault
            return
        if self.fault is not None:
            log.info("command_ledger_recovered")
        self.fault = None
