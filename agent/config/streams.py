"""``streams:`` — pushing low-bitrate live video to the delivery platform's ingest."""

from __future__ import annotations

import string
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from agent.config.base import Section

INGEST_SCHEMES = ("rtmp", "rtmps", "rtsp", "srt")
INGEST_PLACEHOLDERS = ("store_id", "camera_id", "kcp", "token")

StreamMode = Literal["always", "on_demand"]


class CameraStreamConfig(Section):
    """Per-camera exceptions to the ``streams:`` defaults (keyed by camera id)."""

    priority: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Priority when the uplink is short (higher keeps its stream longer); "
        "default: from the camera's riskiest KCP (cold_room 6 ... storage 1; none 0).",
    )
    enabled: bool = Field(default=True, description="False: never stream this camera.")
    mode: StreamMode | None = Field(
        default=None, description="always or on_demand for this camera (default: streams.mode)."
    )
    max_kbps: int | None = Field(
        default=None, ge=64, le=8000, description="Bitrate cap of this camera (default: max_kbps)."
    )


class StreamsConfig(Section):
    ingest_url: str | None = Field(
        default=None,
        description="Ingest URL template (rtmp://, rtmps://, rtsp://, srt://) with "
        "{store_id}, {camera_id}, {kcp} and {token} (from the credential stream-token). "
        "Unset: no streaming.",
    )
    max_kbps: int = Field(
        default=512, ge=64, le=8000, description="Bitrate cap of one camera's stream."
    )
    uplink_kbps: int = Field(
        default=2048,
        ge=64,
        le=100000,
        description="Budget for all streams together; lower-priority cameras give way.",
    )
    min_kbps: int = Field(
        default=160,
        ge=64,
        le=8000,
        description="Lowest cap a camera is squeezed to when the uplink is short; below "
        "that, the lowest-priority camera pauses instead.",
    )
    mode: StreamMode = Field(
        default="always",
        description="always: stream every enrolled camera; on_demand: only after a "
        "start_stream MQTT command, for its duration_s or else idle_timeout_s (each start "
        "renews it), or until a stop_stream command.",
    )
    idle_timeout_s: int = Field(
        default=300,
        ge=10,
        le=86400,
        description="An on-demand stream stops this long after its last start_stream "
        "command, unless that command gave its own duration_s.",
    )
    set_encoder: bool = Field(
        default=False,
        description="Before transcoding, try to set the camera's sub-stream encoder over "
        "ONVIF to H.264 at the cap (SetVideoEncoderConfiguration) and copy it instead.",
    )
    transcode_fps: int = Field(
        default=15, ge=1, le=30, description="Frame rate of a transcoded stream."
    )
    transcode_height: int = Field(
        default=360,
        ge=144,
        le=1080,
        description="Height of a transcoded stream (width keeps the aspect ratio); never upscaled.",
    )
    transcode_preset: Literal["ultrafast", "superfast", "veryfast", "faster"] = Field(
        default="veryfast", description="libx264 preset of the transcode route."
    )
    stall_timeout_s: float = Field(
        default=8.0,
        ge=3.0,
        le=120.0,
        description="A relay whose output has not advanced for this long is restarted "
        "(a frozen camera, a stuck ingest).",
    )
    input_timeout_s: float = Field(
        default=5.0, ge=1.0, le=60.0, description="ffmpeg socket timeout towards the camera."
    )
    output_timeout_s: float = Field(
        default=10.0, ge=1.0, le=120.0, description="ffmpeg socket timeout towards the ingest."
    )
    restart_backoff_s: float = Field(
        default=1.0,
        ge=0.1,
        le=60.0,
        description="First wait before restarting a failed relay; doubles per failure.",
    )
    restart_backoff_max_s: float = Field(
        default=60.0, ge=1.0, le=3600.0, description="Longest wait between restarts."
    )
    max_restarts_per_hour: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Restart-rate limit per camera; past it, the relay waits for the hour "
        "to roll over.",
    )
    ffmpeg: str = Field(default="ffmpeg", description="ffmpeg executable (name or path).")
    cameras: dict[str, CameraStreamConfig] = Field(
        default_factory=dict,
        description="Per-camera settings by camera id: priority, mode, max_kbps.",
    )

    @field_validator("ingest_url")
    @classmethod
    def _valid_ingest_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as error:
            raise ValueError(f"is not a valid template: {error}") from None
        unknown = sorted({name for name in fields if name not in INGEST_PLACEHOLDERS})
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{unknown[0]}}}; use {', '.join(INGEST_PLACEHOLDERS)}"
            )
        scheme = urlsplit(value).scheme.lower()
        if scheme not in INGEST_SCHEMES:
            raise ValueError(f"must start with {', '.join(s + '://' for s in INGEST_SCHEMES)}")
        return value

    def mode_of(self, camera_id: str) -> StreamMode:
        """always or on_demand for this camera (its override, else streams.mode)."""
        override = self.cameras.get(camera_id)
        return override.mode if override is not None and override.mode else self.mode

    def enabled_for(self, camera_id: str) -> bool:
        override = self.cameras.get(camera_id)
        return override is None or override.enabled

    @model_validator(mode="after")
    def _min_within_max(self) -> StreamsConfig:
        if self.min_kbps > self.max_kbps:
            raise ValueError("streams.min_kbps must not exceed streams.max_kbps")
        return self
