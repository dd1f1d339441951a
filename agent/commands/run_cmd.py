"""``kitchen-agent run``: the daemon (systemd runs this)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

import structlog

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
    from agent.workers import WORKER_SPECS

    path = config_path(args)
    daemon = Daemon(path, WORKER_SPECS)
    if args.log_level is None:
        configure_logging(level=daemon.config.log.level)
        daemon.follow_log_level = True
    code = daemon.run()
    leave_now(code)
    return code


def leave_now(code: int) -> None:
    """End the process at once when threads are still busy after the stop.

    A worker abandoned at its deadline may have left a thread in a camera call (a thread
    pool's thread, which the interpreter would wait for at exit, however long the camera
    hangs): the stop budget is what systemd was promised, so the process ends now. Every
    state file is already written atomically; logs are flushed first.
    """
    busy = [
        thread.name
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]
    if not busy:
        return
    structlog.get_logger(__name__).warning("leaving_busy_threads", threads=busy[:10])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
