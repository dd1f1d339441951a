"""The MQTT session counter: +1 per connection, persisted atomically in the state dir.

Ops use it to order presence messages: an ``online: false`` (Last Will) of an older session
that arrives after a newer ``online: true`` is stale and ignored. The number must therefore
strictly increase across restarts and power cuts, so it is on disk before the broker can see
it: :meth:`SessionCounter.peek` names the number the next CONNECT will carry, and
:meth:`commit` records it once that CONNECT has left on an open TCP connection. An attempt
that never reached the broker (refused, unreachable) does not use up a number.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from agent.errors import StorageError
from agent.persist import atomic_write_json, read_json, storage_fault

log = structlog.get_logger(__name__)

FILE_NAME = "mqtt-session.json"


class SessionCounter:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self._lock = threading.Lock()
        self.fault: StorageError | None = None
        stored = read_json(self.path, default={})
        value = stored.get("session") if isinstance(stored, dict) else None
        self._last = value if isinstance(value, int) and value >= 0 else 0

    @property
    def last(self) -> int:
        """The session of the most recent connection (0 before the first)."""
        with self._lock:
            return self._last

    def peek(self) -> int:
        """The session number the next connection will use."""
        with self._lock:
            return self._last + 1

    def commit(self, session: int) -> None:
        """Persist ``session`` as used (fsync + rename) before the broker can announce it.

        A full or broken disk does not stop the link: the number is used from memory and
        :attr:`fault` says why (a restart before the disk recovers may then reuse numbers,
        which ops see as stale presence for a moment — better than a box that cannot
        connect at all)."""
        with self._lock:
            if session <= self._last:
                return
            try:
                atomic_write_json(self.path, {"session": session})
            except OSError as error:
                self.fault = storage_fault(error, self.path.parent)
                log.error("session_not_saved", session=session, error=self.fault.to_dict())  # noqa: TRY400
            else:
                self.fault = None
            self._last = session
