"""The ffmpeg command line of every relay route, built by pure functions.

One relay is one ffmpeg: read the camera's RTSP stream over TCP, either copy its H.264 (or
H.265 where the ingest carries it) or transcode it with libx264 under a VBV cap, and push it
to the ingest. Settings that matter for supervision:

- ``-nostdin``: ffmpeg must never wait on a terminal (the process has no stdin anyway).
- ``-progress pipe:1 -stats_period 1 -nostats``: one machine-readable block per second on
  stdout (the relay's heartbeat); the human stats line is off so stderr keeps only problems.
- input ``-rtsp_transport tcp -timeout <µs>``: a camera that stops sending ends ffmpeg
  instead of hanging it (ffmpeg >= 5 spells the RTSP socket timeout ``-timeout``); input
  ``-protocol_whitelist tcp``: an ``rtsp://`` source can make ffmpeg open nothing else.
- output ``-rw_timeout <µs>`` for RTMP and SRT: a stalled ingest ends ffmpeg too.
- output ``-timeout <µs>`` for RTSP publish (see :func:`output_args` for what it does and
  does not catch; the relay's stall detector covers the rest).
- ``-an``: only video goes to the platform. Kitchen audio carries staff conversations and
  costs uplink; the programme asks for the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from agent.trust import FFMPEG_INPUT_PROTOCOLS

Codec = Literal["h264", "h265"]
RouteKind = Literal["copy", "transcode"]

# Which container each ingest scheme carries, and which codecs ffmpeg 5.1 can put into it.
CONTAINERS: dict[str, str] = {"rtmp": "flv", "rtmps": "flv", "rtsp": "rtsp", "srt": "mpegts"}
CODECS_BY_SCHEME: dict[str, frozenset[str]] = {
    "rtmp": frozenset({"h264"}),  # FLV in ffmpeg 5.1 has no HEVC (enhanced RTMP came in 6.1)
    "rtmps": frozenset({"h264"}),
    "rtsp": frozenset({"h264", "h265"}),
    "srt": frozenset({"h264", "h265"}),
}


def ingest_scheme(url: str) -> str:
    """``rtmp``, ``rtmps``, ``rtsp`` or ``srt``; ValueError for anything else."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in CONTAINERS:
        raise ValueError(f"unsupported ingest scheme {scheme or '(none)'}://")
    return scheme


def scheme_carries(scheme: str, codec: str) -> bool:
    return codec in CODECS_BY_SCHEME.get(scheme, frozenset())


def microseconds(seconds: float) -> str:
    return str(round(seconds * 1_000_000))


@dataclass(frozen=True)
class TranscodeSettings:
    """How the transcode route shapes its output."""

    cap_kbps: int
    fps: int = 15
    height: int = 360
    preset: str = "veryfast"
    keyframe_s: float = 2.0  # platforms' players join at a key frame: keep them frequent


@dataclass(frozen=True)
class RelayPlan:
    """Everything one relay's command line depends on."""

    source_url: str  # rtsp://user:pass@camera/... (the argv holds secrets: never log it)
    output_url: str  # the rendered ingest URL (holds the stream token)
    kind: RouteKind
    codec: Codec = "h264"  # what leaves the box; for copy, what the camera sends
    transcode: TranscodeSettings | None = None
    input_timeout_s: float = 5.0
    output_timeout_s: float = 10.0
    ffmpeg: str = "ffmpeg"
    duration_s: float | None = None  # stop after this much video (a test push); None: never


def global_args(ffmpeg: str = "ffmpeg") -> list[str]:
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "warning",
        "-nostats",
        "-progress",
        "pipe:1",
        "-stats_period",
        "1",
    ]


def input_args(source_url: str, timeout_s: float) -> list[str]:
    if not source_url.lower().startswith("rtsp://"):
        raise ValueError("camera sources are rtsp:// URLs")
    return [
        # RTSP opens its own TCP connection; nothing else (a file, HTTP...) may be read.
        "-protocol_whitelist",
        FFMPEG_INPUT_PROTOCOLS,
        "-rtsp_transport",
        "tcp",
        "-timeout",
        microseconds(timeout_s),
        # Cameras' first packets often lack timestamps; generate them rather than fail.
        "-fflags",
        "+genpts",
        "-i",
        source_url,
    ]


def copy_args() -> list[str]:
    return ["-map", "0:v:0", "-an", "-c:v", "copy"]


def transcode_args(settings: TranscodeSettings) -> list[str]:
    if settings.cap_kbps <= 0 or settings.fps <= 0 or settings.height <= 0:
        raise ValueError("transcode settings must be positive")
    height = settings.height - settings.height % 2  # 4:2:0 needs even dimensions
    gop = max(1, round(settings.fps * settings.keyframe_s))
    cap = f"{settings.cap_kbps}k"
    return [
        "-map",
        "0:v:0",
        "-an",
        # Never upscale a small sub-stream; -2 keeps the aspect ratio with an even width.
        "-vf",
        f"fps={settings.fps},scale=w=-2:h='min({height},ih)':flags=bilinear",
        "-c:v",
        "libx264",
        "-preset",
        settings.preset,
        "-tune",
        "zerolatency",
        "-profile:v",
        "main",
        "-pix_fmt",
        "yuv420p",
        # VBV at the cap: the peak stays within it, not only the average.
        "-b:v",
        cap,
        "-maxrate",
        cap,
        "-bufsize",
        cap,
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-bf",
        "0",
    ]


def output_args(output_url: str, timeout_s: float) -> list[str]:
    scheme = ingest_scheme(output_url)
    args = ["-f", CONTAINERS[scheme]]
    if scheme == "rtsp":
        # ffmpeg 5.1's RTSP muxer ignores -rw_timeout; its own -timeout (an option
        # `ffmpeg -h muxer=rtsp` does not list) bounds the connect and every RTSP reply, so
        # an ingest that accepts the connection but never answers ANNOUNCE/SETUP/RECORD
        # ends ffmpeg in timeout_s instead of hanging it. It cannot end ffmpeg on an ingest
        # that stalls mid-stream: each interleaved write then times out, but the muxer
        # discards write errors (rtspenc.c tcp_write_packet) and goes on to the next packet,
        # so ffmpeg stays alive and makes no progress; the relay's stall detector restarts
        # it (measured: tests/test_stream_relay.py).
        args += ["-rtsp_transport", "tcp", "-timeout", microseconds(timeout_s)]
    else:
        args += ["-rw_timeout", microseconds(timeout_s)]
    if scheme in ("rtmp", "rtmps"):
        args += ["-flvflags", "no_duration_filesize"]  # a live stream has neither
    return [*args, output_url]


def relay_argv(plan: RelayPlan) -> list[str]:
    """The full ffmpeg argv of ``plan``; ValueError if the ingest cannot carry it."""
    scheme = ingest_scheme(plan.output_url)
    if plan.kind == "copy":
        if not scheme_carries(scheme, plan.codec):
            raise ValueError(f"{scheme}:// cannot carry {plan.codec} with ffmpeg 5.1")
        middle = copy_args()
    else:
        if plan.transcode is None:
            raise ValueError("the transcode route needs TranscodeSettings")
        middle = transcode_args(plan.transcode)
    return [
        *global_args(plan.ffmpeg),
        *input_args(plan.source_url, plan.input_timeout_s),
        *middle,
        *(["-t", f"{plan.duration_s:g}"] if plan.duration_s else []),
        *output_args(plan.output_url, plan.output_timeout_s),
    ]
