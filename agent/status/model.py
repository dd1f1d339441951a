"""What ``kitchen-agent status --json`` prints: the running agent's own picture.

The daemon answers it on its status socket; the models are the contract of that answer
and the JSON Schema ``docs/schemas/status.schema.json`` is generated from them
(``python -m agent.status docs/schemas``; a test proves the committed copy is current).
New optional fields may appear; scripts must ignore fields they do not know.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.model import (
    CoverageReason,
    ErrorInfo,
    RouteName,
    Stage,
    StreamState,
    UplinkState,
    Verdict,
    WorkerState,
)

Phase = Literal["starting", "running", "reloading", "stopping"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class StoreView(_Part):
    id: str = Field(description="Store id.")
    name: str = Field(description="Store name (单位名称).")
    district: str = Field(description="District slug.")


class UplinkView(_Part):
    state: UplinkState = Field(description="connected | connecting | offline | stopped.")
    broker: str = Field(description="Broker URL (no credentials).")
    session: int | None = Field(description="Session number of the current or last connection.")
    rtt_ms: float | None = Field(description="Round trip of the last acknowledged publish, ms.")
    since: float | None = Field(description="Unix time the state last changed.")
    error: str | None = Field(description="Why the last connection attempt failed.")


class QualityView(_Part):
    verdict: Verdict = Field(description="Verdict of the last sample.")
    alarms: list[str] = Field(description="Codes of the alarms raised now.")
    issues: list[str] = Field(description="Codes of the last sample's issues.")
    checked_at: float | None = Field(description="Unix time of the last sample.")


class StreamView(_Part):
    state: StreamState = Field(description="Platform stream state.")
    route: RouteName | None = Field(description="copy | set_encoder | transcode, when running.")
    kbps: float | None = Field(description="Bitrate now, kbit/s.")
    cap_kbps: int | None = Field(description="Bitrate cap given by the uplink budget.")
    restarts_last_hour: int = Field(description="Relay restarts in the last hour.")
    error: ErrorInfo | None = Field(description="Why it is not up.")


class CameraView(_Part):
    id: str = Field(description="Camera id.")
    name: str | None = Field(description="Name given at enrolment.")
    enrolled: bool = Field(description="In cameras.enrolled (else only discovered).")
    kcps: list[str] = Field(description="Key control points assigned to it.")
    online: bool = Field(description="The camera answers.")
    address: str | None = Field(description="Where it was last found.")
    error: ErrorInfo | None = Field(description="Why it is not healthy.")
    quality: QualityView
    stream: StreamView


class KcpView(_Part):
    kcp: str = Field(description="Key control point code.")
    covered: bool = Field(description="A healthy camera shows it now.")
    cameras: list[str] = Field(description="Cameras covering it now.")
    assigned: list[str] = Field(description="Cameras assigned to it.")
    reason: CoverageReason | None = Field(description="Why it is not covered.")


class CoverageView(_Part):
    declared: int = Field(description="KCPs the store declared.")
    covered: int = Field(description="Of those, covered now.")
    evaluated: bool = Field(description="False until the quality worker judged coverage once.")
    kcps: list[KcpView] = Field(description="Per declared KCP, in declaration order.")


class OutboxView(_Part):
    depth: int = Field(description="Events stored and not yet acknowledged by the broker.")
    dropped: int = Field(description="Events dropped (outbox full or too old) since install.")


class WorkerView(_Part):
    name: str = Field(description="Worker name.")
    state: WorkerState = Field(description="running | restarting | wedged | failed | stopped.")
    restarts: int = Field(description="Crashes in the supervisor's restart window.")
    error: str | None = Field(description="Why it last crashed.")
    beat_age_s: float = Field(description="Seconds since it last checked in.")


class StatusReport(_Part):
    """The running agent's picture of its kitchen, as ``kitchen-agent status`` shows it."""

    ts: float = Field(description="Unix time of this picture.")
    version: str = Field(description="kitchen-agent version.")
    pid: int = Field(description="Process id of the daemon.")
    config_path: str = Field(description="Config file the daemon runs from.")
    config_hash: str = Field(description="Hash of the running config (16 hex).")
    uptime_s: float = Field(description="Seconds since the daemon started.")
    phase: Phase = Field(description="starting | running | reloading | stopping.")
    summary: str = Field(description="The one-line summary also sent to systemd (STATUS=).")
    store: StoreView
    stage: Stage = Field(
        description="Construction stage the store shows now (live, with hysteresis)."
    )
    stage_reached: Stage = Field(
        description="The highest stage held for 10 minutes (annex 4's 建设进度); goes back "
        "only when enrolment is undone."
    )
    uplink: UplinkView
    cameras: list[CameraView] = Field(description="Enrolled cameras first, then found ones.")
    coverage: CoverageView
    outbox: OutboxView
    workers: list[WorkerView]


def status_json_schema() -> dict[str, Any]:
    schema = StatusReport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "kitchen-agent/status.schema.json"
    return schema


def render_status_schema() -> str:
    return json.dumps(status_json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
