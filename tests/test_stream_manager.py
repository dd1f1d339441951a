"""StreamManager decisions with a scripted ffmpeg and a hand-driven clock (no real time)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from agent.config.streams import StreamsConfig
from agent.errors import CameraAuthFailed, CommandRejected
from agent.model import Camera, CameraLogin, EncoderRequest, Event, MediaProfile, with_login
from agent.state import AgentState
from agent.uplink.video.feeds import CameraFeed, render_ingest_url, wanted
from agent.uplink.video.lifecycle import StreamRestartPolicy
from agent.uplink.video.manager import StreamManager
from agent.uplink.video.negotiation import SET_ENCODER_DEADLINE_S


def profile(
    token: str, encoding: str, width: int, height: int, fps: float, kbps: int, uri: str | None
) -> MediaProfile:
    return MediaProfile(
        token=token,
        encoding=encoding,
        width=width,
        height=height,
        fps=fps,
        bitrate_kbps=kbps,
        rtsp_uri=uri,
    )


SUB = profile("sub", "H264", 640, 360, 25, 384, "rtsp://192.0.2.10/sub")
MAIN = profile("main", "H264", 1920, 1080, 25, 4096, "rtsp://192.0.2.10/main")


class FakeProcess:
    def __init__(self, argv: list[str], name: str, on_line: Callable[[str], None]) -> None:
        self.argv, self.name, self.on_line = argv, name, on_line
        self.code: int | None = None
        self.stopped = False
        self.pid: int | None = None

    def start(self) -> None:
        self.pid = 4242
        self.started_on = threading.current_thread()

    def poll(self) -> int | None:
        return self.code

    def stop(self, timeout_s: float = 5.0) -> int | None:
        self.stopped = True
        return self.code

    def stderr_tail(self, lines: int | None = None) -> str:
        return "Connection refused"

    def progress(self, frame: int) -> None:
        for line in (
            f"frame={frame}",
            "fps=25.0",
            f"total_size={frame * 2000}",
            "bitrate= 400.0kbits/s",
            "progress=continue",
        ):
            self.on_line(line)


class Harness:
    def __init__(self, config: StreamsConfig, feeds: list[CameraFeed], **kwargs: object) -> None:
        self.now = 1000.0
        self.processes: list[FakeProcess] = []
        self.state = AgentState()
        self.events: list[Event] = []
        self.state.subscribe(self.events.append)

        def factory(argv: list[str], name: str, on_line: Callable[[str], None]) -> FakeProcess:
            process = FakeProcess(argv, name, on_line)
            self.processes.append(process)
            return process

        self.manager = StreamManager(
            config,
            "s1",
            self.state,
            lambda: feeds,
            "tok",
            process_factory=factory,  # type: ignore[arg-type]
            clock=lambda: self.now,
            rng=lambda: 0.5,
            **kwargs,  # type: ignore[arg-type]
        )

    def tick(self, advance_s: float = 0.0) -> None:
        self.now += advance_s
        self.manager.tick()

    def running(self, camera_id: str) -> FakeProcess | None:
        relay = self.manager._relays[camera_id]
        return relay.process  # type: ignore[return-value]

    def status(self, camera_id: str):  # type: ignore[no-untyped-def]
        return self.state.streams()[camera_id]

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def cfg(**kwargs: object) -> StreamsConfig:
    return StreamsConfig.model_validate({"ingest_url": "rtmp://i/live/{camera_id}", **kwargs})


def cam(
    camera_id: str,
    kcp: str = "cooking",
    profiles: tuple[MediaProfile, ...] = (MAIN, SUB),
    *,
    discovered: bool = True,
    xaddr: str = "",
    login: CameraLogin | None = None,
) -> CameraFeed:
    camera = Camera(id=camera_id, address="192.0.2.10", xaddr=xaddr, profiles=profiles)
    return CameraFeed(camera_id, (kcp,), camera if discovered else None, login)


def test_up_then_stall_then_backoff_then_up_again() -> None:
    h = Harness(cfg(stall_timeout_s=5), [cam("c1")])
    h.tick()
    first = h.running("c1")
    assert first is not None and h.status("c1").state == "starting"
    first.progress(10)
    h.tick(1)
    assert h.status("c1").state == "up"
    assert h.status("c1").route == "copy"
    assert h.types() == ["stream_up"]
    h.tick(6)  # no progress for 6 s > 5 s
    assert first.stopped
    assert h.status("c1").state == "down"
    assert h.status("c1").error.code == "stalled"
    assert h.types() == ["stream_up", "stream_down"]
    h.tick(0.5)  # backoff 1 s (jitter 0 with rng 0.5) not over yet
    assert h.running("c1") is None
    h.tick(0.6)
    second = h.running("c1")
    assert second is not None and second is not first
    second.progress(5)
    h.tick(0.5)
    assert h.status("c1").state == "up"
    assert h.status("c1").restarts_last_hour == 1
    assert h.types() == ["stream_up", "stream_down", "stream_up"]


def test_any_exit_is_a_failure_and_repeated_failures_announce_down_once() -> None:
    h = Harness(cfg(), [cam("c1")])
    for _ in range(4):
        h.tick(120)
        process = h.running("c1")
        assert process is not None
        process.code = 0  # ffmpeg can exit 0 after an input timeout
        h.tick(0.1)
        assert h.status("c1").error.code == "ffmpeg_exited"
    assert h.types().count("stream_down") == 1


def test_no_output_after_start_is_a_failure() -> None:
    h = Harness(cfg(input_timeout_s=2, stall_timeout_s=3), [cam("c1")])
    h.tick()
    h.tick(4.9)
    assert h.status("c1").state == "starting"
    h.tick(0.2)
    assert h.status("c1").error.code == "no_output"


def test_restart_policy_backoff_and_hourly_limit() -> None:
    policy = StreamRestartPolicy(backoff_s=1, backoff_max_s=30, max_per_hour=3)
    assert policy.next_start(0, 1, [], 0.5) == (1.0, False)
    assert policy.next_start(0, 3, [], 0.5) == (4.0, False)
    assert policy.next_start(0, 10, [], 0.5) == (30.0, False)
    assert policy.next_start(0, 1, [], 1.0)[0] == pytest.approx(1.2)
    assert policy.next_start(0, 1, [], 0.0)[0] == pytest.approx(0.8)
    assert policy.next_start(100, 1, [10, 20, 30], 0.5) == (3610, True)
    assert policy.next_start(5000, 1, [10, 20, 30], 0.5) == (5001, False)


def test_restart_limit_reported() -> None:
    h = Harness(cfg(max_restarts_per_hour=2, restart_backoff_s=0.1), [cam("c1")])
    for _ in range(4):
        h.tick(0.5)
        process = h.running("c1")
        if process is not None:
            process.code = 1
        h.tick(0.01)
    assert h.status("c1").error.code == "restart_limit"
    h.tick(60)
    assert h.running("c1") is None  # still waiting for the hour to roll over


def test_short_uplink_pauses_the_lowest_priority_camera() -> None:
    h = Harness(
        cfg(uplink_kbps=1100, min_kbps=160, max_kbps=512),
        [
            cam("storage", "storage"),
            cam("cold", "cold_room"),
            cam("cook", "cooking"),
            cam("pack", "packing"),
        ],
    )
    h.tick()
    caps = {c: h.status(c).cap_kbps for c in ("cold", "cook", "pack", "storage")}
    assert caps == {"cold": 512, "cook": 268, "pack": 160, "storage": 160}
    assert sum(caps.values()) <= 1100
    # cook's cap (268) is below its sub-stream's 384 kbit/s: it is transcoded.
    assert h.status("cook").route == "transcode"
    assert h.status("cold").route == "copy"
    h2 = Harness(
        cfg(uplink_kbps=400, min_kbps=160),
        [cam("storage", "storage"), cam("cold", "cold_room"), cam("cook", "cooking")],
    )
    h2.tick()
    assert h2.status("storage").state == "paused"
    assert h2.status("storage").error.code == "uplink_budget"
    assert h2.running("storage") is None


def test_priority_and_cap_overrides() -> None:
    h = Harness(
        cfg(
            uplink_kbps=600,
            cameras={"storage": {"priority": 9, "max_kbps": 400}, "off": {"enabled": False}},
        ),
        [cam("storage", "storage"), cam("cold", "cold_room"), cam("off")],
    )
    h.tick()
    assert h.status("storage").cap_kbps == 400
    assert h.status("cold").cap_kbps == 200
    assert h.status("off").state == "stopped" and h.running("off") is None


def test_on_demand_start_idle_timeout_and_stop() -> None:
    h = Harness(
        cfg(mode="on_demand", idle_timeout_s=60, stall_timeout_s=120), [cam("c1"), cam("c2")]
    )
    h.tick()
    assert h.running("c1") is None and h.status("c1").state == "stopped"
    h.manager.start_on_demand("c1")
    h.tick()
    process = h.running("c1")
    assert process is not None
    process.progress(1)
    h.tick(1)
    assert h.status("c1").state == "up"
    process.progress(2)
    h.tick(30)
    h.manager.start_on_demand("c1")  # renewed: 60 s from now
    h.tick()
    process.progress(3)
    h.tick(45)
    assert h.running("c1") is process
    process.progress(4)
    h.tick(20)
    assert process.stopped and h.status("c1").state == "stopped"
    assert h.types()[-1] == "stream_down"
    assert h.events[-1].payload.to_json()["reason"] == "idle"
    h.manager.start_on_demand("c2")
    h.tick()
    assert h.running("c2") is not None
    h.manager.stop("c2")
    h.tick()
    assert h.running("c2") is None


def test_commands_in_always_mode() -> None:
    h = Harness(cfg(), [cam("c1")])
    with pytest.raises(CommandRejected):
        h.tick()
        h.manager.restart("nope")
    first = h.running("c1")
    h.manager.stop("c1")
    h.tick()
    assert first is not None and first.stopped and h.running("c1") is None
    h.tick(600)
    assert h.running("c1") is None  # held until told otherwise
    h.manager.restart("c1")
    h.tick()
    assert h.running("c1") is not None


def test_restart_command_is_announced_as_down_then_up() -> None:
    """Ops who asked for a restart see it happen: stream_down with the reason, then
    stream_up once the new ffmpeg makes progress; the status says starting in between."""
    h = Harness(cfg(), [cam("c1")])
    h.tick()
    first = h.running("c1")
    assert first is not None
    first.progress(10)
    h.tick(1)
    assert h.types() == ["stream_up"]
    h.manager.restart("c1")
    h.tick()
    second = h.running("c1")
    assert first.stopped and second is not None and second is not first
    assert h.types() == ["stream_up", "stream_down"]
    down = h.events[-1].payload.to_json()
    assert down["reason"] == "restart_command" and down["error"] is None
    assert h.status("c1").state == "starting"
    second.progress(10)
    h.tick(1)
    assert h.types() == ["stream_up", "stream_down", "stream_up"]
    assert h.status("c1").state == "up"


def test_argv_carries_credentials_and_token_status_does_not() -> None:
    h = Harness(
        cfg(ingest_url="rtmp://i/live/{store_id}-{camera_id}-{kcp}?token={token}"),
        [cam("c1", "cold_room", login=CameraLogin("admin", "p@ss:w/rd"))],
    )
    h.tick()
    process = h.running("c1")
    assert process is not None
    assert "rtsp://admin:p%40ss%3Aw%2Frd@192.0.2.10/sub" in process.argv
    assert process.argv[-1] == "rtmp://i/live/s1-c1-cold_room?token=tok"
    assert "tok" not in repr(h.status("c1"))


def test_no_profiles_is_reported_not_crashed() -> None:
    h = Harness(cfg(), [cam("c1", profiles=())])
    h.tick()
    assert h.status("c1").state == "down"
    assert h.status("c1").error.code == "no_profile"


HEAVY = profile("sub", "H264", 640, 360, 25, 2048, "rtsp://192.0.2.10/sub")


class SlowCamera:
    """An encoder setter that answers only when the test says so, like a slow camera."""

    def __init__(self, refuse: Exception | None = None) -> None:
        self.refuse = refuse
        self.answer = threading.Event()
        self.asked: list[EncoderRequest] = []
        self.threads: list[threading.Thread] = []

    def set_sub_stream(
        self, camera: Camera, login: CameraLogin, request: EncoderRequest
    ) -> MediaProfile:
        self.asked.append(request)
        self.threads.append(threading.current_thread())
        assert self.answer.wait(10), "the test never let the camera answer"
        if self.refuse is not None:
            raise self.refuse
        return profile("sub", "H264", 640, 360, 25, request.kbps, None)

    def wait_answered(self, h: Harness, camera_id: str) -> None:
        job = h.manager._relays[camera_id].planner.encoder_job
        assert job is not None
        self.answer.set()
        job.exception(timeout=10)  # wait for the answer without raising it


def test_set_encoder_asks_off_the_loop_then_copies() -> None:
    camera = SlowCamera()
    h = Harness(
        cfg(set_encoder=True),
        [cam("c1", profiles=(MAIN, HEAVY), xaddr="http://x"), cam("c2")],
        encoder=camera,
    )
    h.tick()
    # c1's camera is being asked; the loop did not wait for it: c2 started and comes up.
    assert h.running("c1") is None
    assert (h.status("c1").state, h.status("c1").route) == ("starting", "set_encoder")
    c2 = h.running("c2")
    assert c2 is not None
    c2.progress(1)
    h.tick(1)
    assert h.status("c2").state == "up"
    h.tick(5)
    assert [a.profile_token for a in camera.asked] == ["sub"]  # asked once, not per tick
    assert camera.asked[0].kbps == 512
    camera.wait_answered(h, "c1")
    assert h.manager._wake.is_set()  # the answer wakes the loop
    h.tick(0.1)
    c1 = h.running("c1")
    assert c1 is not None and h.status("c1").route == "copy"
    assert c1.argv[c1.argv.index("-i") + 1] == HEAVY.rtsp_uri
    assert "copy" in c1.argv
    # The camera was asked on a thread of its own; ffmpeg started on the loop's thread
    # (PR_SET_PDEATHSIG follows the thread that forked the child).
    assert camera.threads[0] is not threading.current_thread()
    assert c1.started_on is threading.current_thread()
    h.tick(60)
    assert len(camera.asked) == 1


@pytest.mark.parametrize("refusal", [CameraAuthFailed("no rights"), RuntimeError("zeep bug")])
def test_set_encoder_refused_transcodes_and_never_asks_again(refusal: Exception) -> None:
    camera = SlowCamera(refuse=refusal)
    h = Harness(
        cfg(set_encoder=True),
        [cam("c1", profiles=(MAIN, HEAVY), xaddr="http://x")],
        encoder=camera,
    )
    h.tick()
    camera.wait_answered(h, "c1")
    h.tick(0.1)
    assert h.status("c1").route == "transcode"
    assert h.running("c1") is not None
    h.tick(60)
    assert len(camera.asked) == 1


def test_set_encoder_unanswered_gives_up_at_the_deadline() -> None:
    camera = SlowCamera()
    h = Harness(
        cfg(set_encoder=True),
        [cam("c1", profiles=(MAIN, HEAVY), xaddr="http://x")],
        encoder=camera,
    )
    try:
        h.tick()
        h.tick(SET_ENCODER_DEADLINE_S - 1)
        assert h.running("c1") is None and h.status("c1").state == "starting"
        h.tick(2)
        assert h.status("c1").route == "transcode" and h.running("c1") is not None
        assert h.manager._relays["c1"].planner.encoder_job is None  # a late answer is ignored
    finally:
        camera.answer.set()


def test_restart_command_asks_the_camera_again() -> None:
    camera = SlowCamera(refuse=CameraAuthFailed("no rights"))
    h = Harness(
        cfg(set_encoder=True),
        [cam("c1", profiles=(MAIN, HEAVY), xaddr="http://x")],
        encoder=camera,
    )
    h.tick()
    camera.wait_answered(h, "c1")
    h.tick(0.1)
    transcoding = h.running("c1")
    assert transcoding is not None and h.status("c1").route == "transcode"
    camera.answer.clear()
    camera.refuse = None  # e.g. the installer gave the ONVIF user the right to configure
    h.manager.restart("c1")
    h.tick()
    assert len(camera.asked) == 2 and transcoding.stopped
    assert h.running("c1") is None and h.status("c1").route == "set_encoder"
    camera.wait_answered(h, "c1")
    h.tick(0.1)
    assert h.status("c1").route == "copy" and h.running("c1") is not None


def test_stop_all_stops_every_process_and_announces() -> None:
    h = Harness(cfg(), [cam("c1"), cam("c2")])
    h.tick()
    for camera_id in ("c1", "c2"):
        h.running(camera_id).progress(3)  # type: ignore[union-attr]
    h.tick(1)
    processes = [h.running("c1"), h.running("c2")]
    h.manager.stop_all()
    assert all(p is not None and p.stopped for p in processes)
    assert h.manager.process_ids() == {}
    assert h.types().count("stream_down") == 2


def test_pure_helpers() -> None:
    assert (
        render_ingest_url(
            "srt://i:1?streamid={store_id}/{camera_id}/{kcp}/{token}", "s 1", "c/1", None, "a&b"
        )
        == "srt://i:1?streamid=s%201/c%2F1/none/a%26b"
    )
    assert (
        with_login("rtsp://old:x@h:554/p?q=1", CameraLogin("u", "p w"))
        == "rtsp://u:p%20w@h:554/p?q=1"
    )
    assert with_login("rtsp://h/p", None) == "rtsp://h/p"
    assert with_login("rtsp://h/p", CameraLogin("u", None)) == "rtsp://u@h/p"
    assert wanted("always", True, False, None, 0)
    assert not wanted("always", True, True, None, 0)
    assert not wanted("always", False, False, None, 0)
    assert not wanted("on_demand", True, False, None, 0)
    assert wanted("on_demand", True, False, 10, 5)
    assert not wanted("on_demand", True, False, 10, 10)


def test_camera_not_yet_discovered_waits_without_alarm() -> None:
    h = Harness(cfg(), [cam("c1", profiles=(), discovered=False)])
    h.tick()
    assert h.status("c1").state == "waiting"
    assert not [e for e in h.events if e.type == "stream_down"]


def test_on_demand_duration_and_a_start_never_shortens_a_stream() -> None:
    h = Harness(cfg(mode="on_demand", idle_timeout_s=60, stall_timeout_s=120), [cam("c1")])
    h.tick()
    h.manager.start_on_demand("c1", 600)  # a viewer for ten minutes
    h.tick()
    process = h.running("c1")
    assert process is not None
    h.manager.start_on_demand("c1", 30)  # another for half a minute: the first still runs
    for frame in range(1, 12):  # 550 s of a healthy stream
        process.progress(frame)
        h.tick(50)
        assert h.running("c1") is process, frame
    process.progress(12)
    h.tick(60)
    assert process.stopped and h.status("c1").state == "stopped"
    assert h.events[-1].payload.to_json()["reason"] == "idle"


def test_a_reload_restarts_only_the_relay_whose_settings_changed() -> None:
    """reconfigure (a reload that kept the streams worker): a per-camera override restarts
    that camera's relay alone; a new camera list keeps the relays of the others."""
    feeds = [cam("c1"), cam("c2")]
    h = Harness(cfg(stall_timeout_s=120), feeds)
    h.tick()
    c1, c2 = h.running("c1"), h.running("c2")
    assert c1 is not None and c2 is not None
    h.manager.reconfigure(
        cfg(stall_timeout_s=120, cameras={"c2": {"max_kbps": 448}}), lambda: feeds
    )
    h.tick()
    h.tick()
    assert h.running("c1") is c1 and not c1.stopped
    assert c2.stopped and h.running("c2") not in (None, c2)
    moved = [cam("c1"), cam("c2", kcp="cold_room")]  # c2 now shows another KCP
    c2 = h.running("c2")
    h.manager.reconfigure(
        cfg(stall_timeout_s=120, cameras={"c2": {"max_kbps": 448}}), lambda: moved
    )
    h.tick()
    h.tick()
    assert h.running("c1") is c1 and c2 is not None and c2.stopped
