"""Every MQTT message the agent sends or accepts, as pydantic models.

These models are the single source of truth for the ops contract: the agent builds its
payloads with them, validates incoming commands with them, and the JSON Schemas published
under ``docs/schemas/`` are generated from them (``python -m agent.uplink.messages DIR``;
a test proves the committed copies are current).

Conventions on the wire: UTF-8 JSON, timestamps as ISO 8601 UTC strings with milliseconds
(``2024-05-01T08:00:00.123Z``), sizes in bytes or MB as the field name says, durations in
seconds. Consumers must ignore fields they do not know: new optional fields may appear
within ``kitchen/v1``; anything incompatible gets a new topic root.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from agent.model import EVENT_PAYLOADS, ErrorInfo, PresenceReason, Stage, StreamState, Verdict

CONTRACT_VERSION = 1


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    AwareDatetime,
    PlainSerializer(_iso_utc, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


CommandStatus = Literal["accepted", "succeeded", "failed", "rejected"]


class OutMessage(BaseModel):
    """A message the agent publishes. Unknown fields are tolerated so v1 can grow."""

    model_config = ConfigDict(frozen=True)


# --- state -----------------------------------------------------------------------------------


class StateMessage(OutMessage):
    """``<root>/<district>/<store>/state`` — retained, QoS 1. Presence of the box.

    The Last Will is this message with ``online: false, reason: "connection_lost"`` and the
    session of the connection it belongs to; its ``ts`` is when that connection was made
    (the broker publishes it as registered at connect time).
    """

    online: bool = Field(description="True while the agent is connected.")
    session: int = Field(ge=1, description="Connection counter of the box, +1 per connection.")
    ts: Timestamp = Field(description="When this state was produced by the agent.")
    reason: PresenceReason = Field(
        description="connected | stopped (clean shutdown) | connection_lost (Last Will)."
    )


# --- birth -----------------------------------------------------------------------------------


class StoreInfo(OutMessage):
    id: str = Field(description="Store id (also in the topic).")
    name: str = Field(description="Store name (单位名称).")
    licence_number: str = Field(description="Food business licence number (许可证号).")
    district: str = Field(description="District slug (also in the topic).")
    address: str = Field(description="Store address (地址).")
    kcps: list[str] = Field(description="Declared key control points.")
    expected_completion: str | None = Field(
        default=None,
        description="Month the store is expected to be completed (预计完成时间), YYYY-MM; "
        "null when not configured.",
    )


class CameraInfo(OutMessage):
    id: str = Field(description="Camera id.")
    name: str | None = Field(default=None, description="Human name given at enrolment.")
    kcps: list[str] = Field(description="Key control points assigned to this camera.")


class BirthMessage(OutMessage):
    """``.../birth`` — retained, QoS 1. Who this box is; sent after every connect."""

    session: int = Field(ge=1, description="Session of the connection that sent it.")
    ts: Timestamp = Field(description="When it was sent.")
    agent_version: str = Field(description="kitchen-agent version.")
    config_hash: str = Field(description="Hash of the effective configuration (16 hex).")
    protocol: Literal["5", "3.1.1"] = Field(description="MQTT protocol of this connection.")
    heartbeat_interval_s: int = Field(description="Seconds between heartbeats.")
    keepalive_s: int = Field(description="MQTT keepalive of the connection.")
    store: StoreInfo
    cameras: list[CameraInfo] = Field(description="Enrolled cameras and their KCPs.")
    stage: Stage | None = Field(
        description="Live construction stage, with hysteresis (null: not known yet)."
    )
    stage_reached: Stage | None = Field(
        default=None,
        description="The highest stage held for 10 minutes, persisted and monotonic (it "
        "goes back only when enrolment is undone): annex 4's 建设进度. The birth is sent "
        "again whenever it changes. Null only from boxes older than this field.",
    )


# --- heartbeat -------------------------------------------------------------------------------


class SystemInfo(OutMessage):
    uptime_s: float | None = Field(description="Seconds since the box booted.")
    load: list[float] | None = Field(description="Load averages over 1, 5 and 15 minutes.")
    mem_total_mb: float | None = Field(description="Total memory, MB.")
    mem_available_mb: float | None = Field(description="Available memory, MB.")
    disk_total_mb: float | None = Field(description="Size of the state filesystem, MB.")
    disk_free_mb: float | None = Field(description="Free space on the state filesystem, MB.")
    temperature_c: float | None = Field(
        description="Hottest thermal zone, °C (null when the box has none)."
    )


class CameraBeat(OutMessage):
    id: str = Field(description="Camera id.")
    online: bool = Field(description="The camera answers.")
    error: str | None = Field(description="Error code when not healthy (e.g. auth_failed).")
    fps: float | None = Field(description="Frames per second seen on its stream.")
    stream: StreamState = Field(description="Platform stream state.")
    kbps: float | None = Field(description="Stream bitrate, kbit/s.")
    quality: Verdict = Field(description="Quality verdict of the last sample.")
    issues: list[str] = Field(description="Codes of the last sample's quality issues (at most 8).")
    alarms: list[str] = Field(
        default_factory=list,
        description="Codes of the alarms raised now (quality checks, no_frame, roi:<kcp>): "
        "what a consumer that joined late rebuilds current alarms from.",
    )
    enrolled: bool = Field(
        default=True, description="The camera is enrolled (cameras.enrolled); else only found."
    )
    clock_skew_s: float | None = Field(description="Camera clock minus box clock, seconds.")


class CoverageBeat(OutMessage):
    ratio: float | None = Field(description="Covered declared KCPs / declared KCPs (0..1).")
    kcps: dict[str, bool] = Field(description="Per declared KCP: covered now.")


class OutboxBeat(OutMessage):
    pending: int = Field(description="Events waiting for delivery.")
    dropped: int = Field(
        description="Events dropped (outbox full or too old) since the last delivered heartbeat."
    )


class StorageBeat(OutMessage):
    outbox: str | None = Field(
        default=None,
        description="Why the event outbox cannot store events now (storage_full, "
        "storage_error); null when it can. Meanwhile new events are counted in "
        "outbox.dropped.",
    )
    commands: str | None = Field(
        default=None,
        description="Why the command ledger cannot be saved now (storage_full, "
        "storage_error); null when it can. Meanwhile command ids are remembered in memory "
        "only, until the agent restarts.",
    )


class HeartbeatMessage(OutMessage):
    """``.../heartbeat`` — QoS 1, not retained, never queued while offline."""

    session: int = Field(ge=1, description="Session of the connection that sent it.")
    seq: int = Field(ge=1, description="1, 2, 3... consecutive within a session.")
    ts: Timestamp = Field(description="When it was built.")
    uptime_s: float = Field(description="Seconds since the agent started.")
    system: SystemInfo
    broker_rtt_ms: float | None = Field(
        description="Round trip of the previous acknowledged publish (PUBACK), ms."
    )
    cameras: list[CameraBeat]
    coverage: CoverageBeat
    stage: Stage | None = Field(
        description="Live construction stage, with hysteresis (null: not known yet)."
    )
    stage_reached: Stage | None = Field(
        default=None,
        description="The highest stage held for 10 minutes (see birth.stage_reached).",
    )
    outbox: OutboxBeat
    storage: StorageBeat = Field(
        default_factory=StorageBeat,
        description="What cannot be written to the state directory now (a full disk...): "
        "the box works on, degraded.",
    )


# --- event -----------------------------------------------------------------------------------


class EventMessage(OutMessage):
    """``.../event`` — QoS 1, durable: stored on the box until the broker acknowledged it."""

    msg_id: str = Field(description="Unique id; deduplicate on it (QoS 1 may repeat).")
    type: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Event type: " + ", ".join(EVENT_PAYLOADS) + " (others may be added); "
        "`data` is described by docs/schemas/events/<type>.schema.json.",
    )
    ts: Timestamp = Field(description="When it happened (box clock).")
    session: int = Field(ge=1, description="Session of the connection that delivered it.")
    late: bool = Field(description="Delivered late: it waited in the outbox (e.g. an outage).")
    queued_s: float = Field(ge=0, description="Seconds between happening and this delivery.")
    data: dict[str, Any] = Field(description="Type-specific details.")


# --- probe ---------------------------------------------------------------------------------


class ProbeMessage(OutMessage):
    """``.../probe`` — QoS 1, not retained. Sent by ``kitchen-agent acceptance`` and
    ``diagnose`` to prove the store's login may publish (the PUBACK is timed); consumers
    ignore it."""

    purpose: Literal["acceptance", "diagnose"] = Field(description="Which command sent it.")
    client_id: str = Field(description="The probe's own client id (never the agent's).")
    ts: Timestamp = Field(description="When it was sent.")


# --- commands --------------------------------------------------------------------------------


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraArgs(NoArgs):
    camera_id: str = Field(min_length=1, max_length=64, description="Camera id.")


class SnapshotArgs(CameraArgs):
    max_bytes: int | None = Field(
        default=None,
        ge=4096,
        description="Largest JPEG wanted (bounded by broker.snapshot_max_bytes).",
    )


class StartStreamArgs(CameraArgs):
    duration_s: int | None = Field(
        default=None,
        ge=10,
        le=86400,
        description="Stream this long (default: streams.idle_timeout_s); each start renews.",
    )


COMMAND_ARGS: dict[str, type[NoArgs]] = {
    "rescan": NoArgs,
    "snapshot": SnapshotArgs,
    "restart_stream": CameraArgs,
    "start_stream": StartStreamArgs,
    "stop_stream": CameraArgs,
    "reload_config": NoArgs,
    "rebirth": NoArgs,
    "diagnose": NoArgs,
    "reset_reference": CameraArgs,
}


CommandId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class Command(BaseModel):
    """``.../cmd`` — sent by ops (QoS 1, not retained). Validated strictly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command_id: CommandId = Field(description="Unique id chosen by ops; reuse = same command.")
    name: str = Field(
        min_length=1, max_length=64, description="One of: " + ", ".join(COMMAND_ARGS) + "."
    )
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments of the command.")
    expires_at: Annotated[
        AwareDatetime,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "format": "date-time"},
                    {"type": "number", "description": "Unix time, seconds."},
                ]
            }
        ),
    ] = Field(description="Not run after this time (ISO 8601 with zone, or Unix seconds).")


class CommandResultMessage(OutMessage):
    """``.../cmd/result`` — QoS 1, not retained. One or two per command."""

    command_id: str | None = Field(description="Id of the command (null if unreadable).")
    name: str | None = Field(description="Command name (null if unreadable).")
    status: CommandStatus = Field(
        description="accepted (will run) then succeeded | failed; or rejected (never run)."
    )
    ts: Timestamp = Field(description="When this result was produced.")
    session: int = Field(ge=1, description="Session of the connection that sent it.")
    duplicate: bool = Field(
        default=False,
        description="This command_id was seen before: this repeats its last known status "
        "and the command was not run again.",
    )
    error: ErrorInfo | None = Field(default=None, description="Set when failed or rejected.")
    result: dict[str, Any] | None = Field(
        default=None, description="Set when succeeded; per command, see docs/mqtt.md."
    )


class SnapshotResult(BaseModel):
    """``result`` of a succeeded ``snapshot``."""

    model_config = ConfigDict(frozen=True)

    camera_id: str
    content_type: Literal["image/jpeg"] = "image/jpeg"
    bytes: int = Field(description="Size of the JPEG.")
    width: int | None = None
    height: int | None = None
    jpeg_base64: str = Field(description="The JPEG, base64.")


class StreamCommandResult(BaseModel):
    """``result`` of a succeeded ``start_stream`` or ``stop_stream``."""

    model_config = ConfigDict(frozen=True)

    camera_id: str
    streaming: bool = Field(description="True after start_stream, false after stop_stream.")
    until: Timestamp | None = Field(
        description="start_stream: the stream runs at least until then (renewed by each "
        "start); stop_stream: null."
    )


# --- schema generation -----------------------------------------------------------------------

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "state": StateMessage,
    "birth": BirthMessage,
    "heartbeat": HeartbeatMessage,
    "event": EventMessage,
    "probe": ProbeMessage,
    "cmd": Command,
    "cmd-result": CommandResultMessage,
    "snapshot-result": SnapshotResult,
    "stream-result": StreamCommandResult,
}


def _schema(
    model: type[BaseModel], name: str, mode: Literal["validation", "serialization"]
) -> dict[str, Any]:
    schema = model.model_json_schema(mode=mode)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"kitchen/v{CONTRACT_VERSION}/{name}.schema.json"
    return schema


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name (without ``.schema.json``) -> JSON Schema, for every message, under
    ``cmd-args/`` for the ``args`` of every command and under ``events/`` for the ``data``
    of every event type."""
    result: dict[str, dict[str, Any]] = {}
    for name, model in SCHEMA_MODELS.items():
        mode: Literal["validation", "serialization"] = (
            "validation" if model is Command else "serialization"
        )
        result[name] = _schema(model, name, mode)
    for command, args in COMMAND_ARGS.items():
        name = f"cmd-args/{command}"
        schema = _schema(args, name, "validation")
        schema["description"] = f"`args` of the `{command}` command."
        result[name] = schema
    for event_type, payload in EVENT_PAYLOADS.items():
        name = f"events/{event_type}"
        schema = _schema(payload, name, "serialization")
        schema["description"] = payload.DESCRIPTION
        result[name] = schema
    return result


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    from agent.persist import PUBLIC_MODE, atomic_write_text

    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, render_schema(schema), mode=PUBLIC_MODE)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    """``python -m agent.uplink.messages [DIR]``: write schemas to DIR or print them."""
    if argv:
        for path in write_schemas(Path(argv[0])):
            sys.stderr.write(f"wrote {path}\n")
    else:
        sys.stdout.write(render_schema(json_schemas()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
