"""Every event any test makes the agent emit is checked against its published schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.model import Event, EventPayload
from agent.state import AgentState
from testkit.contract import check_event_data


@pytest.fixture(autouse=True)
def emitted_events_keep_the_contract(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Wraps AgentState.emit: a payload that its schema refuses fails the test at once."""
    original = AgentState.emit

    def checked(self: AgentState, payload: EventPayload) -> Event:
        problems = check_event_data(payload.TYPE, payload.to_json())
        assert not problems, problems
        return original(self, payload)

    monkeypatch.setattr(AgentState, "emit", checked)
    yield
