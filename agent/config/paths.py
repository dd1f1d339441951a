"""``paths:`` — where the agent keeps its state and its runtime files."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from agent.config.base import Section

DEFAULT_RUNTIME_DIR = Path("/run/kitchen-agent")


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
    runtime_dir: Path | None = Field(
        default=None,
        description="Runtime files: the status socket status.sock that `kitchen-agent "
        "status` asks (mode 0660, group kitchen-tech). Default: $RUNTIME_DIRECTORY when "
        "set (systemd's RuntimeDirectory=), else /run/kitchen-agent.",
    )

    @property
    def runtime(self) -> Path:
        """The runtime folder in use: configured, else systemd's, else /run/kitchen-agent."""
        if self.runtime_dir is not None:
            return self.runtime_dir
        from_systemd = os.environ.get("RUNTIME_DIRECTORY")
        if from_systemd:
            # systemd lists every RuntimeDirectory= separated by colons; ours is the first.
            return Path(from_systemd.split(":")[0])
        return DEFAULT_RUNTIME_DIR
