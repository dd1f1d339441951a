"""Relays with real parts: fake RTSP camera -> StreamManager (real ffmpeg) -> real ingest."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.config.streams import StreamsConfig
from agent.model import Camera, CameraLogin, MediaProfile
from agent.scrub import register_secret
from agent.state import AgentState
from agent.uplink.video.feeds import CameraFeed
from agent.uplink.video.manager import StreamManager
from testkit.configs import VALID
from testkit.nginx_rtmp import FfmpegListener, NginxRtmp, ffprobe, wait_for
from testkit.relay_runner import Running
from testkit.rtsp_camera import SUB_360P, SUB_360P_H265, RtspCamera, StreamSpec
from testkit.video_fixtures import CameraFactory

TOKEN = "tok-Sz3kQ9vX7"
CAMERA_PASSWORD = "cam-Pw-58213"
TOLERANCE = 1.15


def feed(
    camera: RtspCamera, camera_id: str, kcp: str = "cooking", credentials: bool = False
) -> CameraFeed:
    login = (
        CameraLogin(camera.credentials[0], camera.credentials[1])
        if credentials and camera.credentials
        else None
    )
    record = Camera(
        id=camera_id,
        address="127.0.0.1",
        xaddr="",
        profiles=tuple(MediaProfile.from_json(p) for p in camera.profiles()),
    )
    return CameraFeed(camera_id=camera_id, kcps=(kcp,), camera=record, login=login)


@contextlib.contextmanager
def running(
    config: StreamsConfig, feeds: list[CameraFeed], token: str | None = TOKEN, **kwargs: Any
) -> Iterator[Running]:
    state = AgentState()
    manager = StreamManager(
        config, "sh-xh-0001", state, lambda: feeds, token, tick_s=0.25, **kwargs
    )
    run = Running(manager, state)
    run.thread.start()
    try:
        yield run
    finally:
        run.stop()
        assert manager.process_ids() == {}


def measure_all(ingest: NginxRtmp, names: list[str], window_s: float = 6.0) -> dict[str, float]:
    for name in names:
        ingest.wait_publishing(name)

        # Skip the start: ffmpeg's input probing releases a burst when the stream begins.
        def past_start(n: str = name) -> bool:
            status = ingest.publishing(n)
            return status is not None and status.time_ms >= 4000

        wait_for(past_start, 20, what=f"{name} past its start")
    first = ingest.stat()
    started = time.monotonic()
    time.sleep(window_s)
    last = ingest.stat()
    elapsed = time.monotonic() - started
    return {n: (last[n].bytes_in - first[n].bytes_in) * 8 / 1000 / elapsed for n in names}


@pytest.mark.slow
def test_copy_and_transcode_arrive_within_cap_and_secrets_stay_out_of_logs(
    rtsp_camera_factory: CameraFactory, nginx_rtmp: NginxRtmp
) -> None:
    camera = rtsp_camera_factory(credentials=("admin", CAMERA_PASSWORD))
    register_secret(CAMERA_PASSWORD)
    config = StreamsConfig(
        ingest_url=nginx_rtmp.base_url + "/{store_id}-{camera_id}-{kcp}?token={token}",
        max_kbps=512,
        cameras={"cam-transcode": {"max_kbps": 300}},
    )
    feeds = [
        feed(camera, "cam-copy", "cold_room", credentials=True),
        feed(camera, "cam-transcode", "prep", credentials=True),
    ]
    with capture_logs() as logs, running(config, feeds) as run:
        copy_name, transcode_name = "sh-xh-0001-cam-copy-cold_room", "sh-xh-0001-cam-transcode-prep"
        rates = measure_all(nginx_rtmp, [copy_name, transcode_name])
        copied = ffprobe(nginx_rtmp.url(copy_name))
        transcoded = ffprobe(nginx_rtmp.url(transcode_name))
        run.wait_state("cam-copy", "up")
        run.wait_state("cam-transcode", "up")
        copy_status = run.status("cam-copy")
        transcode_status = run.status("cam-transcode")
        ring_buffers = [
            relay.process.stderr_tail()
            for relay in run.manager._relays.values()
            if relay.process is not None
        ]

    assert (copied["codec_name"], copied["width"], copied["height"]) == ("h264", 640, 360)
    assert rates[copy_name] <= 512 * TOLERANCE
    assert copy_status.route == "copy" and copy_status.cap_kbps == 512

    assert transcoded["codec_name"] == "h264"
    assert transcoded["height"] == 360 and transcoded["r_frame_rate"] == "15/1"
    assert rates[transcode_name] <= 300 * TOLERANCE
    assert transcode_status.route == "transcode" and transcode_status.cap_kbps == 300
    assert transcode_status.fps is not None and 10 <= transcode_status.fps <= 17

    assert "stream_up" in run.event_types("cam-copy")
    logged = repr(logs) + "".join(ring_buffers)
    assert "stream_starting" in logged
    assert TOKEN not in logged
    assert CAMERA_PASSWORD not in logged


def test_refused_ingest_logs_stderr_without_the_token(rtsp_camera: RtspCamera) -> None:
    dead_port = 9  # discard: nothing listens on loopback
    config = StreamsConfig(
        ingest_url=f"rtmp://127.0.0.1:{dead_port}/live/{{camera_id}}?token={{token}}",
        restart_backoff_s=0.5,
    )
    with capture_logs() as logs, running(config, [feed(rtsp_camera, "cam-x")]) as run:
        wait_for(
            lambda: [e for e in logs if e["event"] == "stream_failed" and e["stderr"]],
            20,
            what="a logged ffmpeg failure",
        )
        status = run.status("cam-x")
    failure = next(e for e in logs if e["event"] == "stream_failed" and e["stderr"])
    assert "127.0.0.1" in failure["stderr"]  # the ring buffer shows what went wrong...
    assert TOKEN not in repr(logs)  # ...but never the token
    assert status.state in ("down", "starting")
    assert status.error is not None and TOKEN not in repr(status.error)
    assert "stream_down" in run.event_types("cam-x")


@pytest.mark.slow
def test_frozen_camera_detected_and_relay_restarted_within_15_s(
    rtsp_camera_factory: CameraFactory, nginx_rtmp: NginxRtmp
) -> None:
    camera = rtsp_camera_factory({"sub": SUB_360P})
    config = StreamsConfig(ingest_url=nginx_rtmp.base_url + "/{camera_id}")  # defaults
    with running(config, [feed(camera, "cam-freeze")]) as run:
        nginx_rtmp.wait_publishing("cam-freeze")
        run.wait_state("cam-freeze", "up")
        first_pid = run.manager.process_ids()["cam-freeze"]
        camera.freeze()
        frozen_at = time.monotonic()
        try:
            wait_for(
                lambda: run.manager.process_ids().get("cam-freeze") not in (None, first_pid),
                20,
                interval_s=0.1,
                what="a new ffmpeg",
            )
            restarted_after = time.monotonic() - frozen_at
            assert "stream_down" in run.event_types("cam-freeze")
        finally:
            camera.resume()
        assert restarted_after <= 15.0, restarted_after
        run.wait_state("cam-freeze", "up", timeout_s=30)
        assert run.status("cam-freeze").restarts_last_hour >= 1
        assert run.event_types("cam-freeze").count("stream_up") >= 2


@pytest.mark.slow
def test_ingest_down_then_up_stream_back_within_30_s(
    rtsp_camera: RtspCamera, nginx_rtmp_private: NginxRtmp
) -> None:
    ingest = nginx_rtmp_private
    config = StreamsConfig(ingest_url=ingest.base_url + "/{camera_id}")
    with running(config, [feed(rtsp_camera, "cam-outage")]) as run:
        ingest.wait_publishing("cam-outage")
        run.wait_state("cam-outage", "up")
        ingest.stop()
        run.wait_state("cam-outage", "down", timeout_s=20)
        assert "stream_down" in run.event_types("cam-outage")
        time.sleep(2)  # the outage lasts a while: backoff grows meanwhile
        ingest.start()
        back_at = time.monotonic()
        ingest.wait_publishing("cam-outage", timeout_s=30)
        assert time.monotonic() - back_at <= 30
        run.wait_state("cam-outage", "up", timeout_s=15)


@pytest.mark.slow
def test_h265_copied_over_srt_and_rtsp_and_transcoded_for_rtmp(
    rtsp_camera_factory: CameraFactory, nginx_rtmp: NginxRtmp, tmp_path: Path
) -> None:
    camera = rtsp_camera_factory({"sub": SUB_360P_H265})
    srt = FfmpegListener("srt", tmp_path, "srt-in").start()
    rtsp = FfmpegListener("rtsp", tmp_path, "rtsp-in").start()
    try:
        with (
            running(StreamsConfig(ingest_url=srt.publish_url), [feed(camera, "c-srt")]) as a,
            running(StreamsConfig(ingest_url=rtsp.publish_url), [feed(camera, "c-rtsp")]) as b,
            running(
                StreamsConfig(ingest_url=nginx_rtmp.base_url + "/{camera_id}"),
                [feed(camera, "c-rtmp")],
            ) as c,
        ):
            srt.wait_receiving()
            rtsp.wait_receiving()
            over_rtmp = ffprobe(nginx_rtmp.url("c-rtmp"))
            assert a.status("c-srt").route == "copy"
            assert b.status("c-rtsp").route == "copy"
            assert c.status("c-rtmp").route == "transcode"
        assert srt.probe()["codec_name"] == "hevc"
        assert rtsp.probe()["codec_name"] == "hevc"
        assert over_rtmp["codec_name"] == "h264"
    finally:
        srt.stop()
        rtsp.stop()


# --- an rtsp:// ingest that stops answering ----------------------------------------------


def listening(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:``port`` (without connecting to it: an
    FfmpegListener accepts exactly one connection)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp", encoding="ascii") as table:
        return any(
            line.split()[1] == wanted and line.split()[3] == "0A" for line in list(table)[1:]
        )


def failures(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "stream_failed"]


def test_rtsp_ingest_that_never_answers_ends_ffmpeg_within_the_output_timeout(
    rtsp_camera: RtspCamera, ffmpeg_listener_factory: Callable[[str, str], FfmpegListener]
) -> None:
    ingest = ffmpeg_listener_factory("rtsp", "mute")
    wait_for(lambda: listening(ingest.port), 10, what="the RTSP ingest listening")
    assert ingest.process is not None
    os.kill(ingest.process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    config = StreamsConfig(ingest_url=ingest.publish_url, output_timeout_s=2)
    with capture_logs() as logs, running(config, [feed(rtsp_camera, "cam-mute")]):
        started = time.monotonic()
        wait_for(lambda: failures(logs), 15, interval_s=0.1, what="a failed relay")
        failed_after = time.monotonic() - started
    first = failures(logs)[0]
    # ffmpeg itself gave up on the unanswered ANNOUNCE after output_timeout_s; without the
    # RTSP muxer's -timeout it hangs until the relay's no-output grace (input 5 s + stall
    # 8 s) runs out.
    assert first["code"] == "ffmpeg_exited", first
    assert "refused" not in str(first["stderr"]).lower()
    assert failed_after < 8, failed_after


# Several Mbit/s, so that the socket buffers between publisher and a stalled ingest fill
# within seconds (on loopback they hold megabytes: a 400 kbit/s stream would take a minute).
HEAVY_720P = StreamSpec(1280, 720, fps=25, bitrate_kbps=8000, noise=40, clip_s=4)


@pytest.mark.slow
def test_rtsp_ingest_stalled_mid_stream_is_caught_by_the_stall_detector(
    rtsp_camera_factory: CameraFactory,
    ffmpeg_listener_factory: Callable[[str, str], FfmpegListener],
) -> None:
    camera = rtsp_camera_factory({"heavy": HEAVY_720P})
    ingest = ffmpeg_listener_factory("rtsp", "stall")
    config = StreamsConfig(
        ingest_url=ingest.publish_url,
        max_kbps=8000,
        uplink_kbps=8000,
        stall_timeout_s=4,
        output_timeout_s=2,
        restart_backoff_s=0.5,
    )
    with capture_logs() as logs, running(config, [feed(camera, "cam-stall")]) as run:
        ingest.wait_receiving(500_000)
        run.wait_state("cam-stall", "up")
        assert run.status("cam-stall").route == "copy"
        first_pid = run.manager.process_ids()["cam-stall"]
        assert ingest.process is not None
        os.kill(ingest.process.pid, signal.SIGSTOP)  # the ingest stops reading mid-stream
        stalled_at = time.monotonic()
        wait_for(lambda: failures(logs), 40, interval_s=0.1, what="the stall detected")
        detected_after = time.monotonic() - stalled_at
        assert run.manager.process_ids().get("cam-stall") != first_pid
    # ffmpeg did not end by itself (the RTSP muxer drops its write timeouts): the relay's
    # stall detector ended it, once the socket buffers had filled.
    assert failures(logs)[0]["code"] == "stalled", failures(logs)[0]
    assert detected_after < 30, detected_after


# --- the agent process dies: its ffmpegs die with it -----------------------------------------

HARNESS = textwrap.dedent("""
    import sys
    from pathlib import Path
    from agent.daemon import Daemon
    from agent.logs import configure_logging
    from agent.model import Camera, MediaProfile
    from agent.uplink.video.feeds import CameraFeed
    from agent.uplink.video.manager import StreamManager

    url = sys.argv[2]
    def factory(runtime):
        sub = MediaProfile(token="sub", encoding="H264", width=640, height=360, fps=25,
                           bitrate_kbps=384, rtsp_uri=url)
        feeds = [
            CameraFeed(f"cam{i}", ("cooking",), Camera(id=f"cam{i}", address="h", xaddr="",
                                                       profiles=(sub,)))
            for i in range(2)
        ]
        return [StreamManager(runtime.config.streams, runtime.config.store.id, runtime.state,
                              lambda: feeds, "tok")]
    configure_logging(json_lines=True)
    sys.exit(Daemon(Path(sys.argv[1]), factory).run())
""")


def ffmpeg_children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            comm_end = stat.rindex(")")
            fields = stat[comm_end + 2 :].split()
            if int(fields[1]) == pid and "ffmpeg" in stat[:comm_end]:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_no_ffmpeg_outlives_the_agent(
    how: str, rtsp_camera: RtspCamera, nginx_rtmp: NginxRtmp, tmp_path: Path
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        VALID.replace("rtmp://127.0.0.1/live", nginx_rtmp.base_url)
        + f"paths:\n  state_dir: {tmp_path / 'state'}\n  credentials_dir: {tmp_path}\n",
        encoding="utf-8",
    )
    agent = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(config), rtsp_camera.url("sub")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parent.parent,
        start_new_session=True,
    )
    try:
        children: list[int] = wait_for(
            lambda: c if len(c := ffmpeg_children(agent.pid)) == 2 else None,
            30,
            what="two ffmpeg relays",
        )
        nginx_rtmp.wait_publishing("sh-xh-0001-cam0")
        os.kill(agent.pid, getattr(signal, how))
        agent.wait(20)
        wait_for(lambda: not any(alive(pid) for pid in children), 10, what="every ffmpeg gone")
        if how == "SIGTERM":
            assert agent.returncode == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGKILL)
        agent.wait()
