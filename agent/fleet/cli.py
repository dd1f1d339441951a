"""``kitchen-agent fleet ...``: central operations' commands.

Every command takes ``--config`` (default ``$KITCHEN_FLEET_CONFIG`` or
``/etc/kitchen-fleet/fleet.yaml``) and ``--json`` (exactly one JSON object on stdout; logs
on stderr). Read commands use the consumer's database, or with ``--broker URL`` the
broker's retained messages directly. Exit codes are the agent's (0, 1, 2, 69, 75, 78).
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import re
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

STORE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DISTRICT = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


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


def _watch_payload(source: Any, config: FleetConfig, district: str | None) -> dict[str, Any]:
    from agent.fleet.views import iso_utc, watch_rows

    now = time.time()
    rows = watch_rows(
        source.database.load_stores(), now, config.consumer.stale_heartbeats, district
    )
    consumers = [] if not source.history_kept else source.database.load_consumers()
    return {
        "generated_at": iso_utc(now),
        "source": "broker" if not source.history_kept else "database",
        "counts": {
            "stores": len(rows),
            "online": sum(r["online"] for r in rows),
            "offline": sum(not r["online"] for r in rows),
            "with_alarms": sum(bool(r["alarms"]) for r in rows),
        },
        "stores": rows,
        "consumers": [
            {
                "instance": c["instance"],
                "updated_at": iso_utc(c["updated_at"]),
                **{k: c["stats"].get(k) for k in ("received", "bad", "lag_p99_s", "queued")},
            }
            for c in consumers
        ],
    }


def _watch_text(payload: dict[str, Any], zone: zoneinfo.ZoneInfo) -> str:
    from agent.fleet.contract import table
    from agent.fleet.views import local_time, stage_zh

    counts = payload["counts"]
    lines = [
        f"fleet {local_time(time.time(), zone)}: {counts['stores']} stores, "
        f"{counts['online']} online, {counts['offline']} offline, "
        f"{counts['with_alarms']} with alarms"
    ]
    for consumer in payload["consumers"]:
        lag = consumer.get("lag_p99_s")
        lines.append(
            f"consumer {consumer['instance']}: {consumer.get('received')} received, "
            f"{consumer.get('bad')} bad, lag p99 {'-' if lag is None else f'{lag:.2f} s'}"
        )
    rows = []
    for row in payload["stores"]:
        stage = row["stage_zh"] or "-"
        if row["stage_live"] and row["stage_live"] != row["stage"]:
            stage += f" (now {stage_zh(row['stage_live'])})"
        kcp = (
            "-" if row["kcps_covered"] is None else f"{row['kcps_covered']}/{row['kcps_declared']}"
        )
        last = row["last_seen"]
        rows.append(
            (
                row["store_id"],
                row["district"],
                "yes" if row["online"] else f"NO ({row['status']})",
                stage,
                f"{row['cameras_ok']}/{row['cameras_total']}",
                kcp,
                len(row["alarms"]) or "",
                _local_iso(last, zone),
            )
        )
    lines.append("")
    lines.append(
        table(
            ("STORE", "DISTRICT", "ONLINE", "STAGE", "CAMERAS OK", "KCPS", "ALARMS", "LAST SEEN"),
            rows,
        )
    )
    return "\n".join(lines)


def _local_iso(value: str | None, zone: zoneinfo.ZoneInfo) -> str:
    from datetime import datetime

    from agent.fleet.views import local_time

    if value is None:
        return "-"
    return local_time(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp(), zone)


def cmd_watch(args: argparse.Namespace) -> int:
    from agent.fleet.contract import emit

    config = _config(args, required=True)
    zone = _zone(config)
    live = not args.json and not args.once
    source = _source(args, config, keep_listening=live)
    try:
        _check_district(args.district, config, {r.district for r in source.database.load_stores()})
        if not live:
            payload = _watch_payload(source, config, args.district)
            emit(args, payload, _watch_text(payload, zone))
            return 0
        redraw = sys.stdout.isatty()
        while True:
            source.refresh()
            text = _watch_text(_watch_payload(source, config, args.district), zone)
            sys.stdout.write(("\x1b[H\x1b[2J" if redraw else "\n") + text + "\n")
            sys.stdout.flush()
            time.sleep(max(0.2, args.interval))
    finally:
        source.close()


# --- cameras and alerts -----------------------------------------------------------------------


def cmd_cameras(args: argparse.Namespace) -> int:
    from agent.fleet.contract import emit, table
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
            _local_iso(r["as_of"], zone),
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
            _local_iso(a["since"], zone),
            _duration(a["duration_s"]),
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


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


# --- command ----------------------------------------------------------------------------------


def cmd_command(args: argparse.Namespace) -> int:
    from agent.fleet.commands import CommandFailed, parse_args, send
    from agent.fleet.contract import UsageError, emit

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

_COLUMNS = {
    "store_id": ("store_id", "门店编号", "门店id", "id"),
    "name": ("name", "单位名称", "门店名称"),
    "address": ("address", "地址"),
    "licence_number": ("licence_number", "license_number", "许可证号"),
    "district": ("district", "区", "行政区", "所属区"),
    "expected_completion": ("expected_completion", "预计完成时间"),
}
_MAX_IMPORT_BYTES = 16 * 1024 * 1024


def read_selected_csv(path: Path, districts: tuple[District, ...]) -> list[Any]:
    """The rows of a selected-store list, or ConfigError-like UsageError listing every bad
    row as FILE:LINE: column: message."""
    from agent.fleet.contract import UsageError
    from agent.fleet.db import SelectedStore

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror}") from None
    if len(raw) > _MAX_IMPORT_BYTES:
        raise UsageError(f"{path}: larger than {_MAX_IMPORT_BYTES // 1048576} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # what Excel saves as "CSV" on a Chinese Windows
        except UnicodeDecodeError:
            raise UsageError(f"{path}: neither UTF-8 nor GB18030 text") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError(f"{path}: the file is empty") from None
    index: dict[str, int] = {}
    for position, heading in enumerate(header):
        key = heading.strip().lower()
        for field, names in _COLUMNS.items():
            if key in names:
                index[field] = position
    missing = [f for f in _COLUMNS if f not in index and f != "expected_completion"]
    if missing:
        raise UsageError(
            f"{path}:1: missing column(s) {', '.join(missing)} (found: {', '.join(header)})"
        )
    by_name = {d.slug: d.slug for d in districts}
    for d in districts:
        by_name[d.name_zh] = d.slug
        by_name[d.name_zh + "区"] = d.slug
        by_name[d.name_en.lower()] = d.slug
    problems: list[str] = []
    rows: list[SelectedStore] = []
    seen: dict[str, int] = {}
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue

        def cell(field: str, values: list[str] = values) -> str:
            position = index.get(field)
            return (
                values[position].strip() if position is not None and position < len(values) else ""
            )

        bad = []
        store_id = cell("store_id")
        if not STORE_ID.match(store_id):
            bad.append(f"store_id: {store_id!r} is not a lower-case slug (e.g. sh-xh-0001)")
        elif store_id in seen:
            bad.append(f"store_id: {store_id} already on line {seen[store_id]}")
        seen.setdefault(store_id, line)
        name, address, licence = cell("name"), cell("address"), cell("licence_number")
        for field, value, limit in (
            ("name", name, 200),
            ("address", address, 300),
            ("licence_number", licence, 64),
        ):
            if not value:
                bad.append(f"{field}: must not be empty")
            elif len(value) > limit:
                bad.append(f"{field}: longer than {limit} characters")
        district_text = cell("district")
        district = by_name.get(district_text) or by_name.get(district_text.lower())
        if district is None:
            bad.append(f"district: unknown district {district_text!r}")
        expected = cell("expected_completion").replace("/", "-").replace(".", "-") or None
        if expected is not None:
            match = re.fullmatch(r"(\d{4})-(\d{1,2})", expected)
            if match and 1 <= int(match.group(2)) <= 12:
                expected = f"{match.group(1)}-{int(match.group(2)):02d}"
            else:
                bad.append(f"expected_completion: {expected!r} is not YYYY-MM")
        problems += [f"{path}:{line}: {b}" for b in bad]
        if not bad and district is not None:
            rows.append(SelectedStore(store_id, district, name, address, licence, expected))
    if problems:
        refusal = UsageError(problems[0])
        refusal.message = "\n".join(problems)
        raise refusal
    if not rows:
        raise UsageError(f"{path}: no stores in the file")
    return rows


def cmd_stores_import(args: argparse.Namespace) -> int:
    from agent.fleet.config import DB_PASSWORD, read_secret
    from agent.fleet.contract import emit
    from agent.fleet.db import open_database

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
