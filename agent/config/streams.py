"""``streams:`` — pushing low-bitrate live video to the delivery platform's ingest."""

from __future__ import annotations

from pydantic import Field

from agent.config.base import Section


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
