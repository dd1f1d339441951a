"""How the fleet commands' answers read to a person: the live table as text, local times
and durations. The payloads themselves are built from :mod:`agent.fleet.views`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zoneinfo

    from agent.fleet.config import FleetConfig


def watch_payload(source: Any, config: FleetConfig, district: str | None) -> dict[str, Any]:
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


def watch_text(payload: dict[str, Any], zone: zoneinfo.ZoneInfo) -> str:
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
                local_iso(last, zone),
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


def local_iso(value: str | None, zone: zoneinfo.ZoneInfo) -> str:
    from datetime import datetime

    from agent.fleet.views import local_time

    if value is None:
        return "-"
    return local_time(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp(), zone)


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"
