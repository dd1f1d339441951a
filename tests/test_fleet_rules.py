"""The consumer rules of docs/mqtt.md, message validation and the report's arithmetic, pure.

Messages are built by the simulator's stores, i.e. with the box's own pydantic models, and
go through the same parse() the consumer uses.
"""

from __future__ import annotations

import itertools
import json
import zoneinfo
from typing import Any

import pytest

from agent.districts import load_districts
from agent.fleet.db import SelectedStore
from agent.fleet.ingest import Bad, BirthSeen, HeartbeatSeen, Ignored, Incoming, Observation, parse
from agent.fleet.report import History, Month, ReportSettings, availability, build_report
from agent.fleet.rules import StoreRecord, apply, sweep
from agent.fleet.views import alerts, camera_rows, store_row
from testkit.fleet_sim import SimStore

ROOT = "kitchen/v1"
STALE = 3
T0 = 1_714_550_400.0  # 2024-05-01T08:00:00Z
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def sim(**overrides: Any) -> SimStore:
    values: dict[str, Any] = {
        "store_id": "sh-xh-0001",
        "district": "xuhui",
        "name": "老王面馆 徐汇店",
        "address": "上海市徐汇区漕溪北路 1 号",
        "licence_number": "JY23101040012345",
        "kcps": ("cooking", "cold_room"),
        "cameras": ("cam-a", "cam-b"),
        "session": 41,
        "heartbeat_interval_s": 30,
        "expected_completion": "2024-06",
    }
    values.update(overrides)
    return SimStore(**values)


def seen(
    store: SimStore, kind: str, payload: bytes, at: float, retained: bool = False
) -> Observation:
    parsed = parse(Incoming(f"{store.root}/{kind}", payload, retained, at), ROOT, 256 * 1024)
    assert not isinstance(parsed, Bad | Ignored), parsed
    return parsed


def fold(record: StoreRecord, *observations: Observation) -> tuple[StoreRecord, list[Any]]:
    history: list[Any] = []
    for observation in observations:
        outcome = apply(record, observation, STALE)
        record = outcome.record
        history += outcome.history
    return record, history


def fresh(store: SimStore) -> StoreRecord:
    return StoreRecord(store.store_id, store.district)


def connect(store: SimStore, at: float) -> list[Observation]:
    return [
        seen(store, "state", store.state(True, "connected", at), at),
        seen(store, "birth", store.birth(at), at + 0.01),
        seen(store, "heartbeat", store.heartbeat(at), at + 0.02),
    ]


# --- parsing ------------------------------------------------------------------------------


def test_birth_and_heartbeat_carry_the_optional_v1_fields() -> None:
    store = sim(stage="video_connected", stage_reached="video_connected")
    birth = seen(store, "birth", store.birth(T0), T0)
    assert isinstance(birth, BirthSeen)
    assert birth.expected_completion == "2024-06"
    assert birth.stage_reached == "video_connected"
    store.stage = "equipment_installed"  # a camera dropped: live stage falls, reached holds
    beat = seen(store, "heartbeat", store.heartbeat(T0 + 30), T0 + 30)
    assert isinstance(beat, HeartbeatSeen)
    assert (beat.stage, beat.stage_reached) == ("equipment_installed", "video_connected")
    assert all(c.enrolled is True for c in beat.cameras)


def test_an_older_box_without_stage_reached_counts_its_live_stage() -> None:
    store = sim(stage="completed", send_new_fields=False)
    beat = seen(store, "heartbeat", store.heartbeat(T0), T0)
    assert isinstance(beat, HeartbeatSeen)
    assert beat.stage_reached == "completed"
    assert beat.cameras[0].enrolled is None
    birth = seen(store, "birth", store.birth(T0), T0)
    assert isinstance(birth, BirthSeen) and birth.expected_completion is None


def test_unknown_fields_are_ignored_and_known_ones_validated() -> None:
    store = sim()
    body = json.loads(store.heartbeat(T0))
    body["future_field"] = {"anything": [1, 2]}
    body["cameras"][0]["new_metric"] = 3.5
    assert isinstance(seen(store, "heartbeat", json.dumps(body).encode(), T0), HeartbeatSeen)

    def bad(kind: str, payload: bytes, limit: int = 256 * 1024) -> Bad:
        parsed = parse(Incoming(f"{store.root}/{kind}", payload, False, T0), ROOT, limit)
        assert isinstance(parsed, Bad), parsed
        return parsed

    assert bad("heartbeat", b"{not json").reason == "not_json"
    assert bad("heartbeat", b"[1, 2]").reason == "invalid"
    assert bad("heartbeat", b"[" * 200_000 + b"]" * 200_000, 10**6).reason == "not_json"
    body["session"] = 0  # sessions start at 1
    assert "session" in bad("heartbeat", json.dumps(body).encode()).detail
    assert bad("heartbeat", b"{" + b" " * 5000 + b"}", limit=4096).reason == "too_large"
    birth = json.loads(store.birth(T0))
    birth["store"]["id"] = "someone-else"
    assert bad("birth", json.dumps(birth).encode()).reason == "mismatch"
    birth = json.loads(store.birth(T0))
    birth["store"]["expected_completion"] = "June"
    assert bad("birth", json.dumps(birth).encode()).reason == "invalid"
    wrong = parse(Incoming("kitchen/v1/Xu Hui/s1/state", b"{}", False, T0), ROOT, 4096)
    assert isinstance(wrong, Bad) and wrong.reason == "bad_topic"
    for topic in (f"{store.root}/cmd", f"{store.root}/cmd/result", "other/root/a/b/state"):
        assert isinstance(parse(Incoming(topic, b"{}", False, T0), ROOT, 4096), Ignored)
    # An empty retained payload is someone clearing the topic, not a message.
    assert isinstance(parse(Incoming(f"{store.root}/state", b"", True, T0), ROOT, 4096), Ignored)


# --- presence -----------------------------------------------------------------------------


def test_a_connected_store_is_online_and_a_will_takes_it_offline() -> None:
    store = sim()
    record, history = fold(fresh(store), *connect(store, T0))
    assert record.online and record.online_session == 41
    assert [(h.online, h.at) for h in history if hasattr(h, "online")] == [(True, T0)]
    will = seen(store, "state", store.state(False, "connection_lost", T0), T0 + 100)
    record, history = fold(record, will)
    assert not record.online and record.offline_reason == "connection_lost"
    assert [(h.online, h.at, h.reason) for h in history] == [(False, T0 + 100, "connection_lost")]


def test_a_late_will_of_an_older_session_does_not_take_a_live_box_offline() -> None:
    store = sim()
    old_will = store.state(False, "connection_lost", T0)  # registered by session 41
    store.session = 42
    record, _ = fold(fresh(store), *connect(store, T0 + 10))
    record, history = fold(record, seen(store, "state", old_will, T0 + 20))
    assert record.online and history == []
    assert record.offline_session == 41 and record.online_session == 42


def test_presence_does_not_depend_on_the_order_messages_arrive_in() -> None:
    """Two consumer instances each see part of a store's traffic, in any order."""
    store = sim()
    first = connect(store, T0)
    will_41 = seen(store, "state", store.state(False, "connection_lost", T0), T0 + 40)
    store.session, store.seq = 42, 0
    second = connect(store, T0 + 50)
    messages = [*first, will_41, *second]
    outcomes = set()
    for order in itertools.permutations(messages):
        record, _ = fold(fresh(store), *order)
        outcomes.add((record.online, record.online_session, record.offline_session))
    assert outcomes == {(True, 42, 41)}


def test_a_retained_will_after_a_newer_birth_at_bootstrap_is_ignored() -> None:
    """The late Will overwrote the retained state; the retained birth is newer."""
    store = sim(session=7)
    birth = seen(store, "birth", store.birth(T0), T0 + 1, retained=True)
    will = seen(store, "state", sim(session=6).state(False, "connection_lost", T0), T0 + 1, True)
    record, _ = fold(fresh(store), will, birth)
    assert record.online


def test_silence_is_judged_by_the_sweep_and_dated_to_when_it_began() -> None:
    store = sim()
    record, _ = fold(fresh(store), *connect(store, T0))
    assert sweep(record, T0 + 89, STALE).record.online  # 3 x 30 s not yet over
    outcome = sweep(record, T0 + 300, STALE)
    assert not outcome.record.online
    (change,) = outcome.history
    assert (change.online, change.reason) == (False, "stale")
    assert change.at == pytest.approx(T0 + 90.02)
    # A heartbeat brings it back.
    record, history = fold(
        outcome.record, seen(store, "heartbeat", store.heartbeat(T0 + 310), T0 + 310)
    )
    assert record.online and history[0].online


def test_a_clean_stop_is_offline_with_its_reason() -> None:
    store = sim()
    record, _ = fold(fresh(store), *connect(store, T0))
    record, _ = fold(record, seen(store, "state", store.state(False, "stopped", T0 + 5), T0 + 5))
    row = store_row(record, T0 + 6, STALE)
    assert (row["online"], row["status"]) == (False, "stopped")


def test_duplicate_and_old_heartbeats_do_not_roll_the_store_back() -> None:
    store = sim(stage="video_connected", stage_reached="video_connected")
    record, _ = fold(fresh(store), *connect(store, T0))
    old = store.heartbeat(T0 + 30)
    store.stage = store.stage_reached = "completed"
    newer = store.heartbeat(T0 + 60)
    record, _ = fold(record, seen(store, "heartbeat", newer, T0 + 60))
    record, history = fold(record, seen(store, "heartbeat", old, T0 + 61))
    assert record.stage_reached == "completed" and history == []


# --- stage, coverage, alarms ----------------------------------------------------------------


def test_stage_changes_and_kcp_coverage_are_recorded_with_box_times() -> None:
    store = sim()
    record, history = fold(fresh(store), *connect(store, T0))
    assert [h.stage_reached for h in history if hasattr(h, "stage_reached")] == ["preparation"]
    data = store.advance_stage("equipment_installed")
    changed = seen(store, "event", store.event("stage_changed", data, T0 + 100), T0 + 101)
    record, history = fold(record, changed)
    assert record.stage_reached == "equipment_installed"
    assert record.stage_reached_since == pytest.approx(T0 + 100)
    store.uncovered.add("cold_room")
    record, history = fold(record, seen(store, "heartbeat", store.heartbeat(T0 + 130), T0 + 130))
    assert [(h.kcp, h.covered) for h in history if hasattr(h, "kcp")] == [("cold_room", False)]
    # The event that said so earlier arrives late (after an outage): it dates the change.
    late = seen(
        store, "event", store.event("kcp_uncovered", {"kcp": "cold_room"}, T0 + 110), T0 + 140
    )
    record, _ = fold(record, late)
    assert record.coverage["cold_room"] == {"covered": False, "since": pytest.approx(T0 + 110)}


def test_quality_alarms_raise_and_clear_in_either_form() -> None:
    store = sim()
    record, _ = fold(fresh(store), *connect(store, T0))
    raised = {"camera_id": "cam-a", "code": "too_dark", "state": "raised", "severity": "fail"}
    cleared = {"camera_id": "cam-a", "code": "too_dark", "raised": False}  # older boxes
    record, history = fold(
        record,
        seen(store, "event", store.event("quality_alarm", raised, T0 + 5), T0 + 5),
        seen(store, "event", store.event("quality_alarm", cleared, T0 + 9), T0 + 9),
        seen(store, "event", store.event("camera_offline", {"camera_id": "cam-b"}, T0 + 9), T0 + 9),
    )
    assert [(h.camera_id, h.code, h.raised) for h in history] == [
        ("cam-a", "too_dark", True),
        ("cam-a", "too_dark", False),
        ("cam-b", "camera_offline", True),
    ]


# --- views --------------------------------------------------------------------------------


def test_camera_status_is_unknown_while_its_store_is_offline() -> None:
    store = sim()
    store.cameras_offline.add("cam-b")
    record, _ = fold(fresh(store), *connect(store, T0))
    rows = {r["camera_id"]: r for r in camera_rows([record], T0 + 1, STALE)}
    assert (rows["cam-a"]["status"], rows["cam-b"]["status"]) == ("online", "offline")
    assert [r["camera_id"] for r in camera_rows([record], T0 + 1, STALE, only_offline=True)] == [
        "cam-b"
    ]
    later = camera_rows([record], T0 + 600, STALE)  # heartbeats stopped: store stale
    assert {r["status"] for r in later} == {"unknown"}


def test_alerts_list_long_outages_and_uncovered_kcps_oldest_first() -> None:
    a, b = sim(store_id="a-1"), sim(store_id="b-1")
    b.uncovered.add("cooking")
    record_a, _ = fold(fresh(a), *connect(a, T0))
    record_a, _ = fold(record_a, seen(a, "state", a.state(False, "connection_lost", T0), T0 + 100))
    record_b, _ = fold(fresh(b), *connect(b, T0 + 1000))
    record_b, _ = fold(record_b, seen(b, "heartbeat", b.heartbeat(T0 + 1990), T0 + 1990))
    found = alerts([record_b, record_a], T0 + 2000, STALE, 600, 300)
    assert [(x["kind"], x["store_id"]) for x in found] == [
        ("store_offline", "a-1"),
        ("kcp_uncovered", "b-1"),
    ]
    assert alerts([record_b, record_a], T0 + 1100, STALE, 600, 300)[0]["store_id"] == "a-1"
    assert len(alerts([record_b, record_a], T0 + 1100, STALE, 600, 300)) == 1


# --- report -------------------------------------------------------------------------------


def test_availability_counts_only_the_observed_part_of_the_period() -> None:
    changes = [(100.0, True), (200.0, False), (250.0, True)]
    assert availability(changes, 0, 300) == pytest.approx(150 / 200)
    assert availability(changes, 150, 300) == pytest.approx(100 / 150)
    assert availability([(50.0, False)], 100, 200) == 0.0
    assert availability([], 0, 100) is None
    assert availability([(500.0, True)], 0, 100) is None


def test_month_bounds_are_local_midnights() -> None:
    month = Month.parse("2024-05", SHANGHAI)
    assert month.start == 1714492800.0  # 2024-04-30T16:00:00Z
    assert month.end - month.start == 31 * 86400
    assert Month.parse("2024-12", SHANGHAI).end == Month.parse("2025-01", SHANGHAI).start
    with pytest.raises(Exception, match="YYYY-MM"):
        Month.parse("2024-13", SHANGHAI)


def test_annex_counts_stages_problems_and_stores_never_seen() -> None:
    month = Month.parse("2024-05", SHANGHAI)
    start = month.start + 3600
    records = []
    stages = {"s-1": "completed", "s-2": "video_connected", "s-3": "equipment_installed"}
    for store_id, stage in stages.items():
        store = sim(store_id=store_id, stage=stage, stage_reached=stage)
        record, _ = fold(fresh(store), *connect(store, start))
        records.append(record)
    offline = sim(store_id="s-4")
    record, _ = fold(fresh(offline), *connect(offline, start))
    record, _ = fold(
        record, seen(offline, "state", offline.state(False, "connection_lost"), start + 60)
    )
    records.append(record)
    selected = [
        SelectedStore("s-1", "xuhui", "导入名", "地址", "JY1"),
        SelectedStore("s-9", "xuhui", "未上线店", "徐汇区某路", "JY9", "2024-09"),
    ]
    now = month.start + 40 * 86400  # the month is over: as of its end
    presence = {r.store_id: [(start, True)] for r in records}
    presence["s-4"] = [(start, True), (start + 60, False)]
    report = build_report(
        month=month,
        now=now,
        districts=load_districts(),
        records=records,
        selected=selected,
        history=History(
            presence=presence, stages={r.store_id: [(start, r.stage_reached)] for r in records}
        ),
        settings=ReportSettings(zone=SHANGHAI),
        district_filter="xuhui",
    )
    body = report.to_json()
    (xuhui,) = body["districts"]
    assert (xuhui["target"], xuhui["selected"], xuhui["installed"]) == (80, 5, 3)
    assert (xuhui["connected"], xuhui["completed"]) == (2, 1)
    kinds = {(p["kind"], p["store_id"]) for p in xuhui["problems"]}
    assert ("offline", "s-4") in kinds and ("never_seen", "s-9") in kinds
    assert ("stage_stuck", "s-2") in kinds  # video_connected since the 1st, a month on
    assert ("stage_stuck", "s-1") not in kinds  # completed is not stuck
    rows = {s["store_id"]: s for s in body["stores"]}
    assert rows["s-1"]["name"] == "老王面馆 徐汇店"  # the box's birth wins over the list
    assert rows["s-9"]["stage_zh"] == "前期准备" and rows["s-9"]["seen"] is False
    assert rows["s-9"]["expected_completion"] == "2024-09"
    assert rows["s-1"]["availability"] == pytest.approx(1.0)
    assert rows["s-4"]["availability"] == pytest.approx(60 / (month.end - start), abs=1e-4)
    assert report.stores[3].availability == pytest.approx(60 / (month.end - start))
    assert rows["s-4"]["online"] is False
    assert [s["seq"] for s in body["stores"]] == [1, 2, 3, 4, 5]
    assert "离线" in report.problems_text(report.districts[0])
