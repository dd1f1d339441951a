"""``paths:`` — where the agent keeps its state."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from agent.config.base import Section


class PathsConfig(Section):
    state_dir: Path = Field(
        default=Path("/var/lib/kitchen-agent"),
        description="Persistent state: inventory, baselines, outbox, session counter.",
    )
    credentials_dir: Path | None = Field(
        default=None,
        description="Folder of secret files (camera-password, mqtt-password, stream-token). "
        "Default: $CREDENTIALS_DIRECTORY when set, else /etc/kitchen-agent/credentials.",
    )
