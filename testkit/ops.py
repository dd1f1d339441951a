"""What central operations does to a box over MQTT, for tests: send a command, read its
result (the contract is docs/mqtt.md)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from testkit.mosquitto import Subscriber


def send_command(ops: Subscriber, root: str, name: str, args: dict[str, Any] | None = None) -> str:
    """Publish a command to ``{root}/cmd``; its command_id."""
    command_id = f"test-{uuid.uuid4().hex[:8]}"
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    payload = {
        "command_id": command_id,
        "name": name,
        "args": args or {},
        "expires_at": expires.isoformat(),
    }
    ops.client.publish(f"{root}/cmd", json.dumps(payload), qos=1).wait_for_publish(5)
    return command_id


def final_result(ops: Subscriber, command_id: str, timeout_s: float = 30) -> Any:
    """The command's result once it is no longer only ``accepted``."""
    return ops.wait_json(
        "cmd/result",
        lambda r: r["command_id"] == command_id and r["status"] != "accepted",
        timeout_s,
    )
