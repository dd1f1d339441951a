"""``kitchen-agent fleet command STORE NAME``: send a documented command and print its result.

The store's district (part of its topics) and whether it is online come from its retained
``birth`` and ``state``, so this needs the broker only. Arguments are checked against the
box's own argument models before anything is sent; the command expires when we stop
waiting, so a box that comes back later never runs a stale one.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from agent.fleet.config import FleetConfig
from agent.fleet.contract import (
    COMMAND_ARGS,
    COMMAND_NAMES,
    AgentError,
    Command,
    CommandResultMessage,
    ExitCode,
    StateMessage,
    TemporaryError,
    UnavailableError,
    UsageError,
    atomic_write_bytes,
    utc_now,
)
from agent.fleet.mqtt import OneShot

# A snapshot result carries a JPEG of up to 4 MiB as base64.
RESULT_MAX_BYTES = 6 * 1024 * 1024


class CommandFailed(AgentError):
    """The box ran the command and it failed, or refused to run it."""

    code = "fleet_command_failed"
    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.answer = answer  # what the CLI prints: the box's result with its error


def parse_args(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that reads as JSON (a number, true) is taken as such."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--arg {pair!r}: expected KEY=VALUE")
        try:
            args[key] = json.loads(value)
        except ValueError:
            args[key] = value
    return args


def check_command(name: str, args: dict[str, Any]) -> None:
    if name not in COMMAND_NAMES:
        raise UsageError(f"unknown command {name!r}; one of: {', '.join(COMMAND_NAMES)}")
    try:
        COMMAND_ARGS[name].model_validate(args)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "args"
        raise UsageError(f"{name}: {where}: {first['msg']}") from None


@dataclass
class _Seen:
    district: str | None = None
    state: StateMessage | None = None


def send(
    config: FleetConfig,
    store_id: str,
    name: str,
    args: dict[str, Any],
    *,
    timeout_s: float,
    output: Path | None = None,
) -> dict[str, Any]:
    """Send ``name`` to ``store_id`` and wait for its final result (succeeded, failed or
    rejected). Returns the JSON object the CLI prints."""
    check_command(name, args)
    root = config.broker.topic_root
    shot = OneShot(config, RESULT_MAX_BYTES).connect()
    try:
        seen = _Seen()
        results: list[CommandResultMessage] = []
        command_id = f"fleet-{uuid.uuid4().hex[:16]}"
        lock = threading.Lock()

        def on_message(message: mqtt.MQTTMessage) -> None:
            topic = message.topic
            try:
                body = json.loads(message.payload)
            except ValueError:
                return
            with lock:
                if topic.endswith("/state"):
                    seen.district = topic.split("/")[-3]
                    try:
                        seen.state = StateMessage.model_validate(body)
                    except ValidationError:
                        seen.state = None
                elif topic.endswith("/birth"):
                    seen.district = topic.split("/")[-3]
                elif topic.endswith("/cmd/result") and body.get("command_id") == command_id:
                    try:
                        results.append(CommandResultMessage.model_validate(body))
                    except ValidationError:
                        return

        shot.subscribe(
            [
                f"{root}/+/{store_id}/state",
                f"{root}/+/{store_id}/birth",
                f"{root}/+/{store_id}/cmd/result",
            ],
            on_message,
        )
        shot.settle(quiet_s=0.3, max_s=5)
        if seen.district is None:
            raise UnavailableError(f"store {store_id} is unknown to the broker (no birth or state)")
        if seen.state is None or not seen.state.online:
            raise UnavailableError(
                f"store {store_id} is offline: commands are not queued for an offline box"
            )
        expires = utc_now() + timedelta(seconds=timeout_s + 5)
        command = Command(command_id=command_id, name=name, args=args, expires_at=expires)
        payload = command.model_dump_json().encode()
        shot.publish(f"{root}/{seen.district}/{store_id}/cmd", payload)

        def final() -> bool:
            with lock:
                return any(r.status != "accepted" for r in results)

        if not shot.wait_for(final, timeout_s):
            accepted = any(r.status == "accepted" for r in results)
            raise TemporaryError(
                f"no result from {store_id} within {timeout_s:g} s"
                + (" (it accepted the command and may still be running it)" if accepted else "")
            )
        with lock:
            result = next(r for r in results if r.status != "accepted")
    finally:
        shot.close()
    answer: dict[str, Any] = {
        "store_id": store_id,
        "district": seen.district,
        "command_id": command_id,
        "name": name,
        "status": result.status,
        "duplicate": result.duplicate,
        "error": result.error.model_dump() if result.error else None,
        "result": result.result,
    }
    if result.status == "succeeded" and name == "snapshot" and result.result is not None:
        answer["result"], answer["saved"] = _save_snapshot(result.result, store_id, output)
    if result.status != "succeeded":
        error = result.error
        message = f"{name} on {store_id} {result.status}"
        if error is not None:
            message += f": {error.code}: {error.message}"
        raise CommandFailed(message, answer)
    return answer


def _save_snapshot(
    result: dict[str, Any], store_id: str, output: Path | None
) -> tuple[dict[str, Any], str]:
    """Write the JPEG to ``output`` (default: ``<store>-<camera>.jpg`` here); the result
    without its base64 body, and the path."""
    encoded = result.get("jpeg_base64")
    if not isinstance(encoded, str):
        raise CommandFailed("the snapshot result carries no jpeg_base64")
    try:
        jpeg = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise CommandFailed("the snapshot result's jpeg_base64 is not base64") from None
    if not jpeg.startswith(b"\xff\xd8"):
        raise CommandFailed("the snapshot result is not a JPEG")
    camera = str(result.get("camera_id", "camera"))
    path = output or Path(f"{store_id}-{camera}.jpg")
    atomic_write_bytes(path, jpeg)
    summary = {k: v for k, v in result.items() if k != "jpeg_base64"}
    return summary, str(path)
