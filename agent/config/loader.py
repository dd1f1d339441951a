"""Reading agent.yaml: YAML with line numbers, strict validation, messages for people.

Every problem is reported as ``FILE:LINE: dotted.field: what is wrong`` so an installer can
fix a config over a phone line. All problems are collected, not just the first one.

The file is read bounded before any YAML work: at most ``MAX_CONFIG_BYTES``, and its event
stream (linear to parse) is checked for anchors and aliases, node count and nesting depth
before anything is built from it. Aliases are refused outright: a config has no use for them,
and a few hundred bytes of nested aliases expand into billions of nodes in every walk.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agent.config.model import AgentConfig
from agent.errors import ConfigError
from agent.kcp import CODES as KCP_CODES
from agent.scrub import scrub, url_secrets

Loc = tuple[str | int, ...]

MAX_CONFIG_BYTES = 256 * 1024  # a store with 64 cameras needs about 20 KB
MAX_NODES = 20_000
MAX_DEPTH = 32

# Keys that can only hold a secret, and which credential file that secret belongs in.
_SECRET_KEY = re.compile(r"(pass(word|wd|phrase)?|secret|token|psk|private_key)$", re.IGNORECASE)


def credential_for(loc: Loc) -> str:
    section = loc[0] if loc else ""
    return {"broker": "mqtt-password", "streams": "stream-token"}.get(
        str(section), "camera-password"
    )


def format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


@dataclass(frozen=True)
class Problem:
    line: int | None
    loc: Loc
    message: str

    def render(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        return f"{where}: {format_loc(self.loc)}: {self.message}"


class LineMap:
    """Line (1-based) of every key and list item of a composed YAML document."""

    def __init__(self, root: Node | None) -> None:
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, int]] = []
        if root is not None:
            self.lines[()] = root.start_mark.line + 1
            self._walk(root, ())

    def _walk(self, node: Node, loc: Loc) -> None:
        if isinstance(node, MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
                child = (*loc, key)
                if key in seen:
                    self.duplicates.append((child, key_node.start_mark.line + 1))
                seen.add(key)
                self.lines[child] = key_node.start_mark.line + 1
                self._walk(value_node, child)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                child = (*loc, index)
                self.lines[child] = item.start_mark.line + 1
                self._walk(item, child)

    def line_of(self, loc: Loc) -> int | None:
        for end in range(len(loc), -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


def _walk_values(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    yield loc, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk_values(child, (*loc, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk_values(child, (*loc, index))


def find_secrets(data: Any) -> list[tuple[Loc, str]]:
    """Places where the YAML holds a secret, with the message saying where it belongs."""
    found: list[tuple[Loc, str]] = []
    for loc, value in _walk_values(data):
        if not loc:
            continue
        key = loc[-1]
        if isinstance(key, str) and _SECRET_KEY.search(key) and value not in (None, ""):
            found.append(
                (
                    loc,
                    "secrets do not belong in the config: remove this key and put the value "
                    f"in the credentials directory as the file {credential_for(loc)}",
                )
            )
        elif isinstance(value, str) and "password" in url_secrets(value):
            found.append(
                (
                    loc,
                    "this URL contains a password: remove it and put the password in the "
                    f"credentials directory as the file {credential_for(loc)}",
                )
            )
        elif isinstance(value, str) and "://" in value and "query" in url_secrets(value):
            found.append(
                (
                    loc,
                    "this URL contains a literal token: write {token} instead and put the "
                    "token in the credentials directory as the file stream-token",
                )
            )
    return found


def _field_info(model: type[BaseModel], loc: Loc) -> FieldInfo | None:
    """The FieldInfo that ``loc`` points at, following nested models and lists."""
    current: Any = model
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return None
        info = fields[part]
        current = _inner_model(info.annotation)
    return info


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside list[Model] / Model | None, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _bounds(info: FieldInfo | None) -> tuple[Any, Any]:
    low = high = None
    for meta in info.metadata if info else ():
        low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
        low = getattr(meta, "gt", None) if getattr(meta, "gt", None) is not None else low
        high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
        high = getattr(meta, "lt", None) if getattr(meta, "lt", None) is not None else high
    return low, high


def _known_keys(model: type[BaseModel], parent: Loc) -> list[str]:
    current: Any = model
    for part in parent:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _inner_model(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _describe(value: Any) -> str:
    # Scrubbed: a value the check did not take for a secret may still hold one.
    text = scrub(repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


def translate_error(error: Any, model: type[BaseModel] = AgentConfig) -> tuple[Loc, str]:
    """A pydantic error dict as (location, message for a person)."""
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    given = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _known_keys(model, loc[:-1]), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return loc, f"unknown key{hint}"
    if kind == "missing":
        return loc, "is required"
    if kind == "enum" and any(loc[i] == "kcps" for i in range(len(loc))):
        return loc, (
            f"unknown key control point {_describe(given)}; expected one of: "
            + ", ".join(KCP_CODES)
        )
    if kind == "enum":
        return loc, f"must be one of {ctx.get('expected')} (got {_describe(given)})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(_field_info(model, loc))
        if low is not None and high is not None:
            return loc, f"must be between {low} and {high}"
        if low is not None:
            return loc, f"must be at least {low}" if kind.endswith("equal") else f"must be > {low}"
        return loc, f"must be at most {high}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return loc, f"must be a whole number (got {_describe(given)})"
    if kind in ("float_type", "float_parsing"):
        return loc, f"must be a number (got {_describe(given)})"
    if kind in ("bool_type", "bool_parsing"):
        return loc, f"must be true or false (got {_describe(given)})"
    if kind == "string_type":
        if isinstance(given, int | float) and not isinstance(given, bool):
            return loc, f"must be text (got the number {given}; put it in quotes)"
        return loc, f"must be text (got {_describe(given)})"
    if kind == "string_pattern_mismatch":
        return loc, f"{_describe(given)} has the wrong format (expected {ctx.get('pattern')})"
    if kind in ("string_too_short", "too_short"):
        minimum = ctx.get("min_length", 1)
        return loc, "must not be empty" if minimum == 1 else f"needs at least {minimum} items"
    if kind in ("string_too_long", "too_long"):
        return loc, f"is too long (at most {ctx.get('max_length')})"
    if kind in ("list_type", "tuple_type"):
        return loc, f"must be a list (got {_describe(given)})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"must be a mapping of keys (got {_describe(given)})"
    if kind == "value_error":
        return loc, str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return loc, f"must be one of {ctx.get('expected')} (got {_describe(given)})"
    return loc, str(error["msg"])


@dataclass
class _Frame:
    loc: Loc
    mapping: bool
    key: str | int | None = None  # in a mapping, the key whose value comes next
    index: int = 0


def _check_events(text: str, filename: str) -> None:
    """Refuse anchors, aliases, too many nodes and too deep nesting, naming the line and the
    field; one linear pass over YAML events, before any node graph is built."""
    stack: list[_Frame] = []
    nodes = 0

    def here() -> Loc:
        if not stack:
            return ()
        top = stack[-1]
        if top.mapping:
            return top.loc if top.key is None else (*top.loc, top.key)
        return (*top.loc, top.index)

    def done_value() -> None:
        if stack:
            top = stack[-1]
            if top.mapping:
                top.key = None
            else:
                top.index += 1

    def refuse(event: yaml.Event, message: str) -> ConfigError:
        mark = event.start_mark
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        return ConfigError(f"{where}: {format_loc(here())}: {message}")

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if not isinstance(event, yaml.NodeEvent):
            if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                stack.pop()
                done_value()
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise refuse(event, f"the file has more than {MAX_NODES} YAML nodes")
        if isinstance(event, yaml.AliasEvent) or event.anchor is not None:
            raise refuse(
                event,
                "YAML anchors and aliases (&name, *name) are not allowed: write the value out",
            )
        top = stack[-1] if stack else None
        is_key = top is not None and top.mapping and top.key is None
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise refuse(event, f"nested deeper than {MAX_DEPTH} levels")
            if is_key:
                assert top is not None
                top.key = "?"  # a mapping used as a key: the model refuses it later
            stack.append(_Frame(here(), isinstance(event, yaml.MappingStartEvent)))
        elif is_key:
            assert top is not None and isinstance(event, yaml.ScalarEvent)
            top.key = event.value
        else:
            done_value()


def parse_yaml(text: str, filename: str) -> tuple[Any, LineMap]:
    """YAML text to plain data and its line map; ConfigError for broken YAML."""
    try:
        _check_events(text, filename)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        reason = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"{filename}{line}: invalid YAML: {reason}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{filename}: invalid YAML: {error}") from None
    return data, LineMap(root)


def validate_data(data: Any, lines: LineMap, filename: str) -> AgentConfig:
    """Plain data to a validated AgentConfig, or ConfigError listing every problem."""
    if data is None:
        raise ConfigError(f"{filename}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}:1: the top level must be a mapping of sections")
    problems = [
        Problem(line, loc, f"key appears twice (the line {line} one would win)")
        for loc, line in lines.duplicates
    ]
    problems += [Problem(lines.line_of(loc), loc, msg) for loc, msg in find_secrets(data)]
    if not problems:
        try:
            return AgentConfig.model_validate(data)
        except ValidationError as error:
            for item in error.errors():
                loc, message = translate_error(item)
                problems.append(Problem(lines.line_of(loc), loc, message))
    problems.sort(key=lambda p: (p.line or 0, format_loc(p.loc)))
    rendered = [p.render(filename) for p in problems]
    raise ConfigError(rendered[0], rendered)


def load_text(text: str, filename: str = "agent.yaml") -> AgentConfig:
    data, lines = parse_yaml(text, filename)
    return validate_data(data, lines, filename)


def read_config_text(path: Path) -> str:
    name = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{name}: no such file (create one with `kitchen-agent config init`)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory, not a config file") from None
    except OSError as error:
        raise ConfigError(f"{name}: cannot read: {error.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{name}: larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(f"{name}:{line}: not valid UTF-8 (save the file as UTF-8)") from None


def load_config(path: Path) -> AgentConfig:
    """Read and validate the config at ``path``; ConfigError (exit 78) when unusable."""
    return load_text(read_config_text(path), str(path))


# What a running daemon cannot take on a reload: where its durable state lives (the outbox
# of events not yet sent and the MQTT session counter stay open where it started; moving
# them under it would split the store's state between two folders).
RESTART_ONLY: tuple[Loc, ...] = (("paths", "state_dir"),)


def load_for_reload(running: AgentConfig, path: Path) -> AgentConfig:
    """The config at ``path`` for a daemon running ``running``: as :func:`load_config`,
    and ConfigError naming (with its line) each setting that differs from the running
    one and takes effect only at a restart."""
    filename = str(path)
    data, lines = parse_yaml(read_config_text(path), filename)
    new = validate_data(data, lines, filename)
    problems = [
        Problem(
            lines.line_of(loc),
            loc,
            f"changes only when the agent restarts (it runs with {_value_at(running, loc)}): "
            "restart it (systemctl restart kitchen-agent) to use the new value",
        ).render(filename)
        for loc in RESTART_ONLY
        if _value_at(running, loc) != _value_at(new, loc)
    ]
    if problems:
        raise ConfigError(problems[0], problems)
    return new


def _value_at(config: AgentConfig, loc: Loc) -> Any:
    value: Any = config
    for key in loc:
        value = getattr(value, str(key))
    return value
