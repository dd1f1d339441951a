"""What people ask the fleet now: the live table, every camera's status, the alerts.

Pure functions over :class:`StoreRecord` rows and a clock reading; the CLI renders them.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from agent.fleet.contract import KCP_CATALOGUE, STAGE_NAMES_ZH, Kcp, Stage
from agent.fleet.rules import StoreRecord, judge


def iso_utc(seconds: float | None) -> str | None:
    """Unix seconds as the contract's ISO 8601 UTC form (``...T08:00:00.123Z``)."""
    if seconds is None:
        return None
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def local_time(seconds: float | None, zone: tzinfo, with_date: bool = True) -> str:
    if seconds is None:
        return "-"
    moment = datetime.fromtimestamp(seconds, zone)
    return moment.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M:%S")


def stage_zh(stage: str | None) -> str | None:
    if stage is None:
        return None
    try:
        return STAGE_NAMES_ZH[Stage(stage)]
    except ValueError:
        return stage


def kcp_zh(kcp: str) -> str:
    try:
        return KCP_CATALOGUE[Kcp(kcp)].name_zh
    except ValueError:
        return kcp


def presence(
    record: StoreRecord, now: float, stale_heartbeats: int
) -> tuple[bool, str, float | None]:
    """(online, status word, since) judged at ``now``: the stored judgement may be a sweep
    behind, so silence is judged again here."""
    online, why = judge(record, now, stale_heartbeats)
    if not online and why == "stale" and record.online and record.last_alive_at is not None:
        since = record.last_alive_at + stale_heartbeats * record.heartbeat_interval_s
        return False, "stale", since
    if online:
        return True, "online", record.online_changed_at
    return False, why, record.online_changed_at


def enrolled_cameras(record: StoreRecord) -> list[dict[str, Any]]:
    """The store's enrolled cameras: from its birth, plus any heartbeat camera marked
    enrolled; a box that does not mark them has every heartbeat camera counted when its
    birth lists none."""
    declared = {c["id"]: c for c in record.cameras}
    cameras = [dict(c) for c in record.cameras]
    for live in record.live_cameras:
        if live["id"] in declared:
            continue
        if live.get("enrolled") is True or (live.get("enrolled") is None and not declared):
            cameras.append({"id": live["id"], "name": None, "kcps": []})
    return cameras


def store_row(record: StoreRecord, now: float, stale_heartbeats: int) -> dict[str, Any]:
    online, status, since = presence(record, now, stale_heartbeats)
    live = {c["id"]: c for c in record.live_cameras}
    cameras = enrolled_cameras(record)
    ok = sum(
        1
        for c in cameras
        if online and live.get(c["id"], {}).get("online") and not live[c["id"]].get("issues")
    )
    declared = list(record.kcps)
    covered = [k for k in declared if record.coverage.get(k, {}).get("covered")]
    alarms = sorted(
        {
            f"{c['id']}:{issue}"
            for c in record.live_cameras
            for issue in (c.get("issues") or [])
            if online
        }
    )
    return {
        "store_id": record.store_id,
        "district": record.district,
        "name": record.name,
        "online": online,
        "status": status,
        "since": iso_utc(since),
        "stage": record.stage_reached,
        "stage_zh": stage_zh(record.stage_reached),
        "stage_live": record.stage,
        "cameras_ok": ok,
        "cameras_total": len(cameras),
        "kcps_covered": len(covered) if online else None,
        "kcps_declared": len(declared),
        "kcps_uncovered": [k for k in declared if k not in covered] if online else [],
        "alarms": alarms,
        "last_seen": iso_utc(record.last_seen),
    }


def watch_rows(
    records: list[StoreRecord], now: float, stale_heartbeats: int, district: str | None = None
) -> list[dict[str, Any]]:
    rows = [
        store_row(r, now, stale_heartbeats)
        for r in records
        if district is None or r.district == district
    ]
    # Trouble first: offline stores, then the ones with alarms, then by district and id.
    return sorted(rows, key=lambda r: (r["online"], not r["alarms"], r["district"], r["store_id"]))


def camera_rows(
    records: list[StoreRecord],
    now: float,
    stale_heartbeats: int,
    district: str | None = None,
    only_offline: bool = False,
) -> list[dict[str, Any]]:
    """Every enrolled camera's status now. A camera of an offline store is ``unknown``
    (nobody can see it), which ``--offline`` lists with the offline ones."""
    rows = []
    for record in records:
        if district is not None and record.district != district:
            continue
        store_online, store_status, _ = presence(record, now, stale_heartbeats)
        live = {c["id"]: c for c in record.live_cameras}
        for camera in enrolled_cameras(record):
            beat = live.get(camera["id"])
            if not store_online or beat is None:
                status, online = "unknown", None
            else:
                online = bool(beat.get("online"))
                status = "online" if online else "offline"
            if only_offline and status == "online":
                continue
            rows.append(
                {
                    "store_id": record.store_id,
                    "store_name": record.name,
                    "district": record.district,
                    "camera_id": camera["id"],
                    "camera_name": camera.get("name"),
                    "kcps": list(camera.get("kcps") or []),
                    "status": status,
                    "online": online,
                    "error": (beat or {}).get("error") if store_online else store_status,
                    "quality": (beat or {}).get("quality") if store_online else None,
                    "alarms": list((beat or {}).get("issues") or []) if store_online else [],
                    "stream": (beat or {}).get("stream") if store_online else None,
                    "as_of": iso_utc(record.hb_ts),
                }
            )
    order = {"offline": 0, "unknown": 1, "online": 2}
    return sorted(
        rows, key=lambda r: (order[r["status"]], r["district"], r["store_id"], r["camera_id"])
    )


def alerts(
    records: list[StoreRecord],
    now: float,
    stale_heartbeats: int,
    offline_after_s: float,
    kcp_uncovered_after_s: float,
) -> list[dict[str, Any]]:
    """Stores offline, and KCPs uncovered, for longer than the thresholds; oldest first."""
    found: list[dict[str, Any]] = []
    for record in records:
        online, status, since = presence(record, now, stale_heartbeats)
        base = {"store_id": record.store_id, "district": record.district, "name": record.name}
        if not online:
            if since is not None and now - since >= offline_after_s and status != "never_connected":
                found.append(
                    {
                        **base,
                        "kind": "store_offline",
                        "kcp": None,
                        "reason": status,
                        "since": since,
                        "duration_s": round(now - since, 1),
                    }
                )
            continue
        for kcp in record.kcps:
            state = record.coverage.get(kcp)
            if state is None or state["covered"]:
                continue
            if now - state["since"] >= kcp_uncovered_after_s:
                found.append(
                    {
                        **base,
                        "kind": "kcp_uncovered",
                        "kcp": kcp,
                        "reason": kcp_zh(kcp),
                        "since": state["since"],
                        "duration_s": round(now - state["since"], 1),
                    }
                )
    found.sort(key=lambda a: (a["since"], a["store_id"], a["kcp"] or ""))
    for alert in found:
        alert["since"] = iso_utc(alert["since"])
    return found
