"""``kitchen-agent diagnose``: what is wrong with this box, in one command."""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli_support import add_config_flag, add_json_flag, config_path, emit, table

MARK = {"ok": "OK", "warn": "WARN", "fail": "FAIL"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="check config, credentials, network, clock, ffmpeg, broker, ingest and cameras",
        description="Run every health check with short timeouts and print what is wrong and "
        "what to do. Exit 0 when all is well, 1 when any check failed.",
    )
    parser.add_argument(
        "--timeout", type=float, default=3.0, metavar="S", help="timeout of each network check"
    )
    add_config_flag(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from agent.diagnose import run_diagnosis

    report = run_diagnosis(config_path(args), timeout_s=args.timeout)
    rows = [
        (MARK[c["status"]], c["name"], c["detail"] + (f" → {c['hint']}" if c["hint"] else ""))
        for c in report["checks"]
    ]
    human = table(("", "check", "detail"), rows) + f"\n\nverdict: {report['verdict'].upper()}"
    emit(args, report, human)
    return 1 if report["verdict"] == "fail" else 0
