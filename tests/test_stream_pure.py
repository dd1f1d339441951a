"""The pure core of streaming: ffmpeg argv builders, route choice, bandwidth, progress."""

from __future__ import annotations

import itertools
import shlex
from dataclasses import replace

import pytest
from pydantic import ValidationError

from agent.config.streams import StreamsConfig
from agent.kcp import Kcp
from agent.model import CameraLogin, MediaProfile
from agent.uplink.video.bandwidth import Demand, allocate, kcp_priority, primary_kcp, total_kbps
from agent.uplink.video.ffmpeg_args import (
    RelayPlan,
    TranscodeSettings,
    ingest_scheme,
    relay_argv,
    scheme_carries,
)
from agent.uplink.video.progress import Progress, ProgressParser, RateMeter, advanced, parse_block
from agent.uplink.video.routes import (
    NoRoute,
    choose_route,
    copy_candidates,
    relay_plan,
    sub_stream,
    transcode_source,
)

CAM = "rtsp://admin:pw@192.0.2.10:554/Streaming/Channels/102"


def option(argv: list[str], name: str) -> str:
    """The value after the first ``name`` in argv."""
    return argv[argv.index(name) + 1]


def options_before_input(argv: list[str]) -> list[str]:
    return argv[: argv.index("-i")]


# --- ffmpeg argv -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "container"),
    [
        ("rtmp://ingest.example/live/s1-c1?token=t", "flv"),
        ("rtmps://ingest.example:443/live/s1-c1", "flv"),
        ("rtsp://ingest.example:8554/live/s1-c1", "rtsp"),
        ("srt://ingest.example:9000?streamid=live/s1-c1", "mpegts"),
    ],
)
def test_copy_route_argv_for_every_ingest(url: str, container: str) -> None:
    argv = relay_argv(RelayPlan(source_url=CAM, output_url=url, kind="copy"))
    assert argv[0] == "ffmpeg"
    assert "-nostdin" in argv
    assert option(argv, "-loglevel") == "warning"
    assert option(argv, "-progress") == "pipe:1"
    assert option(argv, "-stats_period") == "1"
    before_input = options_before_input(argv)
    assert option(before_input, "-rtsp_transport") == "tcp"
    assert option(before_input, "-timeout") == "5000000"
    assert option(argv, "-i") == CAM
    assert option(argv, "-c:v") == "copy"
    assert "-an" in argv
    assert "libx264" not in argv
    after_input = argv[argv.index("-i") + 2 :]
    assert option(after_input, "-f") == container
    assert argv[-1] == url
    if container == "rtsp":
        assert option(after_input, "-rtsp_transport") == "tcp"
        assert option(after_input, "-timeout") == "10000000"  # the RTSP muxer's own
        assert "-rw_timeout" not in after_input  # ignored by the RTSP muxer
    else:
        assert option(after_input, "-rw_timeout") == "10000000"


def test_transcode_route_caps_with_vbv_and_reduces_fps_and_size() -> None:
    settings = TranscodeSettings(cap_kbps=300, fps=12, height=360, preset="veryfast")
    argv = relay_argv(
        RelayPlan(
            CAM,
            "rtmp://i/live/x",
            kind="transcode",
            transcode=settings,
            input_timeout_s=3,
            output_timeout_s=7.5,
        )
    )
    assert option(argv, "-c:v") == "libx264"
    assert option(argv, "-preset") == "veryfast"
    assert option(argv, "-tune") == "zerolatency"
    assert option(argv, "-maxrate") == "300k"
    assert option(argv, "-bufsize") == "300k"
    assert option(argv, "-b:v") == "300k"
    assert option(argv, "-g") == "24"  # a key frame every 2 s
    video_filter = option(argv, "-vf")
    assert video_filter.startswith("fps=12,")
    assert "min(360,ih)" in video_filter  # never upscaled
    assert option(argv, "-timeout") == "3000000"
    assert option(argv, "-rw_timeout") == "7500000"
    # The argv survives a shell round trip unchanged (no stray quoting problems).
    assert shlex.split(shlex.join(argv)) == argv


def test_odd_transcode_height_is_made_even() -> None:
    argv = relay_argv(
        RelayPlan(
            CAM, "srt://i:1", "transcode", transcode=TranscodeSettings(cap_kbps=200, height=241)
        )
    )
    assert "min(240,ih)" in option(argv, "-vf")


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (RelayPlan(CAM, "rtmp://i/live/x", "copy", codec="h265"), "cannot carry h265"),
        (RelayPlan(CAM, "rtmps://i/live/x", "copy", codec="h265"), "cannot carry h265"),
        (RelayPlan(CAM, "http://i/live/x", "copy"), "unsupported ingest scheme"),
        (RelayPlan(CAM, "rtmp://i/live/x", "transcode"), "needs TranscodeSettings"),
        (RelayPlan("http://cam/x", "rtmp://i/live/x", "copy"), "rtsp://"),
        (RelayPlan(CAM, "rtmp://i/x", "transcode", transcode=TranscodeSettings(0)), "positive"),
    ],
)
def test_impossible_plans_are_refused(plan: RelayPlan, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        relay_argv(plan)


@pytest.mark.parametrize("scheme", ["rtsp", "srt"])
def test_h265_is_copied_where_the_ingest_carries_it(scheme: str) -> None:
    argv = relay_argv(RelayPlan(CAM, f"{scheme}://i:1/x", "copy", codec="h265"))
    assert option(argv, "-c:v") == "copy"


def test_scheme_table() -> None:
    assert ingest_scheme("RTMP://x/y") == "rtmp"
    assert [s for s in ("rtmp", "rtmps", "rtsp", "srt") if scheme_carries(s, "h265")] == [
        "rtsp",
        "srt",
    ]
    assert all(scheme_carries(s, "h264") for s in ("rtmp", "rtmps", "rtsp", "srt"))
    assert not scheme_carries("udp", "h264")


# --- routes ----------------------------------------------------------------------------------


def profile(
    token: str,
    enc: str = "H264",
    w: int = 640,
    h: int = 360,
    kbps: int | None = 384,
    uri: str | None = "rtsp://c/x",
    fps: float | None = 25,
) -> MediaProfile:
    return MediaProfile(
        token=token, encoding=enc, width=w, height=h, bitrate_kbps=kbps, rtsp_uri=uri, fps=fps
    )


MAIN = profile("main", w=1920, h=1080, kbps=4096)
SUB = profile("sub", w=640, h=360, kbps=384)
SUB_H265 = profile("sub", enc="H265", w=640, h=360, kbps=256)
TINY = profile("third", w=352, h=288, kbps=128)


def test_sub_stream_that_fits_is_copied() -> None:
    route = choose_route([MAIN, SUB, TINY], 512, "rtmp")
    assert (route.name, route.profile.token, route.codec) == ("copy", "sub", "h264")
    assert "fits 512" in route.reason


def test_best_fitting_picture_is_copied() -> None:
    bigger = profile("mid", w=1280, h=720, kbps=500)
    assert choose_route([MAIN, SUB, bigger], 512, "rtmp").profile.token == "mid"
    assert choose_route([MAIN, SUB, bigger], 400, "rtmp").profile.token == "sub"


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        (profile("s", kbps=600), "bitrate above the cap"),
        (profile("s", kbps=None), "bitrate unknown"),
        (profile("s", w=352, h=288, kbps=128), "smaller than 640x360"),
        (profile("s", enc="JPEG"), "MJPEG"),
        (profile("s", uri=None), "no RTSP URI"),
    ],
)
def test_profiles_that_cannot_be_copied(candidate: MediaProfile, why: str) -> None:
    assert copy_candidates([candidate], 512, "rtmp") == [], why


def test_h265_sub_stream_transcoded_for_rtmp_copied_for_rtsp_and_srt() -> None:
    route = choose_route(
        [profile("main", enc="H265", w=1920, h=1080, kbps=2048), SUB_H265], 512, "rtmp"
    )
    assert route.name == "transcode"
    assert route.codec == "h264"
    assert route.profile.token == "sub"  # decode the small stream, not 1080p
    assert "H.265 cannot go over rtmp://" in route.reason
    for scheme in ("rtsp", "srt"):
        route = choose_route([SUB_H265], 512, scheme)
        assert (route.name, route.codec) == ("copy", "h265")


def test_h264_preferred_over_h265_when_both_fit() -> None:
    h264 = profile("b", w=640, h=360, kbps=400)
    h265 = profile("a", enc="H265", w=1280, h=720, kbps=400)
    assert choose_route([h265, h264], 512, "srt").profile.token == "b"


def test_nothing_fits_transcodes_from_the_smallest_stream_tall_enough() -> None:
    big_sub = profile("sub", w=1280, h=720, kbps=1024)
    route = choose_route([MAIN, big_sub, TINY], 512, "rtmp", transcode_height=360)
    assert (route.name, route.profile.token) == ("transcode", "sub")
    assert transcode_source([MAIN, TINY], 360).token == "main"  # type: ignore[union-attr]
    assert transcode_source([TINY], 360).token == "third"  # type: ignore[union-attr]
    assert transcode_source([profile("x", w=0, h=0)], 360).token == "x"  # type: ignore[union-attr]
    assert transcode_source([], 360) is None


def test_set_encoder_route_targets_the_sub_stream_never_the_main() -> None:
    heavy_sub = profile("sub", w=640, h=360, kbps=1024, fps=30)
    route = choose_route([MAIN, heavy_sub], 512, "rtmp", set_encoder=True)
    assert route.name == "set_encoder"
    assert route.encoder is not None
    assert (route.encoder.profile_token, route.encoder.kbps) == ("sub", 512)
    assert (route.encoder.fps, route.encoder.gop) == (25, 50)
    # A single-stream camera: its only stream is the main one, so transcode instead.
    assert choose_route([MAIN], 512, "rtmp", set_encoder=True).name == "transcode"
    # Once the attempt failed, transcode.
    assert (
        choose_route([MAIN, heavy_sub], 512, "rtmp", set_encoder=True, encoder_failed=True).name
        == "transcode"
    )
    # Copy still wins when something already fits.
    assert choose_route([MAIN, SUB], 512, "rtmp", set_encoder=True).name == "copy"


def test_sub_stream_choice() -> None:
    assert sub_stream([MAIN]) is None
    assert sub_stream([MAIN, SUB, TINY]) == SUB
    assert sub_stream([MAIN, TINY]) == TINY


def test_a_profile_sharing_the_main_encoder_is_never_reconfigured() -> None:
    main = replace(MAIN, encoder_token="venc_main")
    # A second profile over the main stream's encoder (same encoder, a smaller view of it
    # as some cameras list it): setting "its" encoder would change the main stream.
    twin = replace(profile("twin", w=640, h=360, kbps=2048), encoder_token="venc_main")
    own = replace(profile("sub", w=640, h=360, kbps=2048), encoder_token="venc_sub")
    assert sub_stream([main, twin]) is None
    assert sub_stream([main, twin, own]) == own
    assert choose_route([main, twin], 512, "rtmp", set_encoder=True).name == "transcode"
    route = choose_route([main, twin, own], 512, "rtmp", set_encoder=True)
    assert route.encoder is not None and route.encoder.profile_token == "sub"


def test_lowered_cap_turns_a_copy_into_a_transcode() -> None:
    assert choose_route([MAIN, SUB], 384, "rtmp").name == "copy"
    assert choose_route([MAIN, SUB], 383, "rtmp").name == "transcode"


def test_a_test_push_is_the_relay_cut_short() -> None:
    """`acceptance` pushes a camera the relay's way, for a few seconds only."""
    streams = StreamsConfig(ingest_url="rtmp://ingest.example/live/{camera_id}", max_kbps=256)
    login = CameraLogin("admin", "pw")
    url = "rtmp://ingest.example/live/c1"
    for fits, kind in ((200, "-c:v copy"), (4000, "libx264")):
        route = choose_route([profile("sub", kbps=fits, uri="rtsp://c/x")], 256, "rtmp")
        relay = relay_argv(relay_plan(route, streams, login, url))
        push = relay_argv(relay_plan(route, streams, login, url, duration_s=3))
        assert kind in shlex.join(relay)
        cut = relay.index("-f")
        assert push[:cut] + push[cut + 2 :] == relay
        assert push[cut : cut + 2] == ["-t", "3"]
        assert option(push, "-i") == "rtsp://admin:pw@c/x"


def test_no_readable_stream_is_no_route() -> None:
    with pytest.raises(NoRoute):
        choose_route([profile("x", uri=None)], 512, "rtmp")
    with pytest.raises(NoRoute):
        choose_route([], 512, "rtmp")


def test_profile_from_discover_json_is_tolerant() -> None:
    parsed = MediaProfile.from_json(
        {
            "token": "sub",
            "name": "Sub",
            "encoding": "H264",
            "width": 640,
            "height": 360,
            "fps": 25,
            "bitrate_kbps": 384,
            "rtsp_uri": "rtsp://c/sub",
            "snapshot_uri": None,
            "encoder_token": "venc_sub",
        }
    )
    assert parsed == MediaProfile(
        token="sub",
        name="Sub",
        encoding="H264",
        width=640,
        height=360,
        fps=25.0,
        bitrate_kbps=384,
        rtsp_uri="rtsp://c/sub",
        encoder_token="venc_sub",
    )
    odd = MediaProfile.from_json(
        {"token": "x", "width": "wide", "height": True, "bitrate_kbps": -1}
    )
    assert (odd.width, odd.height, odd.bitrate_kbps, odd.encoding) == (None, None, None, None)
    assert MediaProfile(token="x", encoding="hevc").codec == "h265"
    assert MediaProfile(token="x", encoding="H.264").codec == "h264"


# --- bandwidth -------------------------------------------------------------------------------


def test_everything_fits() -> None:
    demands = [Demand("a", 5, 512), Demand("b", 1, 512)]
    result = allocate(demands, 2048, 160)
    assert {k: v.cap_kbps for k, v in result.items()} == {"a": 512, "b": 512}
    assert not any(a.squeezed for a in result.values())


def test_short_uplink_squeezes_lower_priority_then_pauses() -> None:
    demands = [Demand("storage", 1, 512), Demand("cold", 6, 512), Demand("cook", 5, 512)]
    squeezed = allocate(demands, 1200, 160)
    assert [squeezed[c].cap_kbps for c in ("cold", "cook", "storage")] == [512, 512, 176]
    assert squeezed["storage"].squeezed
    paused = allocate(demands, 1100, 160)
    assert [paused[c].cap_kbps for c in ("cold", "cook", "storage")] == [512, 428, 160]
    tight = allocate(demands, 400, 160)
    assert [tight[c].cap_kbps for c in ("cold", "cook", "storage")] == [240, 160, None]
    assert tight["storage"].paused


def test_allocation_is_deterministic_and_within_budget_exhaustively() -> None:
    wants = [64, 160, 384, 512, 2000]
    for uplink in (64, 100, 300, 700, 1500, 5000):
        for combo in itertools.product(wants, repeat=3):
            demands = [
                Demand(f"c{i}", p, w) for i, (p, w) in enumerate(zip((3, 3, 1), combo, strict=True))
            ]
            result = allocate(demands, uplink, 160)
            assert total_kbps(result) <= uplink
            for demand in demands:
                cap = result[demand.camera_id].cap_kbps
                assert cap is None or min(160, demand.want_kbps) <= cap <= demand.want_kbps
            # A camera pauses only when its minimum did not fit beside the cameras ranked
            # above it (a lower one may still use a budget too small for a higher one).
            floors = [min(160, d.want_kbps) for d in demands]
            for index, demand in enumerate(demands):
                if result[demand.camera_id].paused:
                    above = sum(
                        floors[i]
                        for i in range(index)
                        if demands[i].priority >= demand.priority
                        and not result[demands[i].camera_id].paused
                    )
                    assert floors[index] > uplink - above
            assert result == allocate(list(reversed(demands)), uplink, 160)


def test_kcp_priority_follows_the_catalogue() -> None:
    order = ["cold_room", "cooking", "prep", "dishwashing", "packing", "storage"]
    priorities = [kcp_priority([code]) for code in order]
    assert priorities == sorted(priorities, reverse=True)
    assert kcp_priority(["storage", "cold_room"]) == kcp_priority(["cold_room"])
    assert kcp_priority([]) == 0
    assert kcp_priority(["nonsense"]) == 0
    assert primary_kcp(["prep", "cooking"]) is Kcp.COOKING
    assert primary_kcp([]) is None


# --- progress --------------------------------------------------------------------------------

BLOCK = """frame=250
fps=25.00
stream_0_0_q=-1.0
bitrate= 402.3kbits/s
total_size=502144
out_time_us=10000000
out_time_ms=10000000
out_time=00:00:10.000000
dup_frames=0
drop_frames=2
speed=1.01x
progress=continue"""


def test_progress_block_parsed() -> None:
    parser = ProgressParser()
    results = [parser.feed(line) for line in BLOCK.splitlines()]
    assert results[:-1] == [None] * (len(results) - 1)
    assert results[-1] == Progress(
        frame=250,
        fps=25.0,
        bitrate_kbps=402.3,
        total_size=502144,
        out_time_s=10.0,
        speed=1.01,
        drop_frames=2,
        dup_frames=0,
        ended=False,
    )


def test_progress_start_of_stream_and_end() -> None:
    start = parse_block(
        {
            "frame": "0",
            "fps": "0.00",
            "bitrate": "N/A",
            "total_size": "N/A",
            "out_time_us": "N/A",
            "out_time": "-577014:32:22.775808",
            "speed": "N/A",
            "progress": "continue",
        }
    )
    assert start.bitrate_kbps is None and start.total_size is None and start.speed is None
    assert start.out_time_s is not None and start.out_time_s < 0
    end = parse_block({"frame": "10", "out_time": "00:01:02.5", "progress": "end"})
    assert end.ended and end.out_time_s == 62.5


def test_progress_parser_ignores_garbage_and_bounds_memory() -> None:
    parser = ProgressParser()
    assert parser.feed("") is None
    assert parser.feed("no equals sign") is None
    assert parser.feed("=value") is None
    for i in range(1000):
        parser.feed(f"key{i}=1")
    assert len(parser._fields) <= ProgressParser.MAX_FIELDS
    result = parser.feed("progress=continue")
    assert result is not None and result.frame is None
    assert parse_block({"fps": "nan", "frame": "x"}) == Progress()


def test_advanced() -> None:
    first = Progress(frame=10, total_size=1000, out_time_s=0.4)
    assert advanced(None, first)
    assert not advanced(None, Progress(frame=0, total_size=None))
    assert not advanced(first, Progress(frame=10, total_size=1000, out_time_s=0.4))
    assert advanced(first, Progress(frame=11, total_size=1000, out_time_s=0.4))
    assert advanced(first, Progress(frame=10, total_size=1200, out_time_s=0.4))
    assert not advanced(first, Progress())


def test_rate_meter_windows_and_resets_on_a_new_process() -> None:
    meter = RateMeter(window_s=10)
    assert meter.kbps() is None
    for second in range(30):
        meter.add(float(second), second * 50_000)  # 400 kbit/s
    assert meter.kbps() == pytest.approx(400)
    meter.add(30.0, 100)  # a restarted ffmpeg counts from zero
    assert meter.kbps() is None
    meter.add(31.0, 12_600)
    assert meter.kbps() == pytest.approx(100)


# --- config ----------------------------------------------------------------------------------


def test_streams_config_defaults_and_validation() -> None:
    config = StreamsConfig()
    assert (config.max_kbps, config.mode, config.set_encoder) == (512, "always", False)
    assert StreamsConfig(ingest_url="srt://i:9000?streamid={store_id}/{camera_id}/{kcp}/{token}")
    for bad, message in [
        ({"ingest_url": "http://i/{camera_id}"}, "must start with"),
        ({"ingest_url": "rtmp://i/{camera}"}, "unknown placeholder {camera}"),
        ({"ingest_url": "rtmp://i/{"}, "not a valid template"),
        ({"max_kbps": 63}, "greater than or equal to 64"),
        ({"max_kbps": 8001}, "less than or equal to 8000"),
        ({"min_kbps": 600}, "must not exceed"),
        ({"mode": "sometimes"}, "always"),
        ({"cameras": {"c1": {"priority": 7, "bogus": 1}}}, "bogus"),
    ]:
        with pytest.raises(ValidationError, match=message):
            StreamsConfig.model_validate(bad)
