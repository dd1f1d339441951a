"""The box's basic checks (config, credentials, ffmpeg, disk, the running agent), each
small and independent; :mod:`agent.site.diagnosis` runs them with the network, broker,
ingest and camera checks for ``kitchen-agent diagnose`` and the MQTT ``diagnose`` command.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.errors import AgentError
from agent.secrets import (
    CAMERA_PASSWORD,
    MQTT_PASSWORD,
    STREAM_TOKEN,
    CredentialStore,
    SecretState,
    credentials_dir,
)
from agent.site.checks import FAIL, OK, WARN, overall

__all__ = ["FAIL", "OK", "WARN", "Check", "overall"]


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    hint: str | None = None


def check_credentials(config: AgentConfig) -> Check:
    store = CredentialStore(credentials_dir(config.paths.credentials_dir))
    needed = [CAMERA_PASSWORD]
    if config.broker.username:
        needed.append(MQTT_PASSWORD)
    if config.streams.ingest_url and "{token}" in config.streams.ingest_url:
        needed.append(STREAM_TOKEN)
    # An empty file (what install.sh leaves) is no secret: the agent reads it as unset.
    lacking = [name for name in needed if store.state(name) is not SecretState.PRESENT]
    if lacking:
        return Check(
            "credentials",
            FAIL,
            "; ".join(f"{name}: {store.describe(name)}" for name in lacking),
            "write each secret to its file (mode 0600)",
        )
    return Check("credentials", OK, f"{store.directory}: {', '.join(needed)} present")


def check_tools() -> Check:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        return Check(
            "tools", FAIL, f"not installed: {', '.join(missing)}", "apt-get install ffmpeg"
        )
    return Check("tools", OK, "ffmpeg and ffprobe installed")


def check_state_dir(config: AgentConfig) -> Check:
    directory = config.paths.state_dir
    if not directory.exists():
        return Check("storage", WARN, f"{directory} does not exist yet (the agent creates it)")
    try:
        usage = shutil.disk_usage(directory)
    except OSError as error:
        return Check("storage", FAIL, f"{directory}: {error.strerror}")
    if not os.access(directory, os.W_OK):
        return Check("storage", FAIL, f"{directory} is not writable")
    free_mb = usage.free / 1e6
    if free_mb < 100:
        return Check("storage", WARN, f"{directory}: only {free_mb:.0f} MB free")
    return Check("storage", OK, f"{directory}: {free_mb:.0f} MB free")


def check_daemon(config: AgentConfig | None, timeout_s: float) -> Check:
    """Is the agent for this config running, and is it running this config?

    Asked over the agent's status socket (``/proc`` is mounted ``hidepid``, and a process
    list cannot tell which config an agent runs): the answer comes from the daemon itself.
    """
    from agent.config import config_hash
    from agent.config.paths import DEFAULT_RUNTIME_DIR
    from agent.errors import AgentNotRunning, StatusNotAllowed
    from agent.status.channel import ask_status, socket_path

    path = socket_path(config.paths.runtime if config is not None else DEFAULT_RUNTIME_DIR)
    hint = "systemctl status kitchen-agent; journalctl -u kitchen-agent -n 50"
    try:
        report = ask_status(path, timeout_s)
    except (AgentNotRunning, StatusNotAllowed) as error:
        return Check("daemon", WARN, error.message, hint)
    except AgentError as error:
        return Check("daemon", FAIL, error.message, "systemctl restart kitchen-agent")
    running = f"kitchen-agent {report.version} is running (pid {report.pid}, up "
    running += f"{report.uptime_s / 3600:.1f} h): {report.summary}"
    if config is not None and report.config_hash != config_hash(config):
        return Check(
            "daemon",
            WARN,
            f"{running}; it runs config {report.config_hash} from {report.config_path}, "
            f"not this file's {config_hash(config)}",
            "apply the file: systemctl reload kitchen-agent",
        )
    troubled = [w for w in report.workers if w.state != "running"]
    if troubled:
        names = ", ".join(f"{w.name} {w.state.value}" for w in troubled)
        return Check("daemon", WARN, f"{running}; workers: {names}", hint)
    return Check("daemon", OK, running)


def run_diagnosis(
    config_path: Path,
    timeout_s: float = 3.0,
    deep: bool = False,
) -> dict[str, Any]:
    """The checks as the MQTT ``diagnose`` command gives them (run inside the daemon, which
    adds its own picture of cameras and streams); ``kitchen-agent diagnose`` runs them deep
    (:func:`agent.site.diagnosis.diagnose`)."""
    from agent.site.diagnosis import diagnose

    return diagnose(config_path, timeout_s, deep=deep).to_json()
