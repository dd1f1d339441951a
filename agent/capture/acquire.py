"""One current picture of a camera by the cheapest route that works.

The snapshot URI costs the camera a JPEG it already makes; the sub-stream keyframe costs an
RTSP session and a decode, so it is the fallback. Used by the MQTT `snapshot` command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from agent.errors import CameraError, FrameUnavailable, ProcessTimeout

log = structlog.get_logger(__name__)

MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024


def _profiles_small_first(info: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    profiles = [p for p in info.get("profiles") or [] if isinstance(p, Mapping)]
    return sorted(profiles, key=lambda p: (p.get("width") or 0) * (p.get("height") or 0))


def snapshot_uri(info: Mapping[str, Any]) -> str | None:
    """The snapshot URI of the smallest profile that has one."""
    for profile in _profiles_small_first(info):
        if profile.get("snapshot_uri"):
            return str(profile["snapshot_uri"])
    return None


def sub_stream_uri(info: Mapping[str, Any]) -> str | None:
    """The RTSP URI of the smallest profile (the sub-stream)."""
    for profile in _profiles_small_first(info):
        if profile.get("rtsp_uri"):
            return str(profile["rtsp_uri"])
    return None


def try_snapshot(
    info: Mapping[str, Any], username: str | None, password: str | None, timeout_s: float
) -> bytes | None:
    """The camera's snapshot body, or None when it has no snapshot URI or the fetch failed
    (the caller then falls back to the sub-stream)."""
    from agent.capture.frames import fetch_snapshot

    url = snapshot_uri(info)
    if url is None:
        return None
    try:
        return fetch_snapshot(url, username, password, timeout_s, MAX_SNAPSHOT_BYTES)
    except CameraError as error:
        log.info("snapshot_failed", camera_id=info.get("id"), code=error.code)
        return None


def sub_stream_frame(
    info: Mapping[str, Any], username: str | None, password: str | None, timeout_s: float
) -> Any:
    """One decoded (BGR) frame of the camera's smallest RTSP stream."""
    from agent.capture.frames import grab_rtsp_frame

    rtsp = sub_stream_uri(info)
    if rtsp is None:
        raise FrameUnavailable(f"camera {info.get('id')} offers no snapshot or stream")
    try:
        return grab_rtsp_frame(rtsp, timeout_s, username=username, password=password)
    except ProcessTimeout:
        raise FrameUnavailable(
            f"no frame from camera {info.get('id')} in {timeout_s:g} s"
        ) from None


def acquire_jpeg(
    info: Mapping[str, Any], username: str | None, password: str | None, timeout_s: float
) -> bytes:
    """A JPEG of the camera now: its snapshot, else a sub-stream frame encoded here."""
    body = try_snapshot(info, username, password, timeout_s)
    if body is not None and body[:2] == b"\xff\xd8":
        return body
    if body is not None:
        log.info("snapshot_not_jpeg", camera_id=info.get("id"))
    frame = sub_stream_frame(info, username, password, timeout_s)
    import cv2

    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise FrameUnavailable("could not encode the frame as JPEG")
    return bytes(encoded)
