"""Everything the fleet takes from the box's side, in one place.

The box's message models are the MQTT contract (``docs/mqtt.md``); the stage names are the
programme's; the error family, scrubbing, atomic writes, logging and the YAML loader with
line numbers are shared conventions. Box modules move, so no other fleet module imports
them directly: they import from here.

Optional fields the box adds within ``kitchen/v1`` (``stage_reached``,
``store.expected_completion``, per-camera ``enrolled``) are read by the fleet's own small
models in :mod:`agent.fleet.ingest` whether or not the box's models know them yet.
"""

from __future__ import annotations

from structlog.contextvars import bind_contextvars as bind_context

from agent.cli_support import add_json_flag, emit, print_json, progress, table
from agent.config.loader import (
    LineMap,
    Problem,
    find_secrets,
    format_loc,
    parse_yaml,
    read_config_text,
    translate_error,
)
from agent.errors import (
    AgentError,
    ConfigError,
    ExitCode,
    SecretMissingError,
    TemporaryError,
    UnavailableError,
    UsageError,
)
from agent.kcp import CATALOGUE as KCP_CATALOGUE
from agent.kcp import Kcp
from agent.logs import configure_logging
from agent.model import STAGE_NAMES_ZH, Stage
from agent.persist import atomic_write_bytes, atomic_write_text
from agent.scrub import register_secret, scrub
from agent.uplink.messages import (
    COMMAND_ARGS,
    BirthMessage,
    CameraBeat,
    Command,
    CommandResultMessage,
    EventMessage,
    HeartbeatMessage,
    SnapshotResult,
    StateMessage,
    utc_now,
)

STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)
COMMAND_NAMES: tuple[str, ...] = tuple(COMMAND_ARGS)

__all__ = [
    "COMMAND_ARGS",
    "COMMAND_NAMES",
    "KCP_CATALOGUE",
    "STAGE_NAMES_ZH",
    "STAGE_ORDER",
    "AgentError",
    "BirthMessage",
    "CameraBeat",
    "Command",
    "CommandResultMessage",
    "ConfigError",
    "EventMessage",
    "ExitCode",
    "HeartbeatMessage",
    "Kcp",
    "LineMap",
    "Problem",
    "SecretMissingError",
    "SnapshotResult",
    "Stage",
    "StateMessage",
    "TemporaryError",
    "UnavailableError",
    "UsageError",
    "add_json_flag",
    "atomic_write_bytes",
    "atomic_write_text",
    "bind_context",
    "configure_logging",
    "emit",
    "find_secrets",
    "format_loc",
    "parse_yaml",
    "print_json",
    "progress",
    "read_config_text",
    "register_secret",
    "scrub",
    "table",
    "translate_error",
    "utc_now",
]
