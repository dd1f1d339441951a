"""``kitchen-agent status``: the running agent's own picture, asked over its socket.

It needs no config and no root: the socket is open to the ``kitchen-tech`` group. The
socket is ``--socket``, else the runtime folder of ``--config`` (or of
``$KITCHEN_AGENT_CONFIG``), else ``/run/kitchen-agent/status.sock``; a default config this
user may not read is simply passed over.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cli_support import CONFIG_ENV, add_config_flag, add_json_flag, print_json, table

if TYPE_CHECKING:
    from agent.status.model import StatusReport

REDRAW = "\x1b[H\x1b[2J"  # cursor home, clear screen: the picture is drawn again in place


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="what the running agent knows now: uplink, cameras, streams, coverage, workers",
        description="Ask the running agent (over its status socket) for its picture: store, "
        "stage, MQTT link, each camera's state, quality and stream, KCP coverage, outbox "
        "and workers. Works for root and members of the kitchen-tech group. Exit 69 when "
        "no agent runs.",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="redraw every --interval seconds until Ctrl-C (with --json: one object a line)",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="redraw period of --watch"
    )
    parser.add_argument(
        "--socket", type=Path, default=None, metavar="PATH", help="the agent's status socket"
    )
    parser.add_argument(
        "--timeout", type=float, default=3.0, metavar="S", help="how long to wait for the agent"
    )
    add_config_flag(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def status_socket(args: argparse.Namespace) -> Path:
    """Where to ask: --socket, the config's runtime folder, or the default path."""
    import os

    from agent.config import load_config
    from agent.config.paths import DEFAULT_RUNTIME_DIR
    from agent.errors import ConfigError
    from agent.status.channel import socket_path

    if args.socket is not None:
        return Path(args.socket)
    explicit: Path | None = args.config
    if explicit is None and os.environ.get(CONFIG_ENV):
        explicit = Path(os.environ[CONFIG_ENV])
    if explicit is not None:
        return socket_path(load_config(explicit).paths.runtime)
    from agent.cli_support import DEFAULT_CONFIG_PATH

    try:
        return socket_path(load_config(DEFAULT_CONFIG_PATH).paths.runtime)
    except ConfigError:
        # A technician may not read the config (root:kitchen-agent 0640): the default it is.
        return socket_path(DEFAULT_RUNTIME_DIR)


def run(args: argparse.Namespace) -> int:
    from agent.status.channel import ask_status

    path = status_socket(args)
    if not args.watch:
        report = ask_status(path, args.timeout)
        if args.json:
            print_json(report.model_dump(mode="json"))
        else:
            sys.stdout.write(render(report) + "\n")
        return 0
    return watch(args, path)


def watch(args: argparse.Namespace, path: Path) -> int:
    """Redraw in place on a terminal; elsewhere, one picture after another."""
    from agent.errors import AgentError
    from agent.status.channel import ask_status

    redraw = sys.stdout.isatty() and not args.json
    while True:
        try:
            report = ask_status(path, args.timeout)
            payload: dict[str, Any] = report.model_dump(mode="json")
            text = render(report)
        except AgentError as error:  # keep watching: the agent may be restarting
            payload = {"error": error.to_dict()}
            text = f"{error.message}\n(still asking every {args.interval:g} s; Ctrl-C to stop)"
        if args.json:
            print_json(payload)
        else:
            stamp = time.strftime("%H:%M:%S")
            sys.stdout.write(
                (REDRAW if redraw else "\n") + f"{stamp}  kitchen-agent status\n" + text + "\n"
            )
            sys.stdout.flush()
        time.sleep(max(0.2, args.interval))


# --- the picture for people ---------------------------------------------------------------------


def _duration(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def render(report: StatusReport) -> str:
    """The status as a technician reads it on a phone-sized terminal."""
    store = report.store
    lines = [
        f"kitchen-agent {report.version}  pid {report.pid}  up {_duration(report.uptime_s)}  "
        f"{report.phase}",
        f"store {store.id} {store.name} ({store.district})  "
        f"stage {report.stage.value} {report.stage.name_zh}  "
        f"reached {report.stage_reached.value} {report.stage_reached.name_zh}",
        f"config {report.config_path} ({report.config_hash})",
    ]
    uplink = report.uplink
    link = f"mqtt {uplink.state.value} {uplink.broker}"
    if uplink.session is not None:
        link += f"  session {uplink.session}"
    if uplink.rtt_ms is not None and uplink.state.value == "connected":
        link += f"  rtt {uplink.rtt_ms:.0f} ms"
    if uplink.error and uplink.state.value != "connected":
        link += f"  ({uplink.error})"
    lines.append(link)
    lines.append(f"outbox {report.outbox.depth} waiting, {report.outbox.dropped} dropped")
    lines.append("")
    rows = []
    for camera in report.cameras:
        quality = camera.quality.verdict.value
        if camera.quality.alarms:
            quality += " (" + ",".join(camera.quality.alarms) + ")"
        stream = camera.stream.state.value
        if camera.stream.route is not None:
            stream += f" {camera.stream.route.value}"
        if camera.stream.kbps is not None:
            stream += f" {camera.stream.kbps:.0f}k"
        if camera.stream.error is not None and camera.stream.state.value != "up":
            stream += f" [{camera.stream.error.code}]"
        online = "yes" if camera.online else "NO"
        if camera.error is not None:
            online += f" [{camera.error.code}]"
        rows.append(
            (
                camera.id + ("" if camera.enrolled else " (found)"),
                camera.name or "",
                ",".join(camera.kcps),
                online,
                quality,
                stream,
            )
        )
    if rows:
        lines.append(table(("camera", "name", "kcps", "online", "quality", "stream"), rows))
    else:
        lines.append("no camera enrolled or found")
    lines.append("")
    coverage = report.coverage
    if coverage.declared:
        kcp_rows = [
            (
                item.kcp,
                "yes" if item.covered else "NO",
                ",".join(item.cameras) or "-",
                "" if item.reason is None else item.reason.value,
            )
            for item in coverage.kcps
        ]
        title = f"KCPs {coverage.covered}/{coverage.declared} covered"
        if not coverage.evaluated:
            title += " (not judged yet)"
        lines.append(title)
        lines.append(table(("kcp", "covered", "by", "why not"), kcp_rows))
        lines.append("")
    worker_rows = [(w.name, w.state.value, w.restarts, w.error or "") for w in report.workers]
    lines.append(table(("worker", "state", "restarts", "last error"), worker_rows))
    return "\n".join(lines)
