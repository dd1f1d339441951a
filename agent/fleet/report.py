"""The programme's monthly district report: annex 3 (counts) and annex 4 (every store).

Pure: :func:`build_report` takes the stores, the selected-store lists, the history and a
clock reading and returns the report; :mod:`agent.fleet.export` writes it as CSV, XLSX and
HTML. The report is as of the end of the month (or now, for the current month):

- 选点完成 (selected): stores on a district's imported list, plus every store seen by then
  (a box that reports was selected);
- 视频安装完成 (installed): construction stage reached ``equipment_installed`` or further;
- 视频对接第三方平台 (connected): ``video_connected`` or further;
- 完成建设 (completed): ``completed``.

The construction stage is the box's ``stage_reached`` (held for 10 minutes, monotonic),
never typed in by hand. Availability is the share of the month's observed time the store
was online (unknown when no history was kept, e.g. a report straight from the broker).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from agent.districts import District
from agent.fleet.contract import STAGE_ORDER, Stage, UsageError
from agent.fleet.db import SelectedStore
from agent.fleet.rules import StoreRecord, judge
from agent.fleet.views import iso_utc, kcp_zh, local_time, stage_zh

ANNEX3_TITLE = "各区为民办实事项目进度报表"
ANNEX4_TITLE = "各区示范店建设情况统计表"
ANNEX3_ROWS = (
    ("selected", "示范店选点完成数量（户）"),
    ("installed", "示范店视频安装完成数量（户）"),
    ("connected", "示范店视频对接第三方平台数量（户）"),
    ("completed", "示范店完成建设数量（户）"),
)
FUNDING_LABEL = "区级配套资金投入情况（万元）"
PROBLEMS_LABEL = "存在的问题和建议"
ANNEX4_HEADINGS = (
    "序号",
    "单位名称",
    "地址",
    "许可证号",
    "建设进度",
    "预计完成时间",
    "当前状态",
    "在线",
    "本月可用率",
    "最后在线",
    "门店编号",
)
PROBLEM_KINDS = {
    "offline": "离线超过{days}天",
    "kcp_uncovered": "关键控制点未覆盖",
    "stage_stuck": "建设进度超过{stuck}天未推进",
    "never_seen": "已选点但设备从未上线",
}


@dataclass(frozen=True)
class Month:
    label: str  # YYYY-MM
    start: float
    end: float  # exclusive

    @classmethod
    def parse(cls, text: str, zone: tzinfo) -> Month:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
            raise UsageError(f"--month {text!r}: expected YYYY-MM, e.g. 2024-05")
        year, month = int(text[:4]), int(text[5:])
        start = datetime(year, month, 1, tzinfo=zone)
        following = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
        return cls(text, start.timestamp(), following.timestamp())

    @classmethod
    def containing(cls, seconds: float, zone: tzinfo) -> Month:
        return cls.parse(datetime.fromtimestamp(seconds, zone).strftime("%Y-%m"), zone)


@dataclass(frozen=True)
class ReportSettings:
    zone: tzinfo
    reporting_unit: str = "{district}市场监督管理局"
    offline_problem_after_s: float = 86400
    stuck_after_days: int = 30
    stale_heartbeats: int = 3


@dataclass(frozen=True)
class History:
    """What the database remembers, up to the report's moment."""

    presence: Mapping[str, Sequence[tuple[float, bool]]] = field(default_factory=dict)
    stages: Mapping[str, Sequence[tuple[float, str | None]]] = field(default_factory=dict)
    kcps: Mapping[str, Sequence[tuple[float, str, bool]]] = field(default_factory=dict)
    kept: bool = True  # False: no history (a report from the broker's retained messages)


@dataclass
class StoreLine:
    store_id: str
    district: str
    name: str
    address: str
    licence_number: str
    stage: str
    stage_live: str | None
    expected_completion: str | None
    online: bool | None
    availability: float | None
    last_seen: float | None
    seen: bool
    stage_since: float | None = None
    offline_since: float | None = None
    uncovered: list[tuple[str, float]] = field(default_factory=list)
    seq: int = 0


@dataclass
class DistrictLine:
    slug: str
    name_zh: str
    full_name_zh: str
    target: int | None
    counts: dict[str, int]
    problems: list[dict[str, Any]]
    seq: int


@dataclass
class Report:
    month: Month
    as_of: float
    generated_at: float
    settings: ReportSettings
    districts: list[DistrictLine]
    stores: list[StoreLine]
    availability_known: bool

    def reporting_unit(self, district: DistrictLine) -> str:
        return self.settings.reporting_unit.format(
            district=district.full_name_zh, name_zh=district.name_zh, slug=district.slug
        )

    def as_of_text(self) -> str:
        return local_time(self.as_of, self.settings.zone)

    def report_date(self) -> str:
        return datetime.fromtimestamp(self.generated_at, self.settings.zone).strftime("%Y-%m-%d")

    def problems_text(self, district: DistrictLine) -> str:
        """存在的问题 as one paragraph per kind of problem (what the form's cell holds)."""
        days = max(1, round(self.settings.offline_problem_after_s / 86400))
        parts = []
        for kind, title in PROBLEM_KINDS.items():
            found = [p for p in district.problems if p["kind"] == kind]
            if not found:
                continue
            heading = title.format(days=days, stuck=self.settings.stuck_after_days)
            items = "；".join(p["text"] for p in found)
            parts.append(f"{heading}（{len(found)}户）：{items}")
        return "\n".join(parts) if parts else "无"

    def stores_of(self, district: DistrictLine) -> list[StoreLine]:
        return [s for s in self.stores if s.district == district.slug]

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month.label,
            "as_of": iso_utc(self.as_of),
            "generated_at": iso_utc(self.generated_at),
            "availability_known": self.availability_known,
            "districts": [
                {
                    "slug": d.slug,
                    "name_zh": d.name_zh,
                    "reporting_unit": self.reporting_unit(d),
                    "target": d.target,
                    **d.counts,
                    "problems": d.problems,
                }
                for d in self.districts
            ],
            "stores": [
                {
                    "seq": s.seq,
                    "name": s.name,
                    "address": s.address,
                    "licence_number": s.licence_number,
                    "stage": s.stage,
                    "stage_zh": stage_zh(s.stage),
                    "expected_completion": s.expected_completion,
                    "store_id": s.store_id,
                    "district": s.district,
                    "stage_live": s.stage_live,
                    "online": s.online,
                    "availability": None if s.availability is None else round(s.availability, 4),
                    "last_seen": iso_utc(s.last_seen),
                    "seen": s.seen,
                }
                for s in self.stores
            ],
        }

    def annex4_row(self, store: StoreLine) -> list[Any]:
        """One annex-4 line in the headings' order (ANNEX4_HEADINGS)."""
        zone = self.settings.zone
        if store.online is None:
            online = "未知" if store.seen else "从未上线"
        else:
            online = "在线" if store.online else "离线"
        return [
            store.seq,
            store.name,
            store.address,
            store.licence_number,
            stage_zh(store.stage),
            store.expected_completion or "",
            stage_zh(store.stage_live) or "",
            online,
            "" if store.availability is None else f"{store.availability * 100:.1f}%",
            local_time(store.last_seen, zone) if store.last_seen else "",
            store.store_id,
        ]


# --- building -------------------------------------------------------------------------------


def _stage_rank(stage: str | None) -> int:
    try:
        return STAGE_ORDER.index(Stage(stage)) if stage else 0
    except ValueError:
        return 0


def availability(changes: Sequence[tuple[float, bool]], start: float, end: float) -> float | None:
    """Share of [start, end) the store was online, over the part of it that was observed
    (from its first presence record on); None when nothing of it was observed."""
    if end <= start or not changes:
        return None
    state: bool | None = None
    cursor = start
    online_s = known_s = 0.0
    for at, online in changes:
        if at <= start:
            state = online
            continue
        if at >= end:
            break
        if state is not None:
            known_s += at - cursor
            online_s += (at - cursor) if state else 0.0
        cursor, state = at, online
    if state is not None:
        known_s += end - cursor
        online_s += (end - cursor) if state else 0.0
    return online_s / known_s if known_s > 0 else None


def _last_before(items: Sequence[tuple[float, Any]], moment: float) -> tuple[float, Any] | None:
    found = None
    for item in items:
        if item[0] > moment:
            break
        found = item
    return found


def _stage_at(
    changes: Sequence[tuple[float, str | None]], moment: float
) -> tuple[str | None, float | None]:
    """(stage reached at ``moment``, since when it has been that)."""
    stage: str | None = None
    since: float | None = None
    for at, reached in changes:
        if at > moment:
            break
        if reached is None:
            continue
        if reached != stage:
            stage, since = reached, at
    return stage, since


def _uncovered_at(
    changes: Sequence[tuple[float, str, bool]], declared: Sequence[str], moment: float
) -> list[tuple[str, float]]:
    state: dict[str, tuple[bool, float]] = {}
    for at, kcp, covered in changes:
        if at > moment:
            break
        if kcp not in state or state[kcp][0] != covered:
            state[kcp] = (covered, at)
    return [(k, state[k][1]) for k in declared if k in state and not state[k][0]]


def build_report(
    *,
    month: Month,
    now: float,
    districts: Sequence[District],
    records: Sequence[StoreRecord],
    selected: Sequence[SelectedStore],
    history: History,
    settings: ReportSettings,
    district_filter: str | None = None,
) -> Report:
    if month.start > now:
        raise UsageError(f"--month {month.label} has not begun yet")
    current = month.end > now
    as_of = now if current else month.end
    by_id = {r.store_id: r for r in records}
    chosen = {s.store_id: s for s in selected}
    store_ids = sorted(
        {s for s, r in by_id.items() if r.first_seen is not None and r.first_seen < as_of}
        | set(chosen)
    )
    lines: list[StoreLine] = []
    for store_id in store_ids:
        line = _store_line(
            store_id,
            by_id.get(store_id),
            chosen.get(store_id),
            month,
            as_of,
            current,
            history,
            settings,
        )
        if district_filter is None or line.district == district_filter:
            lines.append(line)
    table = {d.slug: d for d in districts}
    order = [d.slug for d in districts] + sorted({s.district for s in lines} - set(table))
    if district_filter is not None:
        order = [district_filter]
    district_lines = []
    for seq, slug in enumerate(order, start=1):
        known = table.get(slug)
        mine = sorted(
            (s for s in lines if s.district == slug),
            key=lambda s: (not s.seen, -_stage_rank(s.stage), s.store_id),
        )
        for index, store in enumerate(mine, start=1):
            store.seq = index
        counts = {
            "selected": len(mine),
            "installed": sum(_stage_rank(s.stage) >= 1 for s in mine),
            "connected": sum(_stage_rank(s.stage) >= 2 for s in mine),
            "completed": sum(_stage_rank(s.stage) >= 3 for s in mine),
        }
        district_lines.append(
            DistrictLine(
                slug=slug,
                name_zh=known.name_zh if known else slug,
                full_name_zh=known.full_name_zh if known else slug,
                target=known.target if known else None,
                counts=counts,
                problems=_problems(mine, as_of, settings),
                seq=seq,
            )
        )
    position = {slug: i for i, slug in enumerate(order)}
    lines.sort(key=lambda s: (position.get(s.district, len(order)), s.seq))
    return Report(
        month=month,
        as_of=as_of,
        generated_at=now,
        settings=settings,
        districts=district_lines,
        stores=lines,
        availability_known=history.kept,
    )


def _store_line(
    store_id: str,
    record: StoreRecord | None,
    chosen: SelectedStore | None,
    month: Month,
    as_of: float,
    current: bool,
    history: History,
    settings: ReportSettings,
) -> StoreLine:
    seen = record is not None and record.first_seen is not None and record.first_seen < as_of
    district = (record.district if record else None) or (chosen.district if chosen else "")
    name = (record.name if record else None) or (chosen.name if chosen else store_id)
    address = (record.address if record else None) or (chosen.address if chosen else "")
    licence = (record.licence_number if record else None) or (
        chosen.licence_number if chosen else ""
    )
    expected = (record.expected_completion if record else None) or (
        chosen.expected_completion if chosen else None
    )
    if record is None or not seen:
        return StoreLine(
            store_id,
            district,
            name,
            address,
            licence,
            Stage.PREPARATION.value,
            None,
            expected,
            None,
            None,
            None,
            seen=False,
        )
    stage, stage_since = _stage_at(history.stages.get(store_id, ()), as_of)
    if stage is None:
        stage, stage_since = record.stage_reached, record.stage_reached_since
    stage = stage or Stage.PREPARATION.value
    presence = history.presence.get(store_id, ())
    if current:
        online, _ = judge(record, as_of, settings.stale_heartbeats)
        offline_since = None if online else record.online_changed_at
        last_seen = record.last_seen
    else:
        last = _last_before(presence, as_of)
        online = bool(last[1]) if last else False
        offline_since = None if online or last is None else last[0]
        last_seen = as_of if online else (last[0] if last else record.first_seen)
    avail = None
    if history.kept:
        avail = availability(presence, month.start, as_of)
    uncovered: list[tuple[str, float]] = []
    if online:
        if current:
            uncovered = [
                (k, record.coverage[k]["since"])
                for k in record.kcps
                if k in record.coverage and not record.coverage[k]["covered"]
            ]
        else:
            uncovered = _uncovered_at(history.kcps.get(store_id, ()), record.kcps, as_of)
    return StoreLine(
        store_id=store_id,
        district=district,
        name=name,
        address=address,
        licence_number=licence,
        stage=stage,
        stage_live=record.stage if current else None,
        expected_completion=expected,
        online=online if (history.kept or current) else None,
        availability=avail,
        last_seen=last_seen,
        seen=True,
        stage_since=stage_since if stage_since is not None else record.first_seen,
        offline_since=offline_since,
        uncovered=uncovered,
    )


def _problems(
    stores: Sequence[StoreLine], as_of: float, settings: ReportSettings
) -> list[dict[str, Any]]:
    zone = settings.zone
    problems: list[dict[str, Any]] = []
    stuck_s = settings.stuck_after_days * 86400
    for store in stores:
        who = f"{store.name}（{store.store_id}）"
        base = {"store_id": store.store_id, "name": store.name}
        if not store.seen:
            problems.append({**base, "kind": "never_seen", "since": None, "text": who})
            continue
        if (
            store.online is False
            and store.offline_since is not None
            and as_of - store.offline_since >= settings.offline_problem_after_s
        ):
            since = local_time(store.offline_since, zone)
            problems.append(
                {
                    **base,
                    "kind": "offline",
                    "since": iso_utc(store.offline_since),
                    "text": f"{who}自{since}起离线",
                }
            )
        if store.uncovered:
            kcps = "、".join(kcp_zh(k) for k, _ in store.uncovered)
            since = local_time(min(at for _, at in store.uncovered), zone)
            problems.append(
                {
                    **base,
                    "kind": "kcp_uncovered",
                    "kcps": [k for k, _ in store.uncovered],
                    "since": iso_utc(min(at for _, at in store.uncovered)),
                    "text": f"{who}{kcps}自{since}起未覆盖",
                }
            )
        if (
            store.stage != Stage.COMPLETED.value
            and store.stage_since is not None
            and as_of - store.stage_since >= stuck_s
        ):
            days = int((as_of - store.stage_since) // 86400)
            problems.append(
                {
                    **base,
                    "kind": "stage_stuck",
                    "stage": store.stage,
                    "since": iso_utc(store.stage_since),
                    "text": f"{who}停留在“{stage_zh(store.stage)}”{days}天",
                }
            )
    order = list(PROBLEM_KINDS)
    problems.sort(key=lambda p: (order.index(p["kind"]), p["since"] or "", p["store_id"]))
    return problems
