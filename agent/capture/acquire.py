"""One current picture of a camera by the cheapest route that works.

The snapshot URI costs the camera a JPEG it already makes; the sub-stream keyframe costs an
RTSP session and a decode, so it is the fallback. Used by the quality worker (every
sample), the MQTT ``snapshot`` command and the CLI.
"""

from __future__ import annotations

from typing import Any

import structlog

from agent.errors import CameraError, FrameUnavailable, ProcessTimeout
from agent.model import Camera, CameraLogin

log = structlog.get_logger(__name__)

MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024


def try_snapshot(camera: Camera, login: CameraLogin | None, timeout_s: float) -> bytes | None:
    """The camera's snapshot body, or None when it has no snapshot URI or the fetch failed
    (the caller then falls back to the sub-stream)."""
    from agent.capture.frames import fetch_snapshot

    url = camera.snapshot_uri
    if url is None:
        return None
    try:
        return fetch_snapshot(url, login, timeout_s, MAX_SNAPSHOT_BYTES)
    except CameraError as error:
        log.info("snapshot_failed", camera_id=camera.id, code=error.code)
        return None


def sub_stream_frame(camera: Camera, login: CameraLogin | None, timeout_s: float) -> Any:
    """One decoded (BGR) frame of the camera's smallest RTSP stream."""
    from agent.capture.frames import grab_rtsp_frame

    rtsp = camera.sub_stream_uri
    if rtsp is None:
        raise FrameUnavailable(f"camera {camera.id} offers no snapshot or stream")
    try:
        return grab_rtsp_frame(rtsp, timeout_s, login=login)
    except ProcessTimeout:
        raise FrameUnavailable(f"no frame from camera {camera.id} in {timeout_s:g} s") from None


def acquire_jpeg(camera: Camera, login: CameraLogin | None, timeout_s: float) -> bytes:
    """A JPEG of the camera now: its snapshot, else a sub-stream frame encoded here."""
    body = try_snapshot(camera, login, timeout_s)
    if body is not None and body[:2] == b"\xff\xd8":
        return body
    if body is not None:
        log.info("snapshot_not_jpeg", camera_id=camera.id)
    frame = sub_stream_frame(camera, login, timeout_s)
    import cv2

    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise FrameUnavailable("could not encode the frame as JPEG")
    return bytes(encoded)
