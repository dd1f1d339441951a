"""A StreamManager run on its own thread, as the supervisor runs it (tests and benchmarks)."""

from __future__ import annotations

import threading

from agent.model import Event, StreamStatus
from agent.state import AgentState
from agent.supervisor import WorkerContext
from agent.uplink.video.manager import StreamManager
from testkit.nginx_rtmp import wait_for


class Running:
    """A StreamManager running on its own thread, as the supervisor would run it."""

    def __init__(self, manager: StreamManager, state: AgentState) -> None:
        self.manager = manager
        self.state = state
        self.events: list[Event] = []
        state.subscribe(self.events.append)
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=manager.run,
            args=(WorkerContext("streams", self.stopping, 60.0),),
            daemon=True,
        )

    def stop(self) -> None:
        self.stopping.set()
        self.manager._wake.set()
        self.thread.join(15)
        assert not self.thread.is_alive()

    def status(self, camera_id: str) -> StreamStatus | None:
        return self.state.streams().get(camera_id)

    def wait_state(self, camera_id: str, state: str, timeout_s: float = 20.0) -> None:
        wait_for(
            lambda: (s := self.status(camera_id)) is not None and s.state == state,
            timeout_s,
            what=f"{camera_id} {state}",
        )

    def event_types(self, camera_id: str) -> list[str]:
        return [e.type for e in self.events if e.payload.to_json().get("camera_id") == camera_id]
