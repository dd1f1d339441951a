"""From one MQTT message to one typed observation of a store — or a reason it is bad.

Pure: ``parse(message, topic_root, max_bytes)`` takes the topic, the payload and when it
arrived. Known fields are validated with the box's own models (the published contract);
unknown fields are ignored (``kitchen/v1`` may grow); the optional fields the box adds
within v1 (``stage_reached``, ``store.expected_completion``, per-camera ``enrolled``) are
read by small models here so the fleet works with boxes of either age. A bad message is
returned as :class:`Bad` with a short reason and never raises.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.fleet.contract import (
    BirthMessage,
    EventMessage,
    HeartbeatMessage,
    Stage,
    StateMessage,
)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
Kind = Literal["state", "birth", "heartbeat", "event"]
KINDS: tuple[str, ...] = ("state", "birth", "heartbeat", "event")


@dataclass(frozen=True)
class Incoming:
    """One message as the consumer received it."""

    topic: str
    payload: bytes
    retained: bool
    received_at: float  # consumer's wall clock, Unix seconds


# --- observations ------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    store_id: str
    district: str
    received_at: float
    retained: bool


@dataclass(frozen=True)
class StateSeen:
    origin: Origin
    online: bool
    session: int
    reason: str
    ts: float


@dataclass(frozen=True)
class CameraDecl:
    id: str
    name: str | None
    kcps: tuple[str, ...]


@dataclass(frozen=True)
class BirthSeen:
    origin: Origin
    session: int
    ts: float
    agent_version: str
    heartbeat_interval_s: int
    name: str
    licence_number: str
    address: str
    kcps: tuple[str, ...]
    cameras: tuple[CameraDecl, ...]
    stage: str | None
    stage_reached: str | None
    expected_completion: str | None


@dataclass(frozen=True)
class CameraLive:
    id: str
    online: bool
    error: str | None
    stream: str
    quality: str
    issues: tuple[str, ...]
    enrolled: bool | None  # None: the box does not say (older boxes)


@dataclass(frozen=True)
class HeartbeatSeen:
    origin: Origin
    session: int
    seq: int
    ts: float
    cameras: tuple[CameraLive, ...]
    coverage: dict[str, bool]
    stage: str | None
    stage_reached: str | None


@dataclass(frozen=True)
class EventSeen:
    origin: Origin
    msg_id: str
    type: str
    ts: float
    session: int
    data: dict[str, Any] = field(default_factory=dict)


Observation = StateSeen | BirthSeen | HeartbeatSeen | EventSeen


@dataclass(frozen=True)
class Bad:
    topic: str
    reason: str  # short code: too_large, not_json, invalid, bad_topic, mismatch
    detail: str


@dataclass(frozen=True)
class Ignored:
    """Traffic that is not about a store's state (commands, results, other roots)."""

    topic: str


# --- the optional v1 fields, read whether or not the box's models know them --------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _StoreExtra(_Lenient):
    expected_completion: str | None = Field(default=None, pattern=_MONTH)


class _BirthExtra(_Lenient):
    store: _StoreExtra = Field(default_factory=_StoreExtra)
    stage_reached: Stage | None = None


class _CameraExtra(_Lenient):
    id: str
    enrolled: bool | None = None


class _HeartbeatExtra(_Lenient):
    stage_reached: Stage | None = None
    cameras: list[_CameraExtra] = Field(default_factory=list)


# --- parsing -----------------------------------------------------------------------------


def split_topic(topic: str, root: str) -> tuple[str, str, str] | None:
    """``<root>/<district>/<store>/<kind>`` -> (district, store, kind), else None."""
    prefix = root + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if len(parts) < 3:
        return None
    district, store, kind = parts[0], parts[1], "/".join(parts[2:])
    return district, store, kind


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _short(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(message)"
    return f"{loc}: {first['msg']} ({error.error_count()} problem(s))"


def _stage(value: object) -> str | None:
    return str(value) if value is not None else None


def parse(message: Incoming, root: str, max_bytes: int) -> Observation | Bad | Ignored:
    """Classify and validate one message (see the module docstring)."""
    parts = split_topic(message.topic, root)
    if parts is None:
        return Ignored(message.topic)
    district, store_id, kind = parts
    if kind not in KINDS:
        return Ignored(message.topic)  # cmd, cmd/result, future kinds
    if not (_SLUG.match(district) and _SLUG.match(store_id)):
        return Bad(message.topic, "bad_topic", "district or store id is not a slug")
    if len(message.payload) > max_bytes:
        return Bad(message.topic, "too_large", f"{len(message.payload)} bytes > {max_bytes}")
    if not message.payload:
        # An empty retained payload is how someone clears a retained topic: not a message.
        return Ignored(message.topic)
    try:
        raw = json.loads(message.payload)
    except (ValueError, UnicodeDecodeError) as error:
        return Bad(message.topic, "not_json", str(error)[:200])
    except RecursionError:
        return Bad(message.topic, "not_json", "nested too deeply")
    if not isinstance(raw, dict):
        return Bad(message.topic, "invalid", "the payload is not a JSON object")
    origin = Origin(store_id, district, message.received_at, message.retained)
    try:
        if kind == "state":
            return _state(origin, raw)
        if kind == "birth":
            return _birth(origin, raw, message.topic)
        if kind == "heartbeat":
            return _heartbeat(origin, raw)
        return _event(origin, raw)
    except ValidationError as error:
        return Bad(message.topic, "invalid", _short(error))


def _state(origin: Origin, raw: dict[str, Any]) -> StateSeen:
    state = StateMessage.model_validate(raw)
    return StateSeen(origin, state.online, state.session, state.reason, _epoch(state.ts))


def _birth(origin: Origin, raw: dict[str, Any], topic: str) -> BirthSeen | Bad:
    birth = BirthMessage.model_validate(raw)
    extra = _BirthExtra.model_validate(raw)
    if birth.store.id != origin.store_id or birth.store.district != origin.district:
        return Bad(
            topic,
            "mismatch",
            f"birth says {birth.store.district}/{birth.store.id}, the topic "
            f"{origin.district}/{origin.store_id}",
        )
    reached = getattr(birth, "stage_reached", None) or extra.stage_reached
    return BirthSeen(
        origin=origin,
        session=birth.session,
        ts=_epoch(birth.ts),
        agent_version=birth.agent_version,
        heartbeat_interval_s=max(1, birth.heartbeat_interval_s),
        name=birth.store.name,
        licence_number=birth.store.licence_number,
        address=birth.store.address,
        kcps=tuple(birth.store.kcps),
        cameras=tuple(CameraDecl(c.id, c.name, tuple(c.kcps)) for c in birth.cameras),
        stage=_stage(birth.stage),
        stage_reached=_stage(reached),
        expected_completion=extra.store.expected_completion,
    )


def _heartbeat(origin: Origin, raw: dict[str, Any]) -> HeartbeatSeen:
    beat = HeartbeatMessage.model_validate(raw)
    extra = _HeartbeatExtra.model_validate(raw)
    enrolled = {c.id: c.enrolled for c in extra.cameras}
    cameras = tuple(
        CameraLive(
            id=c.id,
            online=c.online,
            error=c.error,
            stream=c.stream,
            quality=c.quality,
            issues=tuple(c.issues),
            enrolled=enrolled.get(c.id),
        )
        for c in beat.cameras
    )
    reached = getattr(beat, "stage_reached", None) or extra.stage_reached
    has_reached = "stage_reached" in raw
    return HeartbeatSeen(
        origin=origin,
        session=beat.session,
        seq=beat.seq,
        ts=_epoch(beat.ts),
        cameras=cameras,
        coverage=dict(beat.coverage.kcps),
        stage=_stage(beat.stage),
        # A box that does not send stage_reached yet: its live stage stands in for it.
        stage_reached=_stage(reached) if has_reached else _stage(beat.stage),
    )


def _event(origin: Origin, raw: dict[str, Any]) -> EventSeen:
    event = EventMessage.model_validate(raw)
    return EventSeen(
        origin=origin,
        msg_id=event.msg_id[:128],
        type=event.type,
        ts=_epoch(event.ts),
        session=event.session,
        data=dict(event.data),
    )


# --- event payloads the fleet acts on ------------------------------------------------------


class CameraEventData(_Lenient):
    camera_id: str = Field(min_length=1, max_length=128)


class QualityAlarmData(CameraEventData):
    code: str = Field(min_length=1, max_length=64)
    state: Literal["raised", "cleared"] | None = None
    raised: bool | None = None
    severity: str | None = Field(default=None, max_length=16)

    @property
    def is_raised(self) -> bool | None:
        if self.state is not None:
            return self.state == "raised"
        return self.raised


class KcpEventData(_Lenient):
    kcp: str = Field(min_length=1, max_length=32)


class StageChangedData(_Lenient):
    stage: Stage | None = None
    previous: Stage | None = None
    stage_reached: Stage | None = None


EVENT_DATA: dict[str, type[BaseModel]] = {
    "camera_offline": CameraEventData,
    "camera_online": CameraEventData,
    "quality_alarm": QualityAlarmData,
    "kcp_uncovered": KcpEventData,
    "kcp_covered": KcpEventData,
    "stage_changed": StageChangedData,
}


def event_data(event: EventSeen) -> BaseModel | None:
    """The typed payload of an event type the fleet records; None for other types.

    Raises ValidationError when a known type's data is malformed."""
    model = EVENT_DATA.get(event.type)
    if model is None:
        return None
    return model.model_validate(event.data)
