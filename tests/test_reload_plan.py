"""Which workers a config change touches: the pure plan, and the agent's settings slices.

The live proof (the MQTT session and an ffmpeg relay surviving a reload) is in
tests/test_daemon_lifecycle.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.capture.discovery_worker import DiscoveryWorker
from agent.config import AgentConfig
from agent.config.loader import load_text
from agent.daemon import Daemon, Runtime
from agent.reload import ReloadPlan, plan_reload
from agent.workers import WORKER_SPECS
from testkit.configs import VALID

ORDER = ["mqtt", "status", "discovery", "quality", "streams"]


def test_plan_keeps_rebuilds_starts_and_stops() -> None:
    running = {"mqtt": 1, "status": 1, "discovery": 1, "quality": 1, "streams": 1}
    wanted = {"mqtt": 1, "status": 1, "discovery": 2, "quality": 1, "streams": None}
    assert plan_reload(ORDER, running, wanted) == ReloadPlan(
        keep=("mqtt", "status", "quality"), rebuild=("discovery",), stop=("streams",)
    )
    assert plan_reload(ORDER, {**running, "streams": None}, running) == ReloadPlan(
        keep=("mqtt", "status", "discovery", "quality"), start=("streams",)
    )
    plan = plan_reload(ORDER, running, {**running, "quality": 3, "mqtt": 0})
    assert plan.to_stop == ("mqtt", "quality") and plan.to_build == ("mqtt", "quality")
    assert plan_reload(ORDER, {"streams": None}, {"streams": None}) == ReloadPlan(
        keep=(), rebuild=()
    )


BASE = (
    VALID
    + """\
cameras:
  username: admin
  static: ["192.0.2.20:8000"]
  enrolled:
    - {id: cam-wok, name: 热菜区, kcps: [{kcp: cooking}]}
    - {id: cam-sink, kcps: [{kcp: dishwashing}]}
quality:
  interval_s: 60
"""
)


@pytest.fixture
def runtime_of(tmp_path: Path) -> Callable[..., Runtime]:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("first", encoding="utf-8")

    def make(text: str = BASE, mqtt_password: str | None = None) -> Runtime:
        if mqtt_password is not None:
            (creds / "mqtt-password").write_text(mqtt_password, encoding="utf-8")
        text += (
            f"paths:\n  state_dir: {tmp_path / 'state'}\n  credentials_dir: {creds}\n"
            f"  runtime_dir: {tmp_path / 'run'}\n"
        ) * ("paths:" not in text)
        config: AgentConfig = load_text(text)
        daemon = Daemon(tmp_path / "agent.yaml", WORKER_SPECS, config=config)
        return daemon._make_runtime(config)

    return make


def plan(runtime_of: Callable[..., Runtime], before: Runtime, **change: Any) -> ReloadPlan:
    # Slices are taken when the workers are built (secret files are read live).
    running = {s.name: s.settings(before) for s in WORKER_SPECS}
    after = runtime_of(**change)
    order = [spec.name for spec in WORKER_SPECS]
    return plan_reload(order, running, {s.name: s.settings(after) for s in WORKER_SPECS})


@pytest.mark.parametrize(
    ("edit", "rebuilt"),
    [
        # A quality threshold: the quality worker alone.
        (("interval_s: 60", "interval_s: 30"), ("quality",)),
        # A camera's name: quality; the reporter re-sends its birth, the streams worker
        # takes the camera list live.
        (("name: 热菜区", "name: 炒锅"), ("quality",)),
        # A camera's KCPs: quality (it judges per KCP) and the stage (what enrolment allows).
        (("kcps: [{kcp: dishwashing}]", "kcps: [{kcp: prep}]"), ("quality", "stage")),
        # A per-camera stream override: nothing rebuilt (that camera's relay restarts).
        (("max_kbps: 512\n", "max_kbps: 512\n  cameras: {cam-sink: {max_kbps: 448}}\n"), ()),
        # Stream settings for all: the streams worker.
        (("max_kbps: 512", "max_kbps: 384"), ("streams",)),
        # The broker: the MQTT link (a new session).
        (("url: mqtts://127.0.0.1:8883", "url: mqtts://127.0.0.1:8884"), ("mqtt",)),
        # Store details that go out in the birth: nothing rebuilt.
        (("name: 老王面馆", "name: 老王面馆 (新)"), ()),
        # Where cameras are looked for: discovery.
        (('static: ["192.0.2.20:8000"]', 'static: ["192.0.2.21:8000"]'), ("discovery",)),
        # Where a camera's media may be: discovery checks its records against it again
        # (a host no longer trusted gets no URI, so no password); quality judges enrolment.
        (
            ("{id: cam-sink, kcps", "{id: cam-sink, media_hosts: [192.0.2.30], kcps"),
            ("discovery", "quality"),
        ),
    ],
)
def test_what_a_change_rebuilds(
    runtime_of: Callable[..., Runtime], edit: tuple[str, str], rebuilt: tuple[str, ...]
) -> None:
    old, new = edit
    assert old in BASE
    result = plan(runtime_of, runtime_of(), text=BASE.replace(old, new, 1))
    assert result.rebuild == rebuilt
    assert result.start == result.stop == ()


def test_streaming_switched_off_and_on(runtime_of: Callable[..., Runtime]) -> None:
    without = BASE.replace(
        "  ingest_url: rtmp://127.0.0.1/live/{store_id}-{camera_id}?token={token}\n", ""
    )
    assert plan(runtime_of, runtime_of(), text=without).stop == ("streams",)
    assert plan(runtime_of, runtime_of(text=without), text=BASE).start == ("streams",)
    # Without an ingest the store cannot get past equipment installed: the stage worker
    # reads that from the config it is handed, so nothing else is rebuilt.
    assert plan(runtime_of, runtime_of(), text=without).rebuild == ()


def test_a_new_broker_password_rebuilds_the_link(runtime_of: Callable[..., Runtime]) -> None:
    assert plan(runtime_of, runtime_of(), mqtt_password="second").rebuild == ("mqtt",)


def test_an_enrolment_change_is_handed_to_the_kept_discovery_worker(
    runtime_of: Callable[..., Runtime],
) -> None:
    # A camera enrolled by a reload: discovery is kept (no new round), yet from then on
    # that camera's transitions are events and it is never forgotten as a stray device.
    before = runtime_of()
    spec = next(s for s in WORKER_SPECS if s.name == "discovery")
    worker = spec.build(before)
    assert isinstance(worker, DiscoveryWorker)
    assert worker.enrolled_ids == {"cam-wok", "cam-sink"}
    text = BASE.replace(
        "    - {id: cam-sink, kcps: [{kcp: dishwashing}]}\n",
        "    - {id: cam-sink, kcps: [{kcp: dishwashing}]}\n    - {id: cam-prep}\n",
    )
    assert text != BASE
    assert "discovery" not in plan(runtime_of, before, text=text).rebuild
    after = runtime_of(text=text)
    spec.update(worker, after)
    assert worker.enrolled_ids == {"cam-wok", "cam-sink", "cam-prep"}
    assert worker.logins is after.logins
