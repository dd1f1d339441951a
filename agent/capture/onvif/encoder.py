"""Encoder settings for the streaming side: a profile's video encoder made H.264 with a
bitrate cap (ONVIF Media1)."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from agent.capture.onvif.parse import as_str, get, profile_of, repair_service_url
from agent.capture.onvif.session import DEFAULT_TIMEOUT_S, CameraSession, find_media_service
from agent.errors import CameraBadResponse
from agent.trust import check_media_uri

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class EncoderSettings:
    profile_token: str
    encoder_token: str
    encoding: str | None
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: int | None
    gop: int | None
    constant_bitrate: bool  # False: ONVIF Media1 cannot switch CBR on; the cap still holds


def set_h264_cbr(
    xaddr: str,
    profile_token: str,
    kbps: int,
    *,
    username: str,
    password: str,
    fps: int | None = None,
    gop: int | None = None,
    media_xaddr: str | None = None,
    clock_skew_s: float | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    media_hosts: frozenset[str] = frozenset(),
) -> EncoderSettings:
    """Make a profile's video encoder H.264 with a bitrate cap (and optionally fps/GOP).

    Uses Media1 SetVideoEncoderConfiguration (ForcePersistence) and reads the
    configuration back. Media1 has no CBR switch: ``BitrateLimit`` caps the bitrate
    whatever the camera's rate-control mode; ``constant_bitrate`` reports False.
    Raises a CameraError subclass on failure.
    """
    session = CameraSession(
        xaddr, username, password, timeout_s, clock_skew_s=clock_skew_s, media_hosts=media_hosts
    )
    try:
        # The skew is measured again rather than taken from the inventory: the box's own
        # clock steps when NTP first sets it after a boot, which leaves a skew measured
        # before it wrong by as much, and a camera that checks ``Created`` refuses the login
        # (the relay would then never ask again). One unauthenticated call; the saved skew
        # stands only when the camera tells no time.
        if session.read_clock() is None:
            session.clock_skew_s = clock_skew_s
        if media_xaddr is None:
            find_media_service(session)
        else:
            session.media_xaddr = repair_service_url(media_xaddr, xaddr)
            if session.media_xaddr is not None:
                check_media_uri(session.media_xaddr, xaddr, media_hosts, "media service")
        profiles = session.call("media", "GetProfiles") or []
        profile = next((p for p in profiles if as_str(get(p, "token")) == profile_token), None)
        if profile is None:
            raise CameraBadResponse(f"{session.where} has no profile {profile_token}")
        encoder_token = as_str(get(profile, "VideoEncoderConfiguration", "token"))
        if encoder_token is None:
            raise CameraBadResponse(
                f"{session.where}: profile {profile_token} has no video encoder"
            )
        config = session.call(
            "media", "GetVideoEncoderConfiguration", ConfigurationToken=encoder_token
        )
        config.Encoding = "H264"
        if config.RateControl is not None:
            config.RateControl.BitrateLimit = int(kbps)
            if fps is not None:
                config.RateControl.FrameRateLimit = int(fps)
        if config.H264 is None:
            config.H264 = {"GovLength": gop or 50, "H264Profile": "Main"}
        elif gop is not None:
            config.H264.GovLength = int(gop)
        session.call(
            "media", "SetVideoEncoderConfiguration", Configuration=config, ForcePersistence=True
        )
        applied = session.call(
            "media", "GetVideoEncoderConfiguration", ConfigurationToken=encoder_token
        )
        result = profile_of({"token": profile_token, "VideoEncoderConfiguration": applied})
        if result is None:
            raise CameraBadResponse(f"{session.where}: unreadable encoder configuration")
        log.info(
            "camera_encoder_set",
            where=session.where,
            profile=profile_token,
            bitrate_kbps=result.bitrate_kbps,
            encoding=result.encoding,
        )
        return EncoderSettings(
            profile_token=profile_token,
            encoder_token=encoder_token,
            encoding=result.encoding,
            width=result.width,
            height=result.height,
            fps=result.fps,
            bitrate_kbps=result.bitrate_kbps,
            gop=result.gop,
            constant_bitrate=False,
        )
    finally:
        session.close()
