"""The daemon's quality worker: per-camera judgement, alarms, references and KCP coverage.

Frames come from real photographs through an injected grabber (the pure parts are tested
elsewhere); one test fetches a real snapshot over HTTP and falls back to a real RTSP
sub-stream, as the daemon does.
"""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.capture.decode import decode_for_analysis
from agent.capture.quality_worker import NO_FRAME, QualityWorker, grab_frame
from agent.capture.reference import ReferenceStore
from agent.config import AgentConfig
from agent.errors import CameraTimeout
from agent.model import Camera, CameraLogin, Event, MediaProfile
from agent.state import AgentState
from agent.supervisor import WorkerContext
from testkit import quality_evalset as ev
from testkit import quality_physical as qp
from testkit.images import read_bgr
from testkit.servers import QuietHTTPServer

PHOTOS = Path(__file__).parent / "data" / "quality"
NOON = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def photo(name: str) -> np.ndarray:
    return read_bgr(PHOTOS / f"{name}.jpg")


def make_config(
    quality: Mapping[str, Any] | None = None,
    kcps: tuple[str, ...] = ("cooking", "prep", "dishwashing"),
) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "store": {
                "id": "sh-xh-0001",
                "name": "老王面馆",
                "licence_number": "JY31010400012345",
                "district": "xuhui",
                "address": "上海市徐汇区漕溪北路1号",
                "kcps": list(kcps),
            },
            "broker": {"url": "mqtts://127.0.0.1:8883", "username": "box-0001"},
            "cameras": {
                "enrolled": [
                    {
                        "id": "cam-wok",
                        "kcps": [
                            {
                                "kcp": "cooking",
                                "roi": [[0.05, 0.1], [0.45, 0.1], [0.45, 0.9], [0.05, 0.9]],
                            },
                            {"kcp": "prep"},
                        ],
                    },
                    {"id": "cam-sink", "kcps": [{"kcp": "dishwashing"}]},
                ]
            },
            "quality": {"raise_after": 2, "clear_after": 2, **(quality or {})},
        }
    )


class Scene:
    """What each fake camera shows now (a real photo, possibly degraded)."""

    def __init__(self) -> None:
        self.pictures: dict[str, np.ndarray] = {
            "cam-wok": ev.view_crop(photo("astronaut")),
            "cam-sink": ev.view_crop(photo("coffee")),
        }
        self.failing: set[str] = set()
        self.grabs = 0
        self.seed = 0

    def grab(
        self, camera: Camera, login: CameraLogin | None, timeout_s: float, width: int
    ) -> np.ndarray:
        self.grabs += 1
        camera_id = camera.id
        if camera_id in self.failing:
            raise CameraTimeout(f"snapshot at {camera_id} did not arrive in time")
        # A live camera: fresh sensor grain every sample, through JPEG like a snapshot.
        self.seed += 1
        picture = ev.add_noise(self.pictures[camera_id], 1.5, np.random.default_rng(self.seed), 1.0)
        return decode_for_analysis(ev.encode(picture, 85), width)


@pytest.fixture
def scene() -> Scene:
    return Scene()


@pytest.fixture
def events() -> list[Event]:
    return []


def on_line(camera_id: str, *profiles: MediaProfile, host: str = "192.0.2.10") -> Camera:
    return Camera(
        id=camera_id,
        address=host,
        xaddr=f"http://{host}/onvif/device_service",
        profiles=profiles,
    )


def make_worker(
    tmp_path: Path,
    scene: Scene,
    events: list[Event],
    clock: list[dt.datetime],
    config: AgentConfig | None = None,
) -> tuple[QualityWorker, AgentState]:
    state = AgentState()
    state.subscribe(events.append)
    for camera_id in ("cam-wok", "cam-sink"):
        state.set_camera(on_line(camera_id))
    worker = QualityWorker(
        config or make_config(),
        state,
        None,
        tmp_path / "state",
        grab=scene.grab,
        local_now=lambda: clock[0],
    )
    return worker, state


def of_type(events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.payload.to_json() for e in events if e.type == kind]


def test_healthy_cameras_are_enrolled_judged_ok_and_cover_the_store(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    for _ in range(3):
        worker.sample_all()
    quality = state.quality()
    assert quality["cam-wok"].verdict == "ok", quality["cam-wok"].issues
    assert quality["cam-sink"].verdict == "ok"
    assert quality["cam-wok"].in_view["cooking"] > 0.9
    coverage = state.coverage()
    assert coverage is not None and coverage.ratio == 1.0 and coverage.declared == 3
    assert of_type(events, "quality_alarm") == []
    assert of_type(events, "kcp_uncovered") == []
    # The first usable frames became the references, persisted in the state dir.
    refs = sorted(p.name for p in (tmp_path / "state" / "quality").glob("*/reference.*"))
    assert refs == ["reference.json", "reference.json", "reference.png", "reference.png"]


def test_a_camera_no_longer_enrolled_loses_its_verdict(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    worker.sample_all()
    assert set(state.quality()) == {"cam-wok", "cam-sink"}
    # A reload takes the sink out of the enrolment: the quality worker is built anew.
    plain = make_config().model_dump(mode="json")
    plain["cameras"]["enrolled"] = [
        c for c in plain["cameras"]["enrolled"] if c["id"] != "cam-sink"
    ]
    QualityWorker(AgentConfig.model_validate(plain), state, None, tmp_path / "state")
    assert set(state.quality()) == {"cam-wok"}  # its last verdict no longer stands


def test_degraded_camera_raises_after_n_and_clears_after_m(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    worker.sample_all()  # enrolment
    clean = scene.pictures["cam-wok"]
    scene.pictures["cam-wok"] = ev.veil(clean, 0.35, 220.0, np.ones(3, np.float32))  # steam
    worker.sample_all()
    assert state.quality()["cam-wok"].verdict == "warn"
    assert of_type(events, "quality_alarm") == []  # one bad sample is not an alarm
    worker.sample_all()
    raised = of_type(events, "quality_alarm")
    assert [(e["camera_id"], e["code"], e["state"], e["raised"]) for e in raised] == [
        ("cam-wok", "low_contrast", "raised", True)
    ]
    assert raised[0]["value"] < raised[0]["threshold"]
    assert state.quality()["cam-wok"].alarms == ("low_contrast",)
    scene.pictures["cam-wok"] = clean
    worker.sample_all()
    assert len(of_type(events, "quality_alarm")) == 1
    worker.sample_all()
    cleared = of_type(events, "quality_alarm")[-1]
    assert (cleared["code"], cleared["state"], cleared["raised"]) == (
        "low_contrast",
        "cleared",
        False,
    )
    assert state.quality()["cam-wok"].alarms == ()


def test_camera_turned_away_uncovers_its_kcp(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    for _ in range(2):
        worker.sample_all()
    assert state.coverage().ratio == 1.0
    scene.pictures["cam-sink"] = ev.view_crop(photo("rocket"))  # knocked to face elsewhere
    for _ in range(2):
        worker.sample_all()
    assert [(e["code"], e["state"]) for e in of_type(events, "quality_alarm")] == [
        ("scene_changed", "raised")
    ]
    assert of_type(events, "kcp_uncovered") == [
        {"kcp": "dishwashing", "reason": "failing", "camera_ids": ["cam-sink"]}
    ]
    assert state.coverage().ratio == round(2 / 3, 4)
    scene.pictures["cam-sink"] = ev.view_crop(photo("coffee"))
    for _ in range(2):
        worker.sample_all()
    assert of_type(events, "kcp_covered") == [{"kcp": "dishwashing", "camera_ids": ["cam-sink"]}]


def test_roi_out_of_view_uncovers_only_that_kcp(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    worker, state = make_worker(
        tmp_path,
        scene,
        events,
        [NOON],
        make_config({"checks": {"scene_changed": {"threshold": 0.9, "severity": "warn"}}}),
    )
    for _ in range(2):
        worker.sample_all()
    # Panned right by 45 %: the cooking ROI (left side of the enrolled view) left the
    # picture, the camera itself is still healthy and covers prep (no ROI).
    scene.pictures["cam-wok"] = ev.view_crop(photo("astronaut"), 0.45, 0.0, 0.0)
    for _ in range(2):
        worker.sample_all()
    kcps = state.coverage().to_json()["kcps"]
    assert kcps["cooking"]["covered"] is False and kcps["cooking"]["reason"] == "out_of_view"
    assert kcps["prep"]["covered"] is True
    assert [e["kcp"] for e in of_type(events, "kcp_uncovered")] == ["cooking"]
    assert state.quality()["cam-wok"].in_view["cooking"] < 0.2


def test_declared_kcp_without_camera_is_uncovered_once(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    config = make_config(kcps=("cooking", "cold_room"))
    worker, state = make_worker(tmp_path, scene, events, [NOON], config)
    for _ in range(4):
        worker.sample_all()
    assert state.coverage().get("cold_room").reason == "no_camera"
    assert state.coverage().ratio == 0.5
    assert of_type(events, "kcp_uncovered") == [
        {"kcp": "cold_room", "reason": "no_camera", "camera_ids": []}
    ]


def test_closed_kitchen_at_night_is_not_an_alarm(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    clock = [NOON]
    config = make_config({"business_hours": ["06:00-14:00", "16:00-22:30"]})
    worker, state = make_worker(tmp_path, scene, events, clock, config)
    worker.sample_all()
    clock[0] = dt.datetime(2024, 5, 1, 23, 30, tzinfo=dt.UTC)
    scene.pictures["cam-wok"] = ev.expose_to(scene.pictures["cam-wok"], 12)  # lights off
    for _ in range(4):
        worker.sample_all()
    assert state.quality()["cam-wok"].verdict == "fail"  # judged, shown in heartbeats...
    assert of_type(events, "quality_alarm") == []  # ...but nobody is paged
    clock[0] = dt.datetime(2024, 5, 2, 6, 0, tzinfo=dt.UTC)  # opening time, still dark
    for _ in range(2):
        worker.sample_all()
    assert [(e["code"], e["state"]) for e in of_type(events, "quality_alarm")] == [
        ("too_dark", "raised")
    ]


def serve_always(worker: QualityWorker, scene: Scene, camera_id: str, jpeg: bytes) -> None:
    """From now on ``camera_id`` sends the very same picture at every sample."""
    same = decode_for_analysis(jpeg, 320)

    def grab(camera: Camera, *args: Any) -> np.ndarray:
        return same.copy() if camera.id == camera_id else scene.grab(camera, *args)

    worker.grab = grab


def test_frozen_picture_is_an_alarm(tmp_path: Path, scene: Scene, events: list[Event]) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    worker.sample_all()
    serve_always(worker, scene, "cam-sink", ev.encode(scene.pictures["cam-sink"]))
    for _ in range(3):
        worker.sample_all()
    assert "frozen" in [i.code for i in state.quality()["cam-sink"].issues]
    assert [(e["camera_id"], e["code"]) for e in of_type(events, "quality_alarm")] == [
        ("cam-sink", "frozen")
    ]


def test_a_no_video_screen_raises_no_signal_only(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    """A recorder channel whose camera died serves the same "no video" card every time:
    one alarm, no_signal (check the cable and power), not also frozen (a stuck encoder)."""
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    worker.sample_all()
    serve_always(worker, scene, "cam-sink", qp.encode(qp.no_video_screen(640, 360, 1)))
    for _ in range(4):
        worker.sample_all()
    assert [i.code for i in state.quality()["cam-sink"].issues] == ["no_signal"]
    assert [(e["camera_id"], e["code"]) for e in of_type(events, "quality_alarm")] == [
        ("cam-sink", "no_signal")
    ]


def test_a_shaking_camera_raises_jitter_but_a_knock_does_not(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    worker.sample_all()  # enrols both views
    view = scene.pictures["cam-sink"]
    # Knocked a few pixels aside once, then still: no jitter.
    scene.pictures["cam-sink"] = ev.translate(view, 6, 0)
    for _ in range(3):
        worker.sample_all()
    assert of_type(events, "quality_alarm") == []
    # A shaking mount: the view is somewhere else at every sample.
    for offset in ((0, 6), (-6, 0), (6, -6)):
        scene.pictures["cam-sink"] = ev.translate(view, *offset)
        worker.sample_all()
    assert [(e["camera_id"], e["code"]) for e in of_type(events, "quality_alarm")] == [
        ("cam-sink", "jitter")
    ]
    assert "jitter" in [i.code for i in state.quality()["cam-sink"].issues]


def test_no_frame_from_an_online_camera(tmp_path: Path, scene: Scene, events: list[Event]) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    scene.failing.add("cam-sink")
    for _ in range(2):
        worker.sample_all()
    assert state.quality()["cam-sink"].verdict == "unknown"
    assert [(e["code"], e["state"]) for e in of_type(events, "quality_alarm")] == [
        (NO_FRAME, "raised")
    ]
    assert state.coverage().get("dishwashing").covered is False


def test_offline_camera_is_not_sampled_and_does_not_cover(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    state.set_camera(replace(on_line("cam-sink"), online=False))
    worker.sample_all()
    assert scene.grabs == 1
    assert state.quality()["cam-sink"].verdict == "unknown"
    assert state.coverage().get("dishwashing").reason == "offline"


def test_reference_survives_a_restart_and_can_be_reset(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    worker, _ = make_worker(tmp_path, scene, events, [NOON])
    worker.sample_all()
    # Restart: the installer's enrolled view is kept, so a camera that was moved while the
    # agent was down is still caught.
    scene.pictures["cam-sink"] = ev.view_crop(photo("rocket"))
    again, state = make_worker(tmp_path, scene, events, [NOON])
    again.sample_all()
    assert "scene_changed" in [i.code for i in state.quality()["cam-sink"].issues]
    again.reset_reference("cam-sink")
    again.sample_all()
    assert state.quality()["cam-sink"].verdict == "ok"


@pytest.mark.parametrize(
    "fogged",
    [
        # Condensation on a cold lens and a greasy film: a veil that keeps large-scale light
        # and dark, so the picture's overall contrast alone would let it through.
        lambda r: qp.condensation(r, 0.3, np.random.default_rng(5)),
        lambda r: qp.greasy_film(r, 0.45),
    ],
    ids=["condensation", "grease_film"],
)
def test_a_fogged_lens_is_never_enrolled(
    tmp_path: Path, scene: Scene, events: list[Event], fogged: Any
) -> None:
    clean = read_bgr(PHOTOS / "kitchen" / "prep_1.jpg")
    radiance = qp.to_radiance(clean)
    scene.pictures["cam-sink"] = qp.capture(fogged(radiance), np.random.default_rng(6))
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    for _ in range(2):
        worker.sample_all()
    enrolled = [e["camera_id"] for e in of_type(events, "quality_reference_enrolled")]
    assert enrolled == ["cam-wok"]
    assert "low_contrast" in [i.code for i in state.quality()["cam-sink"].issues]
    # Wiped clean: the next sample is enrolled.
    scene.pictures["cam-sink"] = qp.capture(radiance, np.random.default_rng(7))
    worker.sample_all()
    enrolled = [e["camera_id"] for e in of_type(events, "quality_reference_enrolled")]
    assert enrolled == ["cam-wok", "cam-sink"]


_VEIL = {"low_contrast", "blurred"}  # grease also softens: naming either is right


@pytest.mark.parametrize(
    ("kitchen", "fault", "shown"),
    [
        (
            "prep_1",
            lambda r, scale: qp.grease_smear(r, 0.6, np.random.default_rng(3)),
            _VEIL,
        ),
        ("cooking_1", lambda r, scale: qp.greasy_film(r, 0.45), _VEIL),
        ("dishwashing_1", lambda r, scale: qp.disc_blur(r, 3 * scale), {"blurred"}),
    ],
    ids=["grease_smear", "grease_film", "defocus"],
)
def test_a_reference_taken_through_grease_or_a_soft_lens_heals_on_the_first_clear_view(
    tmp_path: Path, scene: Scene, events: list[Event], kitchen: str, fault: Any, shown: set[str]
) -> None:
    """One frame cannot tell these from a soft scene, so the daemon enrols them; the
    first clean view of the same scene replaces the reference, and the fault is seen
    when it comes back."""
    radiance = qp.to_radiance(read_bgr(PHOTOS / "kitchen" / f"{kitchen}.jpg"))
    faulty = qp.capture(fault(radiance, radiance.shape[1] / 320), np.random.default_rng(8))
    clean = qp.capture(radiance, np.random.default_rng(9))
    scene.pictures["cam-sink"] = faulty
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    store = ReferenceStore(tmp_path / "state")
    for _ in range(3):
        worker.sample_all()
    # Enrolled through the fault (what one frame cannot tell), and not renewed by more of it.
    assert [e["camera_id"] for e in of_type(events, "quality_reference_enrolled")] == [
        "cam-wok",
        "cam-sink",
    ]
    assert of_type(events, "quality_reference_renewed") == []
    assert state.quality()["cam-sink"].verdict == "ok"
    enrolled_at = store.stamp("cam-sink")
    # Wiped clean (or refocused): the clear view of the same scene becomes the reference.
    scene.pictures["cam-sink"] = clean
    worker.sample_all()
    renewed = of_type(events, "quality_reference_renewed")
    assert [e["camera_id"] for e in renewed] == ["cam-sink"]
    assert renewed[0]["old_view"] and set(renewed[0]["old_view"]) <= shown
    assert store.stamp("cam-sink") != enrolled_at
    assert state.quality()["cam-sink"].verdict == "ok"
    for _ in range(3):
        worker.sample_all()
    assert len(of_type(events, "quality_reference_renewed")) == 1  # the clear view stays
    assert state.quality()["cam-sink"].verdict == "ok"
    # The grease (or the soft focus) comes back: now it is a fault, and an alarm.
    scene.pictures["cam-sink"] = faulty
    for _ in range(2):
        worker.sample_all()
    codes = {i.code for i in state.quality()["cam-sink"].issues}
    assert codes & {"low_contrast", "blurred"}, codes
    raised = [e for e in of_type(events, "quality_alarm") if e["camera_id"] == "cam-sink"]
    assert {e["code"] for e in raised if e["raised"]} & {"low_contrast", "blurred"}
    # A restarted daemon judges against the renewed reference, not the enrolled one.
    restarted, state = make_worker(tmp_path, scene, events, [NOON])
    restarted.sample_all()
    assert {i.code for i in state.quality()["cam-sink"].issues} & {"low_contrast", "blurred"}


def test_a_clean_reference_is_not_replaced_by_a_noisier_or_dimmer_view(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    radiance = qp.to_radiance(read_bgr(PHOTOS / "kitchen" / "prep_1.jpg"))
    scene.pictures["cam-sink"] = qp.capture(radiance, np.random.default_rng(10))
    worker, _ = make_worker(tmp_path, scene, events, [NOON])
    worker.sample_all()
    store = ReferenceStore(tmp_path / "state")
    enrolled_at = store.stamp("cam-sink")
    lit, _ = qp.dim_subject_dark_background(radiance, np.random.default_rng(11))
    for seed, picture in enumerate(
        [
            qp.capture(radiance, np.random.default_rng(12), light=1 / 10),  # gain x10
            qp.capture(radiance, np.random.default_rng(13), light=1 / 20),
            qp.capture(radiance, np.random.default_rng(14), light=0.5),  # evening
            qp.capture(lit, np.random.default_rng(15), light=0.5),  # lights down, counter lit
            qp.capture(qp.greasy_film(radiance, 0.45), np.random.default_rng(16)),
        ]
    ):
        scene.pictures["cam-sink"] = picture
        scene.seed = 100 * seed
        for _ in range(2):
            worker.sample_all()
    assert of_type(events, "quality_reference_renewed") == []
    assert store.stamp("cam-sink") == enrolled_at


def test_a_reference_reset_from_outside_is_noticed_and_re_enrolled(
    tmp_path: Path, scene: Scene, events: list[Event]
) -> None:
    """The CLI and the MQTT command only delete the stored reference; the running worker
    notices at the camera's next sample, says so, and enrols the view it sees then."""
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    worker.sample_all()
    assert [e["camera_id"] for e in of_type(events, "quality_reference_enrolled")] == [
        "cam-wok",
        "cam-sink",
    ]
    # The installer re-aims the sink camera on purpose...
    scene.pictures["cam-sink"] = ev.view_crop(photo("rocket"))
    worker.sample_all()
    assert "scene_changed" in [i.code for i in state.quality()["cam-sink"].issues]
    # ...and resets its reference from the command line (another process).
    assert ReferenceStore(tmp_path / "state").delete("cam-sink") is True
    assert ReferenceStore(tmp_path / "state").delete("cam-sink") is False  # nothing left to forget
    worker.sample_all()
    assert [e["camera_id"] for e in of_type(events, "quality_reference_reset")] == ["cam-sink"]
    enrolled = [e["camera_id"] for e in of_type(events, "quality_reference_enrolled")]
    assert enrolled == ["cam-wok", "cam-sink", "cam-sink"]
    assert state.quality()["cam-sink"].verdict == "ok"
    stored = {entry["camera_id"]: entry for entry in ReferenceStore(tmp_path / "state").entries()}
    assert set(stored) == {"cam-wok", "cam-sink"}
    assert Path(stored["cam-sink"]["image"]).is_file()
    assert "metrics" not in stored["cam-sink"]


def test_run_loop_beats_and_stops(tmp_path: Path, scene: Scene, events: list[Event]) -> None:
    worker, state = make_worker(tmp_path, scene, events, [NOON])
    stopping = threading.Event()
    ctx = WorkerContext("quality", stopping, watchdog_s=30.0)
    thread = threading.Thread(target=worker.run, args=(ctx,), daemon=True)
    thread.start()
    deadline = threading.Event()
    for _ in range(200):
        if worker.rounds >= 1:
            break
        deadline.wait(0.05)
    assert worker.rounds >= 1
    stopping.set()
    thread.join(5)
    assert not thread.is_alive()
    assert state.coverage().ratio == 1.0


# --- the real acquisition path ---------------------------------------------------------------


@pytest.fixture
def snapshot_server() -> Iterator[tuple[str, list[int]]]:
    body = ev.encode(cv2.resize(photo("coffee"), (1920, 1080)), 85)
    hits: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            if self.path != "/snap.jpg":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_grab_prefers_the_snapshot_and_decodes_it_small(
    snapshot_server: tuple[str, list[int]],
) -> None:
    base, hits = snapshot_server
    camera = on_line(
        "cam",
        MediaProfile(
            token="main",
            width=1920,
            height=1080,
            snapshot_uri=f"{base}/snap.jpg",
            rtsp_uri="rtsp://127.0.0.1:9/none",
        ),
        host="127.0.0.1",  # its URIs are on its own host (the trust model follows no other)
    )
    image = grab_frame(camera, CameraLogin("admin", "secret"), 5.0, 320)
    assert image.shape == (270, 480, 3)  # decoded at 1/4 scale, not 1920x1080
    assert hits


@pytest.mark.slow
def test_grab_falls_back_to_the_rtsp_sub_stream(
    snapshot_server: tuple[str, list[int]], rtsp_camera: Any
) -> None:
    base, _ = snapshot_server
    camera = on_line(
        "cam",
        MediaProfile(
            token="main",
            width=1920,
            height=1080,
            snapshot_uri=f"{base}/missing.jpg",
            rtsp_uri=rtsp_camera.url("main"),
        ),
        MediaProfile(token="sub", width=640, height=360, rtsp_uri=rtsp_camera.url("sub")),
        host="127.0.0.1",
    )
    image = grab_frame(camera, None, 15.0, 320)
    assert image.shape == (360, 640, 3)  # the sub-stream's keyframe
