"""``kitchen-agent run``: the daemon (systemd runs this)."""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli_support import add_config_flag, config_path


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run the agent daemon in the foreground (what systemd starts)",
        description="Run the agent: discover cameras, judge pictures, push streams and "
        "report over MQTT until SIGTERM. SIGHUP reloads the config (a bad one is rejected "
        "and the running config kept).",
    )
    add_config_flag(run)
    run.set_defaults(handler=run_daemon)


def run_daemon(args: argparse.Namespace) -> int:
    from agent.daemon import Daemon
    from agent.logs import configure_logging
    from agent.workers import build_workers

    path = config_path(args)
    daemon = Daemon(path, build_workers)
    if args.log_level is None:
        configure_logging(level=daemon.config.log.level)
    return daemon.run()
