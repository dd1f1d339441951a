"""The ``kitchen-agent`` command line.

Each command lives in its own module under ``agent.commands`` and is listed in
``COMMAND_MODULES``; a module's ``register(subparsers)`` adds its parser and sets
``handler`` (``Callable[[argparse.Namespace], int]``) as a default.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agent import __version__
from agent.cli_support import print_json
from agent.errors import AgentError, ExitCode

COMMAND_MODULES: tuple[str, ...] = (
    "agent.commands.config_cmd",
    "agent.commands.run_cmd",
    "agent.commands.status_cmd",
    "agent.commands.diagnose_cmd",
    "agent.commands.discover_cmd",
    "agent.commands.check_frame_cmd",
    "agent.commands.reference_cmd",
    "agent.commands.enroll_cmd",
    "agent.commands.acceptance_cmd",
    "agent.commands.fleet_cmd",
)


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a one-line message, as our exit-code contract says."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(ExitCode.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kitchen-agent",
        description="Edge agent for Internet + Bright Kitchen (互联网＋明厨亮灶) restaurants.",
    )
    parser.add_argument("--version", action="version", version=f"kitchen-agent {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=("debug", "info", "warning", "error"),
        help="log level on stderr (default: info, or the config's log.level)",
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, required=True
    )
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from agent.logs import configure_logging

    configure_logging(level=args.log_level or "info")
    try:
        return int(args.handler(args))
    except AgentError as error:
        if getattr(args, "json", False):
            print_json({"error": error.to_dict()})
        else:
            sys.stderr.write(f"kitchen-agent: {error.message}\n")
        return int(error.exit_code)
    except KeyboardInterrupt:
        return 130


def entry_point() -> None:
    sys.exit(main())
