"""The root of the configuration: one model per section, validated together."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field

from agent.config.base import Section
from agent.config.broker import BrokerConfig
from agent.config.cameras import CamerasConfig
from agent.config.paths import PathsConfig
from agent.config.quality import QualityConfig
from agent.config.store import StoreConfig
from agent.config.streams import StreamsConfig


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level (logs go to journald as JSON lines)."
    )


class AgentConfig(Section):
    """kitchen-agent configuration (/etc/kitchen-agent/agent.yaml). Secrets are not here:
    they are files in the credentials directory."""

    store: StoreConfig = Field(description="The restaurant this box belongs to.")
    broker: BrokerConfig = Field(description="Central MQTT broker.")
    cameras: CamerasConfig = Field(
        default_factory=CamerasConfig, description="Camera discovery, login and enrolment."
    )
    quality: QualityConfig = Field(
        default_factory=QualityConfig, description="Video quality diagnosis."
    )
    streams: StreamsConfig = Field(
        default_factory=StreamsConfig, description="Live video to the delivery platform."
    )
    paths: PathsConfig = Field(default_factory=PathsConfig, description="Where state is kept.")
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")


def config_hash(config: AgentConfig) -> str:
    """A short stable fingerprint of the effective config (shown in birth messages)."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def config_json_schema() -> dict[str, object]:
    schema = AgentConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kitchen-agent.invalid/schemas/agent-config.json"
    return schema
