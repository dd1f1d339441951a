"""The published MQTT contract, as a consumer written from docs/ would check it.

Every message a box sends is validated against the JSON Schema committed under
``docs/schemas/`` (an event's ``data`` against ``events/<type>.schema.json``), with the
``jsonschema`` library rather than the agent's own models, so the test sees the box the
way ops' tools do.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
# The `discover --json` camera and profile objects, as installers' scripts read them (a
# copy written from the README, not taken from the agent: the test compares the two).
KEYS = [
    "id",
    "address",
    "xaddrs",
    "manufacturer",
    "model",
    "firmware",
    "serial",
    "mac",
    "clock_skew_s",
    "profiles",
    "error",
]
PROFILE_KEYS = [
    "token",
    "name",
    "encoding",
    "width",
    "height",
    "fps",
    "bitrate_kbps",
    "rtsp_uri",
    "snapshot_uri",
]

# Topic suffix -> schema name, for what a box publishes.
BOX_TOPICS = {
    "state": "state",
    "birth": "birth",
    "heartbeat": "heartbeat",
    "event": "event",
    "probe": "probe",
    "cmd/result": "cmd-result",
}


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def schema_of(topic: str) -> str | None:
    for suffix, name in BOX_TOPICS.items():
        if topic.endswith("/" + suffix):
            return name
    return None


def violations(name: str, body: Any) -> list[str]:
    """What is wrong with ``body`` as a ``name`` message (empty: it keeps the contract)."""
    problems = [f"{name}: {e.json_path}: {e.message}" for e in validator(name).iter_errors(body)]
    if name == "event" and isinstance(body, dict) and not problems:
        event_type = body.get("type")
        path = SCHEMAS / "events" / f"{event_type}.schema.json"
        if not path.exists():
            problems.append(f"event type {event_type!r} has no published schema")
        else:
            problems += [
                f"event {event_type}: {e.json_path}: {e.message}"
                for e in validator(f"events/{event_type}").iter_errors(body.get("data"))
            ]
    return problems


def check_topic(topic: str, payload: bytes) -> list[str]:
    name = schema_of(topic)
    if name is None:
        return []
    try:
        body = json.loads(payload)
    except ValueError:
        return [f"{topic}: not JSON"]
    return violations(name, body)


def check_event_data(event_type: str, data: Any) -> list[str]:
    path = SCHEMAS / "events" / f"{event_type}.schema.json"
    if not path.exists():
        return [f"event type {event_type!r} has no published schema"]
    return [
        f"event {event_type}: {e.json_path}: {e.message}"
        for e in validator(f"events/{event_type}").iter_errors(data)
    ]
