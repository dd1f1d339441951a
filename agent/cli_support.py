"""What every CLI command shares: ``--json``/``--config`` flags and output conventions.

Rules for every command:
- ``--json`` prints exactly one JSON object on stdout; everything else (logs, progress)
  goes to stderr.
- Failures are raised as :class:`agent.errors.AgentError`; ``agent.cli`` turns them into
  the error's exit code and, with ``--json``, into ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

DEFAULT_CONFIG_PATH = Path("/etc/kitchen-agent/agent.yaml")
CONFIG_ENV = "KITCHEN_AGENT_CONFIG"

Handler = Callable[[argparse.Namespace], int]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (for scripts)"
    )


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"config file (default: ${CONFIG_ENV} or {DEFAULT_CONFIG_PATH})",
    )


def config_path(args: argparse.Namespace) -> Path:
    """The config file a command reads: --config, then $KITCHEN_AGENT_CONFIG, then /etc."""
    explicit: Path | None = getattr(args, "config", None)
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def print_json(payload: dict[str, Any], stream: TextIO | None = None) -> None:
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(payload, ensure_ascii=False, sort_keys=False, default=str) + "\n")
    out.flush()


def emit(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    """Print ``payload`` as JSON with --json, else the readable ``human`` text."""
    if getattr(args, "json", False):
        print_json(payload)
    else:
        sys.stdout.write(human if human.endswith("\n") else human + "\n")
        sys.stdout.flush()


def progress(message: str) -> None:
    """Progress for people, on stderr so it never mixes with --json output."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K" + message)
    else:
        sys.stderr.write(message + "\n")
    sys.stderr.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table; wide (CJK) characters count as two columns."""
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        padded = [c + " " * (widths[i] - width(c)) for i, c in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
