"""Writing configs: commented YAML from the models, and ``--set dotted.key=VALUE``.

The comments come from the field descriptions, the same text that documents the JSON
Schema, so the example config, the provisioned config and the schema never disagree.
"""

from __future__ import annotations

import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from agent.config.loader import LineMap, Loc, _field_info, _inner_model, validate_data
from agent.config.model import AgentConfig
from agent.errors import ConfigError

HEADER = """\
# kitchen-agent configuration (UTF-8).
# Reference: `kitchen-agent config schema`, config/agent.example.yaml.
# Secrets are NOT kept here: they are files in the credentials directory
# ($CREDENTIALS_DIRECTORY under systemd, else /etc/kitchen-agent/credentials):
#   camera-password, mqtt-password, stream-token (camera-password.<camera-id> per camera).
# Check after editing: kitchen-agent config check --config THIS_FILE
"""


def _scalar(value: Any) -> str:
    dumped = yaml.safe_dump(
        value, allow_unicode=True, default_flow_style=True, width=10_000, sort_keys=False
    )
    return dumped.removesuffix("\n...\n").strip()


def _comment(text: str | None, indent: str) -> list[str]:
    if not text:
        return []
    wrapped = textwrap.wrap(text, width=max(40, 92 - len(indent)))
    return [f"{indent}# {line}" for line in wrapped]


def render_yaml(data: dict[str, Any], model: type[BaseModel] = AgentConfig) -> str:
    """``data`` (a full config as plain data) as YAML with every key commented."""
    lines = [HEADER.rstrip("\n")]

    def emit(
        values: dict[str, Any],
        current: type[BaseModel] | None,
        depth: int,
        first_prefix: str = "",
        comments: bool = True,
    ) -> None:
        indent = "  " * depth
        fields = current.model_fields if current is not None else {}
        for index, (key, value) in enumerate(values.items()):
            info = fields.get(key)
            if depth == 0:
                lines.append("")
            prefix = first_prefix if index == 0 and first_prefix else indent
            if comments:
                for line in _comment(info.description if info else None, indent):
                    lines.append(line)
            nested = _inner_model(info.annotation) if info else None
            if isinstance(value, dict) and value:
                lines.append(f"{prefix}{key}:")
                emit(value, nested, depth + 1, comments=comments)
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                lines.append(f"{prefix}{key}:")
                for number, item in enumerate(value):
                    item_indent = "  " * (depth + 1)
                    emit(item, nested, depth + 2, f"{item_indent}- ", comments and number == 0)
            else:
                lines.append(f"{prefix}{key}: {_scalar(value)}")

    emit(data, model, 0)
    return "\n".join(lines) + "\n"


def _is_text_field(annotation: Any) -> bool:
    """True for str / Path / Optional[str]: --set keeps such values verbatim."""
    if annotation in (str, Path):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in (str, Path) for a in args)
    return False


def parse_assignment(text: str) -> tuple[Loc, Any]:
    """``dotted.key=VALUE`` to (location, typed value); YAML rules give the type."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected dotted.key=VALUE")
    loc: Loc = tuple(part for part in key.strip().split(".") if part)
    info = _field_info(AgentConfig, loc)
    if info is not None and _is_text_field(info.annotation):
        return loc, raw
    try:
        return loc, yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        return loc, raw


def apply_assignment(data: dict[str, Any], loc: Loc, value: Any) -> None:
    target = data
    for part in loc[:-1]:
        child = target.get(str(part))
        if not isinstance(child, dict):
            child = {}
            target[str(part)] = child
        target = child
    target[str(loc[-1])] = value


def validate_assignments(data: dict[str, Any], sets: list[str]) -> AgentConfig:
    """Apply every ``--set`` and validate, reporting problems as ``--set key: message``."""
    for item in sets:
        loc, value = parse_assignment(item)
        apply_assignment(data, loc, value)
    try:
        return validate_data(data, LineMap(None), "config")
    except ConfigError as error:
        problems = [p.replace("config: ", "--set ", 1) for p in error.problems]
        raise ConfigError(problems[0], problems) from None


def full_data(config: AgentConfig) -> dict[str, Any]:
    """Every key with its effective value, in model order (for init and show)."""
    dumped: dict[str, Any] = config.model_dump(mode="json")
    return dumped
