"""Every event the agent raises, one typed payload per event type.

Workers on either side build these; the outbox stores them; the reporter publishes them
as the ``data`` of an ``event`` message. The per-event JSON Schemas under
``docs/schemas/events/`` are generated from these models, so what the box emits and what
ops read cannot drift apart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from agent.model.camera import ErrorInfo
from agent.model.states import AlarmState, CoverageReason, RouteName, Severity, Stage

CameraId = Field(description="Camera id.")


class EventPayload(BaseModel):
    """The ``data`` of one event type. Subclasses set ``TYPE`` and ``DESCRIPTION``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    DESCRIPTION: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class AgentStarted(EventPayload):
    TYPE = "agent_started"
    DESCRIPTION = "The agent process started."
    version: str = Field(description="kitchen-agent version.")
    config_hash: str = Field(description="Hash of the effective configuration.")


class AgentStopping(EventPayload):
    TYPE = "agent_stopping"
    DESCRIPTION = "The agent is stopping cleanly (service stop, reboot)."
    reason: str = Field(description="Why: `stopped` (a signal from systemd or a person).")


class CameraOffline(EventPayload):
    TYPE = "camera_offline"
    DESCRIPTION = "A camera stopped answering (or announced it is leaving the network)."
    camera_id: str = CameraId
    address: str | None = Field(description="Where it was last reached (host or host:port).")
    error: ErrorInfo | None = Field(description="Why it is offline (e.g. timeout).")


class CameraOnline(EventPayload):
    TYPE = "camera_online"
    DESCRIPTION = (
        "A camera answers (first found, or back). `error` is set when it answers but is "
        "not usable yet (e.g. auth_failed: online, wrong password)."
    )
    camera_id: str = CameraId
    address: str | None = Field(description="Where it answers (host or host:port).")
    error: ErrorInfo | None = Field(description="A problem short of being offline, or null.")


class QualityAlarm(EventPayload):
    TYPE = "quality_alarm"
    DESCRIPTION = (
        "A video quality alarm was raised (after quality.raise_after bad samples) or "
        "cleared (after quality.clear_after good ones)."
    )
    camera_id: str = CameraId
    code: str = Field(
        description="A quality check code (see docs/mqtt.md), `no_frame` (an online camera "
        "gives no picture) or `roi:<kcp>` (that KCP's region left the view)."
    )
    state: AlarmState = Field(description="raised | cleared.")
    raised: bool = Field(description="Same as state == raised (kept for older consumers).")
    severity: Severity | None = Field(description="warn | fail (fail uncovers the camera's KCPs).")
    value: float | None = Field(description="The measured value that decided it.")
    threshold: float | None = Field(description="The threshold it was compared with.")


class QualityReferenceEnrolled(EventPayload):
    TYPE = "quality_reference_enrolled"
    DESCRIPTION = "A camera's view was enrolled as its reference."
    camera_id: str = CameraId
    features: int = Field(description="How many ORB features the view has.")
    source_size: tuple[int, int] = Field(description="Width and height of the enrolled picture.")


class QualityReferenceRenewed(EventPayload):
    TYPE = "quality_reference_renewed"
    DESCRIPTION = (
        "A camera's reference was replaced by a clearer view of the same scene: judged "
        "against it, the old reference was veiled or soft (taken through steam, grease or "
        "a lens out of focus, which one frame could not tell)."
    )
    camera_id: str = CameraId
    old_view: list[str] = Field(
        description="What the old reference showed against the new view: low_contrast "
        "(a veil), blurred."
    )
    features: int = Field(description="How many ORB features the new view has.")
    source_size: tuple[int, int] = Field(description="Width and height of the new picture.")


class QualityReferenceReset(EventPayload):
    TYPE = "quality_reference_reset"
    DESCRIPTION = "A camera's reference was forgotten; its next usable frame is enrolled."
    camera_id: str = CameraId


class KcpUncovered(EventPayload):
    TYPE = "kcp_uncovered"
    DESCRIPTION = "A declared key control point lost its last healthy camera."
    kcp: str = Field(description="KCP code (cooking, cold_room, ...).")
    reason: CoverageReason | None = Field(
        description="no_camera | out_of_view | failing | offline."
    )
    camera_ids: list[str] = Field(description="Cameras assigned to the KCP.")


class KcpCovered(EventPayload):
    TYPE = "kcp_covered"
    DESCRIPTION = "A declared key control point is covered again."
    kcp: str = Field(description="KCP code.")
    camera_ids: list[str] = Field(description="Cameras that cover it now.")


class StreamDown(EventPayload):
    TYPE = "stream_down"
    DESCRIPTION = "A platform stream stopped (failed, paused, stopped or restarted)."
    camera_id: str = CameraId
    reason: str | None = Field(
        description="Why: an error code (ffmpeg_exited, stalled, no_output, restart_limit, "
        "ffmpeg_missing), no_route, paused_for_uplink, idle, stopped, restart_command, "
        "route_changed, camera_removed or agent_stopping."
    )
    error: ErrorInfo | None = Field(description="The error, when it failed.")


class StreamUp(EventPayload):
    TYPE = "stream_up"
    DESCRIPTION = "A platform stream is up (ffmpeg makes progress)."
    camera_id: str = CameraId
    route: RouteName | None = Field(description="copy | set_encoder | transcode.")
    cap_kbps: int | None = Field(description="Bitrate cap the stream runs under, kbit/s.")


class ConfigApplied(EventPayload):
    TYPE = "config_applied"
    DESCRIPTION = "A configuration was (re)loaded and is in effect."
    config_hash: str = Field(description="Hash of the configuration now in effect.")
    changed: bool = Field(description="False when the file was the same as before.")
    restarted: list[str] = Field(
        default_factory=list,
        description="Workers the change rebuilt, started or stopped (mqtt, status, discovery, "
        "quality, streams); the others kept running, their connections and relays intact.",
    )


class ConfigRejected(EventPayload):
    TYPE = "config_rejected"
    DESCRIPTION = "A configuration was refused; the previous one stays in effect."
    problems: list[str] = Field(description="One `file:line: field: message` per problem.")


class StageChanged(EventPayload):
    TYPE = "stage_changed"
    DESCRIPTION = (
        "The store's construction stage changed: the live `stage` (with hysteresis) or "
        "`stage_reached`, the highest stage held for 10 minutes (annex 4's 建设进度)."
    )
    stage: Stage | None = Field(description="The live stage now (null: not known yet).")
    previous: Stage | None = Field(description="The live stage before.")
    stage_reached: Stage = Field(description="The highest stage held for 10 minutes.")
    previous_reached: Stage | None = Field(
        default=None, description="stage_reached before (differs when it moved)."
    )


EVENT_PAYLOADS: dict[str, type[EventPayload]] = {
    model.TYPE: model
    for model in (
        AgentStarted,
        AgentStopping,
        CameraOffline,
        CameraOnline,
        QualityAlarm,
        QualityReferenceEnrolled,
        QualityReferenceRenewed,
        QualityReferenceReset,
        KcpUncovered,
        KcpCovered,
        StreamDown,
        StreamUp,
        ConfigApplied,
        ConfigRejected,
        StageChanged,
    )
}


def payload_from(event_type: str, data: Mapping[str, Any]) -> EventPayload:
    """The typed payload of a stored or received event (raises ValueError if unknown)."""
    model = EVENT_PAYLOADS.get(event_type)
    if model is None:
        raise ValueError(f"unknown event type {event_type!r}")
    return model.model_validate(dict(data))


@dataclass(frozen=True)
class Event:
    """Something ops must hear about exactly once, e.g. ``camera_offline``."""

    payload: EventPayload
    msg_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts: float = field(default_factory=time.time)

    @property
    def type(self) -> str:
        return self.payload.TYPE
