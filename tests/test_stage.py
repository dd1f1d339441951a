"""The construction stage reported to the district is derived, never claimed: live with
hysteresis, and a persisted, monotonic stage_reached held for 10 minutes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig
from agent.model import (
    Camera,
    Event,
    KcpCoverage,
    Stage,
    StoreCoverage,
    StreamState,
    StreamStatus,
)
from agent.stage import (
    StageTracker,
    construction_stage,
    enrolment_ceiling,
    video_on_platform,
)
from agent.stage_worker import StageWorker
from agent.state import AgentState

CAMS = {"cam1": ["cooking", "prep"], "cam2": ["cold_room"]}
DECLARED = ["cooking", "prep", "cold_room"]
P, E, V, C = (
    Stage.PREPARATION,
    Stage.EQUIPMENT_INSTALLED,
    Stage.VIDEO_CONNECTED,
    Stage.COMPLETED,
)


@pytest.mark.parametrize(
    ("online", "up", "covered", "streaming", "expected"),
    [
        ([], [], [], True, P),
        (["unenrolled"], [], [], True, P),
        (["cam1"], [], ["cooking", "prep"], True, E),
        (["cam1", "cam2"], ["cam1"], DECLARED, True, V),
        (["cam1", "cam2"], ["cam1", "cam2"], ["cooking", "prep"], True, V),
        (["cam1", "cam2"], ["cam1", "cam2"], DECLARED, True, C),
        # No streams.ingest_url: no video ever reaches the platform, so never completed.
        (["cam1", "cam2"], [], DECLARED, False, E),
        (["cam1", "cam2"], ["cam1", "cam2"], DECLARED, False, E),
        (["cam1"], [], ["cooking", "prep"], False, E),
        # A stream up from a camera nobody enrolled proves nothing.
        (["cam1"], ["stray"], DECLARED, True, E),
    ],
)
def test_stage(
    online: list[str], up: list[str], covered: list[str], streaming: bool, expected: Stage
) -> None:
    assert construction_stage(DECLARED, CAMS, online, up, covered, streaming) == expected


def test_completed_needs_every_other_check_too() -> None:
    every = ["cam1", "cam2"]
    assert construction_stage(DECLARED, CAMS, every, every, DECLARED, True, checks_pass=False) == V


def test_nothing_enrolled_is_preparation_and_enrolment_caps_the_stage() -> None:
    assert construction_stage(DECLARED, {}, ["cam1"], ["cam1"], DECLARED, True) == P
    assert enrolment_ceiling(DECLARED, {}) == P
    assert enrolment_ceiling(DECLARED, {"cam1": ["cooking", "prep"]}) == V
    assert enrolment_ceiling(DECLARED, CAMS) == C


def test_an_on_demand_stream_at_rest_counts_when_its_last_run_reached_the_ingest() -> None:
    streams = {
        "always": StreamState.STOPPED,
        "resting": StreamState.STOPPED,
        "failed": StreamState.DOWN,
        "up": StreamState.UP,
    }
    on_demand = ["resting", "failed", "never_started", "not_yet_run"]
    last_up = {"resting": True, "failed": True, "never_started": True, "always": True}
    assert video_on_platform(streams, on_demand, last_up) == {"resting", "up", "never_started"}


def test_the_live_stage_rises_at_once_and_falls_only_after_the_hold_down() -> None:
    tracker = StageTracker(hold_down_s=300, reach_after_s=600)
    assert tracker.update(E, 0).stage == E
    assert tracker.update(C, 10).stage == C
    # A camera's outage of four minutes: the live stage holds.
    for t in range(20, 260, 5):
        change = tracker.update(E, t)
        assert change.stage == C and not change.changed
    assert tracker.update(C, 265).stage == C
    # Lower for five minutes in a row: it falls, once.
    changes = [tracker.update(V, t) for t in range(270, 580, 5)]
    assert [c.stage for c in changes if c.live_changed] == [V]
    fell = [t for t, c in zip(range(270, 580, 5), changes, strict=True) if c.live_changed]
    assert fell == [570]


def test_stage_reached_is_the_highest_held_for_ten_minutes_and_never_goes_back() -> None:
    tracker = StageTracker(hold_down_s=300, reach_after_s=600)
    tracker.update(E, 0)
    tracker.update(C, 100)
    assert tracker.update(C, 699).reached == E  # equipment held 600 s at t=600
    change = tracker.update(C, 700)
    assert change.reached == C and change.previous_reached == E and change.reached_changed
    for t in range(705, 2000, 5):
        tracker.update(P, t)
    assert tracker.stage == P and tracker.reached == C
    # Undoing the enrolment is the one way back.
    change = tracker.update(P, 2005, ceiling=P)
    assert (change.stage, change.reached) == (P, P)


def test_a_stage_held_less_than_ten_minutes_is_not_reached() -> None:
    tracker = StageTracker(hold_down_s=60, reach_after_s=600)
    for t in range(0, 1800, 5):
        # Video up for five minutes, then down for two (past the hold-down), again and again.
        tracker.update(V if t % 420 < 300 else E, t)
    assert tracker.reached == E


def test_the_tracker_survives_a_restart_without_flapping() -> None:
    tracker = StageTracker(hold_down_s=300, reach_after_s=600)
    tracker.update(C, 0)
    tracker.update(C, 600)
    saved = json.loads(json.dumps(tracker.to_json()))
    again = StageTracker.from_json(saved, 300, 600)
    assert (again.stage, again.reached) == (C, C)
    # Right after a restart nothing is online yet: the stage holds through the hold-down.
    assert again.update(P, 1000).stage == C
    assert StageTracker.from_json({"stage_reached": "built"}).reached == P
    assert StageTracker.from_json(None).stage is None


# --- the worker, on a real AgentState -------------------------------------------------------


def config(tmp_path: Path, enrolled: list[dict[str, Any]], **streams: Any) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "store": {
                "id": "s-1",
                "name": "店",
                "licence_number": "JY1",
                "district": "xuhui",
                "address": "路",
                "kcps": ["cooking", "cold_room"],
            },
            "broker": {"url": "mqtt://127.0.0.1:1883"},
            "cameras": {"enrolled": enrolled},
            "streams": {"ingest_url": "rtmp://127.0.0.1/live/{camera_id}", **streams},
            "paths": {"state_dir": str(tmp_path)},
        }
    )


ENROLLED = [
    {"id": "wok", "kcps": [{"kcp": "cooking"}]},
    {"id": "cold", "kcps": [{"kcp": "cold_room"}]},
]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def kitchen(state: AgentState, online: bool = True, stream: StreamState = StreamState.UP) -> None:
    for camera_id in ("wok", "cold"):
        state.set_camera(Camera(id=camera_id, address="192.0.2.1", xaddr="x", online=online))
        state.set_stream(camera_id, StreamStatus(state=stream))
    state.set_coverage(
        StoreCoverage(
            tuple(
                KcpCoverage(kcp, online, (cam,) if online else (), (cam,), None)
                for cam, kcp in (("wok", "cooking"), ("cold", "cold_room"))
            )
        )
    )


def test_worker_reaches_completed_persists_it_and_tells_it_in_events(tmp_path: Path) -> None:
    state, clock = AgentState(), Clock()
    events: list[Event] = []
    state.subscribe(events.append)
    worker = StageWorker(config(tmp_path, ENROLLED), state, tmp_path, clock=clock)
    assert state.stage() is not None and state.stage().stage is None  # type: ignore[union-attr]
    assert worker.tick() is None  # no coverage judged yet: nothing claimed
    kitchen(state)
    for _ in range(121):
        worker.tick()
        clock.now += 5
    status = state.stage()
    assert status is not None and (status.stage, status.reached) == (C, C)
    changes = [e.payload.to_json() for e in events if e.type == "stage_changed"]
    assert changes[0] == {
        "stage": "completed",
        "previous": None,
        "stage_reached": "preparation",
        "previous_reached": "preparation",
    }
    assert changes[-1]["stage_reached"] == "completed"
    saved = json.loads((tmp_path / "stage.json").read_text(encoding="utf-8"))
    assert saved["stage_reached"] == "completed" and saved["last_up"] == {"cold": True, "wok": True}

    # A restart with every camera down: the stage reached stands, the live one holds a while.
    state = AgentState()
    again = StageWorker(config(tmp_path, ENROLLED), state, tmp_path, clock=clock)
    kitchen(state, online=False, stream=StreamState.DOWN)
    again.tick()
    assert (state.stage().stage, state.stage().reached) == (C, C)  # type: ignore[union-attr]

    # Undoing the enrolment takes the stage reached back, at once.
    events.clear()
    state = AgentState()
    state.subscribe(events.append)
    StageWorker(config(tmp_path, []), state, tmp_path, clock=clock)
    assert state.stage().reached == P  # type: ignore[union-attr]
    assert [e.payload.to_json()["stage_reached"] for e in events] == ["preparation"]


def test_a_wall_clock_step_is_no_time_held(tmp_path: Path) -> None:
    # A box without a clock battery boots on the time it shut down; NTP then steps its wall
    # clock by the days it was off. A stage held for seconds is not held for ten minutes.
    state, steady, wall = AgentState(), Clock(), Clock()
    worker = StageWorker(config(tmp_path, ENROLLED), state, tmp_path, clock=steady, wall_clock=wall)
    kitchen(state)
    for _ in range(6):
        worker.tick()
        steady.now += 5
        wall.now += 5
    wall.now += 10 * 24 * 3600  # NTP's first step: ten days
    worker.tick()
    status = state.stage()
    assert status is not None and (status.stage, status.reached) == (C, P)
    while steady.now < 1_700_000_000.0 + 600:  # ten minutes held, by the steady clock
        steady.now += 5
        wall.now += 5
        worker.tick()
    status = state.stage()
    assert status is not None and status.reached == C
    assert status.reached_at == wall.now  # dated by the wall clock, as ops read it
    saved = json.loads((tmp_path / "stage.json").read_text(encoding="utf-8"))
    assert saved["reached_at"] == wall.now


def test_uptime_is_no_longer_for_a_wall_clock_step(monkeypatch: pytest.MonkeyPatch) -> None:
    state = AgentState()
    stepped = time.time() + 10 * 365 * 86400  # NTP's first set after a long time off
    monkeypatch.setattr(time, "time", lambda: stepped)
    assert 0 <= state.uptime_s < 60
    # What heartbeats and status compute, `now - started_at`, is the uptime still.
    assert 0 <= time.time() - state.started_at < 60


def test_worker_without_ingest_never_completes(tmp_path: Path) -> None:
    plain = config(tmp_path, ENROLLED).model_dump(mode="json")
    plain["streams"]["ingest_url"] = None
    state, clock = AgentState(), Clock()
    worker = StageWorker(AgentConfig.model_validate(plain), state, tmp_path, clock=clock)
    kitchen(state)
    for _ in range(200):
        worker.tick()
        clock.now += 5
    assert state.stage().reached == E  # type: ignore[union-attr]


def test_worker_counts_an_on_demand_stream_at_rest(tmp_path: Path) -> None:
    state, clock = AgentState(), Clock()
    worker = StageWorker(config(tmp_path, ENROLLED, mode="on_demand"), state, tmp_path, clock=clock)
    kitchen(state)
    worker.tick()
    kitchen(state, stream=StreamState.STOPPED)  # the platform's viewers left: idle stop
    for _ in range(200):
        clock.now += 5
        worker.tick()
    assert state.stage().stage == C  # type: ignore[union-attr]
    kitchen(state, stream=StreamState.DOWN)  # the next start failed: no longer proven
    for _ in range(70):
        clock.now += 5
        worker.tick()
    assert state.stage().stage == E  # type: ignore[union-attr]


def test_the_fleet_reads_the_stage_the_box_sends(tmp_path: Path) -> None:
    """The box's birth, heartbeat and stage_changed event, as the fleet consumer parses
    them: stage_reached and expected completion where annex 4 takes them from."""
    from agent.fleet.ingest import BirthSeen, HeartbeatSeen, Incoming, parse
    from agent.model import StageChanged, StageStatus
    from agent.uplink.messages import SystemInfo
    from agent.uplink.mqtt.heartbeat import build_birth, build_heartbeat

    raw = config(tmp_path, ENROLLED).model_dump(mode="json")
    raw["store"]["expected_completion"] = "2024-09"
    box = AgentConfig.model_validate(raw)
    stage = StageStatus(V, C, 1_700_000_000.0)
    root = "kitchen/v1/xuhui/s-1"
    birth = build_birth(box, 3, "5", stage, "0.1.0").model_dump_json().encode()
    system = SystemInfo(
        uptime_s=None,
        load=None,
        mem_total_mb=None,
        mem_available_mb=None,
        disk_total_mb=None,
        disk_free_mb=None,
        temperature_c=None,
    )
    beat = build_heartbeat(
        session=3,
        seq=1,
        now=1_700_000_100.0,
        started_at=1_700_000_000.0,
        system=system,
        broker_rtt_ms=None,
        enrolled=["wok", "cold"],
        cameras={},
        quality={},
        streams={},
        declared_kcps=["cooking", "cold_room"],
        coverage=None,
        stage=stage,
        outbox_pending=0,
        outbox_dropped=0,
    )
    seen_birth = parse(Incoming(f"{root}/birth", birth, True, 1.0), "kitchen/v1", 65536)
    assert isinstance(seen_birth, BirthSeen)
    assert (seen_birth.stage, seen_birth.stage_reached) == ("video_connected", "completed")
    assert seen_birth.expected_completion == "2024-09"
    body = beat.model_dump_json().encode()
    seen_beat = parse(Incoming(f"{root}/heartbeat", body, False, 1.0), "kitchen/v1", 65536)
    assert isinstance(seen_beat, HeartbeatSeen)
    assert (seen_beat.stage, seen_beat.stage_reached) == ("video_connected", "completed")
    assert all(camera.enrolled for camera in seen_beat.cameras)
    event = StageChanged(stage=V, previous=E, stage_reached=C, previous_reached=V).to_json()
    from agent.fleet.ingest import EVENT_DATA

    data = EVENT_DATA["stage_changed"].model_validate(event)
    assert (data.stage, data.stage_reached) == (V, C)  # type: ignore[attr-defined]
