"""The message models are the contract: committed schemas are current, commands validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.model import EVENT_PAYLOADS, payload_from
from agent.uplink import messages

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(messages.json_schemas()))
def test_committed_schema_is_current(name: str) -> None:
    committed = SCHEMA_DIR / f"{name}.schema.json"
    assert committed.exists(), f"run: python -m agent.uplink.messages docs/schemas ({name})"
    assert committed.read_text(encoding="utf-8") == messages.render_schema(
        messages.json_schemas()[name]
    ), "docs/schemas is stale: run python -m agent.uplink.messages docs/schemas"


def test_no_stray_schema_files() -> None:
    names = {
        p.relative_to(SCHEMA_DIR).as_posix().removesuffix(".schema.json")
        for p in SCHEMA_DIR.rglob("*.schema.json")
    }
    # status.schema.json is the `kitchen-agent status --json` answer (tests/test_status.py).
    assert names == set(messages.json_schemas()) | {"status"}


def test_command_accepts_iso_or_unix_expiry() -> None:
    iso = messages.Command.model_validate(
        {"command_id": "c1", "name": "rescan", "expires_at": "2030-01-01T00:00:00+08:00"}
    )
    unix = messages.Command.model_validate(
        {"command_id": "c1", "name": "rescan", "expires_at": 1893427200}
    )
    assert iso.expires_at == unix.expires_at


@pytest.mark.parametrize(
    "body",
    [
        {"name": "rescan", "expires_at": 1},
        {"command_id": "x y", "name": "rescan", "expires_at": 1},
        {"command_id": "c", "name": "rescan"},
        {"command_id": "c", "name": "rescan", "expires_at": "2030-01-01T00:00:00"},
        {"command_id": "c", "name": "rescan", "expires_at": 1, "extra": 1},
        {"command_id": "c", "name": "rescan", "expires_at": 1, "args": []},
    ],
)
def test_command_rejects_malformed(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        messages.Command.model_validate(body)


def test_timestamps_are_utc_milliseconds() -> None:
    state = messages.StateMessage(
        online=True, session=1, ts=messages.from_epoch(1700000000.1234), reason="connected"
    )
    assert json.loads(state.model_dump_json())["ts"] == "2023-11-14T22:13:20.123Z"


def _doc_examples() -> list[tuple[str, str]]:
    text = (SCHEMA_DIR.parent / "mqtt.md").read_text(encoding="utf-8")
    found = re.findall(r"<!-- example: ([a-z-]+) -->\n```json\n(.*?)\n```", text, re.DOTALL)
    assert len(found) >= 7
    return found


@pytest.mark.parametrize(("name", "body"), _doc_examples())
def test_documented_examples_match_the_models(name: str, body: str) -> None:
    model = messages.SCHEMA_MODELS[name]
    parsed = model.model_validate(json.loads(body))
    # Every field the example shows is one the model knows (no invented fields in the docs).
    assert set(json.loads(body)) <= set(model.model_fields), name
    if name == "cmd-result" and parsed.result and "jpeg_base64" in parsed.result:  # type: ignore[attr-defined]
        messages.SnapshotResult.model_validate(parsed.result)  # type: ignore[attr-defined]


def test_documented_events_match_their_payload_schemas() -> None:
    bodies = [json.loads(body) for name, body in _doc_examples() if name == "event"]
    assert bodies
    for body in bodies:
        payload_from(body["type"], body["data"])


def test_documented_event_rows_name_every_field() -> None:
    """The events table in docs/mqtt.md lists every field of each payload."""
    text = (SCHEMA_DIR.parent / "mqtt.md").read_text(encoding="utf-8")
    for event_type, model in EVENT_PAYLOADS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{event_type}` |"))
        missing = [field for field in model.model_fields if f"`{field}" not in row]
        assert not missing, (event_type, missing)
