"""``quality:`` — video quality diagnosis (视频质量诊断) settings."""

from __future__ import annotations

from pydantic import Field

from agent.config.base import Section


class QualityConfig(Section):
    interval_s: int = Field(
        default=60, ge=5, le=3600, description="Seconds between quality checks of a camera."
    )
