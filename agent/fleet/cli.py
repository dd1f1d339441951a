"""``kitchen-agent fleet ...``: central operations' commands.

Every command takes ``--config`` (default ``$KITCHEN_FLEET_CONFIG`` or
``/etc/kitchen-fleet/fleet.yaml``) and ``--json`` (exactly one JSON object on stdout; logs
on stderr). Read commands use the consumer's database, or with ``--broker URL`` the
broker's retained messages directly. Exit codes are the agent's (0, 1, 2, 69, 75, 78).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zoneinfo

    from agent.districts import District
    from agent.fleet.config import FleetConfig

# Parser building stays light (the box's own commands share this CLI): every fleet import
# happens inside a handler.


# --- argument plumbing ----------------------------------------------------------------------


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A box without the fleet extra gets a clear message, not an ImportError."""

    @functools.wraps(handler)
    def guarded(args: argparse.Namespace) -> int:
        try:
            import openpyxl  # noqa: F401
            import sqlalchemy  # noqa: F401
        except ModuleNotFoundError as error:
            from agent.fleet.contract import UnavailableError

            raise UnavailableError(
                f"the fleet commands need the fleet extra ({error.name} is missing): "
                "pip install 'kitchen-agent[fleet]'"
            ) from None
        return handler(args)

    return guarded


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (for scripts)"
    )


def _common(parser: argparse.ArgumentParser, broker_help: str | None = None) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="fleet config (default: $KITCHEN_FLEET_CONFIG or /etc/kitchen-fleet/fleet.yaml)",
    )
    if broker_help is not None:
        parser.add_argument("--broker", default=None, metavar="URL", help=broker_help)
    _json_flag(parser)


_FROM_BROKER = (
    "read the fleet straight from this broker (retained births and states), not from the "
    "consumer's database"
)


def _listen(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        type=float,
        default=None,
        metavar="S",
        help="with --broker: take in S seconds of heartbeats and events after the retained "
        "messages (default: until every online store has sent a heartbeat, at most its "
        "interval + 5 s; 0: retained messages only)",
    )


def _district(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--district", default=None, metavar="SLUG", help="one district only")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fleet",
        help="central operations: consume the fleet's MQTT, live views, district reports",
        description="The fleet side (installed with the extra kitchen-agent[fleet]): a "
        "consumer of every box's MQTT traffic, live views, commands and the programme's "
        "monthly district reports (annexes 3 and 4).",
    )
    actions = parser.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)

    run = actions.add_parser(
        "run",
        help="the consumer (what systemd starts): keep the fleet's state and history",
        description="Subscribe to every box's messages and keep the fleet's state and history "
        "in the database (SQLite, or PostgreSQL for several instances with "
        "broker.shared_group). Stops cleanly on SIGTERM.",
    )
    _common(run, "broker URL (overrides broker.url)")
    run.set_defaults(handler=_guard(cmd_run))

    watch = actions.add_parser(
        "watch",
        help="a live table of every store, redrawn in place",
        description="Store, district, online, construction stage (reached, and live), cameras "
        "ok/total, KCP coverage, alarms, last seen. --json prints one snapshot.",
    )
    _common(watch, _FROM_BROKER + "; then follow its live traffic")
    _district(watch)
    watch.add_argument("--interval", type=float, default=2.0, metavar="S", help="redraw period")
    watch.add_argument("--once", action="store_true", help="print one table and exit")
    watch.set_defaults(handler=_guard(cmd_watch))

    cameras = actions.add_parser(
        "cameras",
        help="every enrolled camera's online status and alarms now",
        description="Every enrolled camera of every store: online, offline, or unknown (its "
        "store is offline), with its alarms. --offline lists only those not online.",
    )
    _common(cameras, _FROM_BROKER)
    _listen(cameras)
    _district(cameras)
    cameras.add_argument("--offline", action="store_true", help="only cameras not online")
    cameras.set_defaults(handler=_guard(cmd_cameras))

    alerts = actions.add_parser(
        "alerts",
        help="stores offline and KCPs uncovered for longer than the thresholds, oldest first",
        description="Stores offline longer than alerts.offline_after_s and key control points "
        "uncovered longer than alerts.kcp_uncovered_after_s, oldest first.",
    )
    _common(alerts, _FROM_BROKER)
    _listen(alerts)
    alerts.set_defaults(handler=_guard(cmd_alerts))

    command = actions.add_parser(
        "command",
        help="send a command to a store and print its result",
        description="Send one of the documented commands (docs/mqtt.md) to an online store "
        "and wait for its result. snapshot saves the JPEG to --output (default "
        "STORE-CAMERA.jpg).",
    )
    command.add_argument("store", metavar="STORE", help="store id")
    command.add_argument("name", metavar="NAME", help="rescan, snapshot, restart_stream, ...")
    command.add_argument(
        "--arg", action="append", default=[], metavar="KEY=VALUE", help="a command argument"
    )
    command.add_argument("--output", type=Path, default=None, metavar="FILE", help="snapshot file")
    command.add_argument("--timeout", type=float, default=30.0, metavar="S", help="wait this long")
    _common(command, "broker URL (overrides broker.url)")
    command.set_defaults(handler=_guard(cmd_command))

    report = actions.add_parser(
        "report",
        help="the monthly district report: annex 3 per district and annex 4",
        description="Annex 3 (stores selected, video installed, connected to a platform, "
        "completed, against each district's target; problems pre-filled) and annex 4 (every "
        "store's construction stage) for a month, as a table, JSON, CSV, XLSX and HTML.",
    )
    _common(report, _FROM_BROKER + " (availability is then unknown)")
    _listen(report)
    _district(report)
    report.add_argument("--month", default=None, metavar="YYYY-MM", help="default: this month")
    report.add_argument("--csv", type=Path, default=None, metavar="DIR", help="write CSV files")
    report.add_argument("--xlsx", type=Path, default=None, metavar="FILE", help="write a workbook")
    report.add_argument("--html", type=Path, default=None, metavar="DIR", help="write index.html")
    report.set_defaults(handler=_guard(cmd_report))

    stores = actions.add_parser("stores", help="the districts' selected-store lists")
    store_actions = stores.add_subparsers(dest="stores_command", metavar="ACTION", required=True)
    importing = store_actions.add_parser(
        "import",
        help="load a district's selected stores from CSV",
        description="Columns (English or the annex's Chinese headings): store_id/门店编号, "
        "name/单位名称, address/地址, licence_number/许可证号, district/区 (slug or Chinese "
        "name), optional expected_completion/预计完成时间 (YYYY-MM). UTF-8 or GB18030. "
        "Every row is checked first; a file with any bad row imports nothing.",
    )
    importing.add_argument("file", type=Path, metavar="FILE.csv")
    _common(importing)
    importing.set_defaults(handler=_guard(cmd_stores_import))

    config = actions.add_parser("config", help="check or show the fleet config")
    config_actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_actions.add_parser("check", help="validate; FILE:LINE: field: message")
    _common(check)
    check.set_defaults(handler=_guard(cmd_config_check))
    schema = config_actions.add_parser("schema", help="the JSON Schema of fleet.yaml")
    schema.set_defaults(handler=_guard(cmd_config_schema))


# --- shared helpers -------------------------------------------------------------------------


def _config(args: argparse.Namespace, *, required: bool) -> FleetConfig:
    from agent.fleet.config import load_config, with_broker
    from agent.fleet.contract import configure_logging

    broker = getattr(args, "broker", None)
    config = load_config(args.config, required=required and broker is None)
    if getattr(args, "log_level", None) is None:
        configure_logging(level=config.log.level)
    return with_broker(config, broker)


def _districts(config: FleetConfig) -> tuple[District, ...]:
    from agent.districts import DistrictTableError, load_districts
    from agent.fleet.contract import ConfigError

    try:
        return load_districts(config.paths.districts_file)
    except (OSError, DistrictTableError) as error:
        raise ConfigError(f"paths.districts_file: {error}") from None


def _check_district(slug: str | None, config: FleetConfig, known: set[str]) -> None:
    from agent.fleet.contract import UsageError

    if slug is None:
        return
    table = {d.slug for d in _districts(config)}
    if slug not in table | known:
        raise UsageError(f"unknown district {slug!r}; one of: {', '.join(sorted(table))}")


def _zone(config: FleetConfig) -> zoneinfo.ZoneInfo:
    import zoneinfo

    return zoneinfo.ZoneInfo(config.report.timezone)


def _source(args: argparse.Namespace, config: FleetConfig, *, keep_listening: bool = False) -> Any:
    from agent.fleet.contract import progress
    from agent.fleet.source import open_source

    if getattr(args, "broker", None) is not None and not getattr(args, "json", False):
        progress(f"reading retained messages from {config.broker.url} ...")
    return open_source(
        config,
        getattr(args, "broker", None),
        getattr(args, "listen", 0.0),
        keep_listening=keep_listening,
    )


# --- run --------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from agent.fleet.config import DB_PASSWORD, read_secret
    from agent.fleet.consumer import run
    from agent.fleet.db import open_database

    config = _config(args, required=True)
    _districts(config)  # a broken district table is a config error before anything starts
    database = open_database(
        config.database.url, read_secret(config, DB_PASSWORD), writer=True, create=True
    )
    try:
        return run(config, database)
    finally:
        database.close()


# --- watch ------------------------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace) -> int:
    from agent.fleet.contract import emit
    from agent.fleet.render import watch_payload, watch_text

    config = _config(args, required=True)
    zone = _zone(config)
    live = not args.json and not args.once
    source = _source(args, config, keep_listening=live)
    try:
        _check_district(args.district, config, {r.district for r in source.database.load_stores()})
        if not live:
            payload = watch_payload(source, config, args.district)
            emit(args, payload, watch_text(payload, zone))
            return 0
        redraw = sys.stdout.isatty()
        while True:
            source.refresh()
            text = watch_text(watch_payload(source, config, args.district), zone)
            sys.stdout.write(("\x1b[H\x1b[2J" if redraw else "\n") + text + "\n")
            sys.stdout.flush()
            time.sleep(max(0.2, args.interval))
    finally:
        source.close()


# --- cameras and alerts -----------------------------------------------------------------------


def cmd_cameras(args: argparse.Namespace) -> int:
    from agent.fleet.contract import emit, table
    from agent.fleet.render import local_iso
    from agent.fleet.views import camera_rows, iso_utc

    config = _config(args, required=True)
    zone = _zone(config)
    source = _source(args, config)
    try:
        records = source.database.load_stores()
        _check_district(args.district, config, {r.district for r in records})
        now = time.time()
        rows = camera_rows(
            records, now, config.consumer.stale_heartbeats, args.district, args.offline
        )
        everything = camera_rows(records, now, config.consumer.stale_heartbeats, args.district)
    finally:
        source.close()
    counts = {
        status: sum(r["status"] == status for r in everything)
        for status in ("online", "offline", "unknown")
    }
    payload = {"generated_at": iso_utc(now), "counts": counts, "cameras": rows}
    human_rows = [
        (
            r["store_id"],
            r["camera_id"],
            r["camera_name"] or "",
            ",".join(r["kcps"]),
            r["status"].upper() if r["status"] != "online" else "online",
            r["error"] or "",
            ",".join(r["alarms"]),
            local_iso(r["as_of"], zone),
        )
        for r in rows
    ]
    human = (
        f"{counts['online']} online, {counts['offline']} offline, {counts['unknown']} unknown "
        "(store offline)\n\n"
        + table(
            ("STORE", "CAMERA", "NAME", "KCPS", "STATUS", "ERROR", "ALARMS", "AS OF"), human_rows
        )
    )
    emit(args, payload, human)
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from agent.fleet.contract import emit, table
    from agent.fleet.render import duration, local_iso
    from agent.fleet.views import alerts, iso_utc

    config = _config(args, required=True)
    zone = _zone(config)
    source = _source(args, config)
    try:
        now = time.time()
        found = alerts(
            source.database.load_stores(),
            now,
            config.consumer.stale_heartbeats,
            config.alerts.offline_after_s,
            config.alerts.kcp_uncovered_after_s,
        )
    finally:
        source.close()
    payload = {
        "generated_at": iso_utc(now),
        "thresholds": {
            "offline_after_s": config.alerts.offline_after_s,
            "kcp_uncovered_after_s": config.alerts.kcp_uncovered_after_s,
        },
        "alerts": found,
    }
    rows = [
        (
            local_iso(a["since"], zone),
            duration(a["duration_s"]),
            a["kind"],
            a["store_id"],
            a["district"],
            a["reason"],
        )
        for a in found
    ]
    human = (
        table(("SINCE", "FOR", "ALERT", "STORE", "DISTRICT", "DETAIL"), rows)
        if rows
        else "no alerts"
    )
    emit(args, payload, human)
    return 0


# --- command ----------------------------------------------------------------------------------


def cmd_command(args: argparse.Namespace) -> int:
    from agent.fleet.commands import CommandFailed, parse_args, send
    from agent.fleet.contract import UsageError, emit
    from agent.fleet.selected import STORE_ID

    if not STORE_ID.match(args.store):
        raise UsageError(f"{args.store!r} is not a store id")
    config = _config(args, required=True)
    try:
        answer = send(
            config,
            args.store,
            args.name,
            parse_args(args.arg),
            timeout_s=args.timeout,
            output=args.output,
        )
    except CommandFailed as failure:
        if failure.answer is None:
            raise
        emit(args, failure.answer, failure.message)
        return int(failure.exit_code)
    lines = [f"{answer['name']} on {answer['store_id']}: {answer['status']}"]
    if answer.get("saved"):
        lines.append(f"saved {answer['saved']}")
    if answer.get("result"):
        import json

        lines.append(json.dumps(answer["result"], ensure_ascii=False, indent=2)[:4000])
    emit(args, answer, "\n".join(lines))
    return 0


# --- report -----------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from agent.fleet.contract import emit, table
    from agent.fleet.export import write_csv, write_html, write_xlsx
    from agent.fleet.report import History, Month, ReportSettings, build_report

    config = _config(args, required=True)
    zone = _zone(config)
    districts = _districts(config)
    month = Month.parse(args.month, zone) if args.month else Month.containing(time.time(), zone)
    source = _source(args, config)
    try:
        database = source.database
        now = time.time()  # after a --broker read, so what it just saw counts
        records = database.load_stores()
        _check_district(args.district, config, {r.district for r in records})
        until = min(now, month.end)
        history = History(
            presence=database.presence_history(until),
            stages=database.stage_history(until),
            kcps=database.kcp_history(until),
            kept=source.history_kept,
        )
        selected = database.load_selected() if source.history_kept else []
    finally:
        source.close()
    report = build_report(
        month=month,
        now=now,
        districts=districts,
        records=records,
        selected=selected,
        history=history,
        settings=ReportSettings(
            zone=zone,
            reporting_unit=config.report.reporting_unit,
            offline_problem_after_s=config.report.offline_problem_after_s,
            stuck_after_days=config.report.stuck_after_days,
            stale_heartbeats=config.consumer.stale_heartbeats,
        ),
        district_filter=args.district,
    )
    files: list[str] = []
    if args.csv is not None:
        files += [str(p) for p in write_csv(report, args.csv)]
    if args.xlsx is not None:
        files.append(str(write_xlsx(report, args.xlsx)))
    if args.html is not None:
        files.append(str(write_html(report, args.html)))
    payload = report.to_json()
    payload["files"] = files
    rows = [
        (
            d.name_zh,
            d.target if d.target is not None else "-",
            d.counts["selected"],
            d.counts["installed"],
            d.counts["connected"],
            d.counts["completed"],
            len(d.problems),
        )
        for d in report.districts
    ]
    human = (
        f"{report.month.label} as of {report.as_of_text()}"
        + ("" if report.availability_known else " (from the broker: availability unknown)")
        + "\n\n"
        + table(
            ("DISTRICT", "TARGET", "SELECTED", "INSTALLED", "CONNECTED", "COMPLETED", "PROBLEMS"),
            rows,
        )
        + "".join(f"\nwrote {f}" for f in files)
    )
    emit(args, payload, human)
    return 0


# --- stores import ----------------------------------------------------------------------------


def cmd_stores_import(args: argparse.Namespace) -> int:
    from agent.fleet.config import DB_PASSWORD, read_secret
    from agent.fleet.contract import emit
    from agent.fleet.db import open_database
    from agent.fleet.selected import read_selected_csv

    config = _config(args, required=True)
    rows = read_selected_csv(args.file, _districts(config))
    database = open_database(
        config.database.url, read_secret(config, DB_PASSWORD), writer=True, create=True
    )
    try:
        counts = database.import_selected(rows, time.time(), str(args.file))
    finally:
        database.close()
    by_district: dict[str, int] = {}
    for row in rows:
        by_district[row.district] = by_district.get(row.district, 0) + 1
    payload = {"file": str(args.file), "stores": len(rows), **counts, "districts": by_district}
    human = (
        f"{args.file}: {len(rows)} stores ({counts['added']} added, {counts['updated']} "
        f"updated, {counts['unchanged']} unchanged) in "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_district.items()))
    )
    emit(args, payload, human)
    return 0


# --- config -----------------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:
    from agent.fleet.config import config_path, load_config
    from agent.fleet.contract import emit

    path = config_path(args.config)
    config = load_config(args.config, required=True)
    _districts(config)
    emit(args, {"valid": True, "file": str(path)}, f"{path}: OK")
    return 0


def cmd_config_schema(args: argparse.Namespace) -> int:
    from agent.fleet.config import config_json_schema
    from agent.fleet.contract import print_json

    print_json(config_json_schema())
    return 0
