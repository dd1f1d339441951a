"""Choosing the cheapest way to get one camera to the ingest within its bitrate cap.

Cheapest first:

1. ``copy`` — a profile the camera already encodes fits: H.264 (or H.265 when the ingest
   is RTSP/SRT), a known bitrate within the cap, at least 640x360. Costs ~1 % of a core.
2. ``set_encoder`` (opt-in) — ask the camera over ONVIF to encode its sub-stream as H.264
   at the cap, then copy it. Never touches the main stream, which an NVR may be recording.
3. ``transcode`` — decode the smallest profile that is still at least the target height
   (the sub-stream: decoding 1080p costs several times more) and encode H.264 with libx264
   under a VBV cap, at reduced fps and size. ~15-25 % of a core per camera.

Pure: a camera's :class:`agent.model.MediaProfile` list in, a :class:`Route` out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.config.streams import StreamsConfig
from agent.model import CameraLogin, EncoderRequest, MediaProfile, RouteName, with_login
from agent.uplink.video.ffmpeg_args import RelayPlan, TranscodeSettings, scheme_carries

MIN_COPY_WIDTH = 640
MIN_COPY_HEIGHT = 360


@dataclass(frozen=True)
class Route:
    name: RouteName
    profile: MediaProfile  # the camera stream the relay reads
    codec: str  # what leaves the box: h264 | h265
    cap_kbps: int
    reason: str  # one line for people: why this route
    encoder: EncoderRequest | None = None  # set_encoder only


class NoRoute(ValueError):
    """The camera offers nothing ffmpeg can read (no profile with an RTSP URI)."""


def _describe(profile: MediaProfile) -> str:
    size = f"{profile.width}x{profile.height}" if profile.width and profile.height else "?x?"
    rate = f"{profile.bitrate_kbps} kbit/s" if profile.bitrate_kbps else "unknown bitrate"
    return f"{profile.token} ({profile.encoding or '?'} {size}, {rate})"


def copy_candidates(
    profiles: Iterable[MediaProfile], cap_kbps: int, scheme: str
) -> list[MediaProfile]:
    """Profiles that can be copied as they are, best picture first."""
    fitting = [
        p
        for p in profiles
        if p.rtsp_uri
        and p.codec is not None
        and scheme_carries(scheme, p.codec)
        and p.bitrate_kbps is not None
        and p.bitrate_kbps <= cap_kbps
        and (p.width or 0) >= MIN_COPY_WIDTH
        and (p.height or 0) >= MIN_COPY_HEIGHT
    ]
    # H.264 first (every player has it), then the sharpest picture, then the most bits.
    return sorted(
        fitting,
        key=lambda p: (p.codec == "h264", p.pixels, p.bitrate_kbps or 0, p.token),
        reverse=True,
    )


def sub_stream(profiles: Iterable[MediaProfile]) -> MediaProfile | None:
    """The camera's secondary stream: not the largest, at least 640x360 if any is.

    None when the camera has a single stream (that one is the main stream: an NVR may
    record it, so the agent never reconfigures it). A profile that shares the main
    stream's video encoder configuration is the main stream too, whatever its name.
    """
    usable = [p for p in profiles if p.rtsp_uri and p.token]
    if len(usable) < 2:
        return None
    largest = max(usable, key=lambda p: (p.pixels, p.token))
    others = [
        p
        for p in usable
        if p is not largest
        and not (p.encoder_token is not None and p.encoder_token == largest.encoder_token)
    ]
    if not others:
        return None
    big_enough = [
        p for p in others if (p.width or 0) >= MIN_COPY_WIDTH and (p.height or 0) >= MIN_COPY_HEIGHT
    ]
    pool = big_enough or others
    return min(pool, key=lambda p: (p.pixels, p.token))


def transcode_source(profiles: Iterable[MediaProfile], target_height: int) -> MediaProfile | None:
    """The cheapest stream to decode that still has ``target_height`` lines (no upscaling)."""
    readable = [p for p in profiles if p.rtsp_uri]
    if not readable:
        return None
    known = [p for p in readable if p.height]
    tall_enough = [p for p in known if (p.height or 0) >= target_height]
    if tall_enough:
        return min(tall_enough, key=lambda p: (p.pixels, p.token))
    if known:
        return max(known, key=lambda p: (p.pixels, p.token))
    return readable[0]


def choose_route(
    profiles: Iterable[MediaProfile],
    cap_kbps: int,
    scheme: str,
    *,
    set_encoder: bool = False,
    encoder_failed: bool = False,
    transcode_height: int = 360,
    transcode_fps: int = 15,
) -> Route:
    """The cheapest route for a camera with ``profiles`` under ``cap_kbps`` to ``scheme``.

    ``encoder_failed`` says the set_encoder attempt was made and did not help: the camera
    refused, or the result still does not fit; the next choice is then transcode.
    """
    listed = list(profiles)
    candidates = copy_candidates(listed, cap_kbps, scheme)
    if candidates:
        best = candidates[0]
        return Route(
            name=RouteName.COPY,
            profile=best,
            codec=best.codec or "h264",
            cap_kbps=cap_kbps,
            reason=f"profile {_describe(best)} fits {cap_kbps} kbit/s: copied",
        )
    if set_encoder and not encoder_failed:
        sub = sub_stream(listed)
        if sub is not None:
            fps = min(int(sub.fps), 25) if sub.fps else None
            return Route(
                name=RouteName.SET_ENCODER,
                profile=sub,
                codec="h264",
                cap_kbps=cap_kbps,
                reason=f"sub-stream {_describe(sub)} to be set to H.264 at {cap_kbps} kbit/s",
                encoder=EncoderRequest(
                    profile_token=sub.token,
                    kbps=cap_kbps,
                    fps=fps,
                    gop=2 * fps if fps else None,
                ),
            )
    source = transcode_source(listed, transcode_height)
    if source is None:
        raise NoRoute("the camera offers no stream with an RTSP URI")
    why = "no profile fits" if listed else "no profiles known"
    if source.codec == "h265" and not scheme_carries(scheme, "h265"):
        why = f"H.265 cannot go over {scheme}://"
    return Route(
        name=RouteName.TRANSCODE,
        profile=source,
        codec="h264",
        cap_kbps=cap_kbps,
        reason=f"{why} under {cap_kbps} kbit/s: transcoding {_describe(source)} to "
        f"H.264 {transcode_height}p{transcode_fps}",
    )


def relay_plan(
    route: Route,
    streams: StreamsConfig,
    login: CameraLogin | None,
    output_url: str,
    duration_s: float | None = None,
) -> RelayPlan:
    """What ffmpeg runs for ``route``: the relay's, and ``acceptance``'s test push."""
    if route.profile.rtsp_uri is None:
        raise NoRoute("the chosen profile has no RTSP URI")
    return RelayPlan(
        source_url=with_login(route.profile.rtsp_uri, login),
        output_url=output_url,
        kind="copy" if route.name is RouteName.COPY else "transcode",
        codec="h265" if route.codec == "h265" else "h264",
        transcode=TranscodeSettings(
            cap_kbps=route.cap_kbps,
            fps=streams.transcode_fps,
            height=streams.transcode_height,
            preset=streams.transcode_preset,
        )
        if route.name is RouteName.TRANSCODE
        else None,
        input_timeout_s=streams.input_timeout_s,
        output_timeout_s=streams.output_timeout_s,
        ffmpeg=streams.ffmpeg,
        duration_s=duration_s,
    )
