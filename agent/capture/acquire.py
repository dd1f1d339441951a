"""One current picture of a camera by the cheapest route that works.

The snapshot URI costs the camera a JPEG it already makes; the sub-stream keyframe costs an
RTSP session and a decode, so it is the fallback. Used by the quality worker (every
sample) and the MQTT ``snapshot`` command.
"""

from __future__ import annotations

from typing import Any

import structlog

from agent.errors import CameraError, FrameUnavailable, ProcessTimeout
from agent.images import check_image
from agent.model import Camera, CameraLogin
from agent.trust import check_media_uri

log = structlog.get_logger(__name__)

MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024


def try_snapshot(camera: Camera, login: CameraLogin | None, timeout_s: float) -> bytes | None:
    """The camera's snapshot body, or None when it has no snapshot URI or the fetch failed
    (the caller then falls back to the sub-stream). The URI is followed only where the
    trust model allows (agent.trust): on the camera's host or its media_hosts."""
    from agent.capture.frames import fetch_snapshot

    url = camera.snapshot_uri
    if url is None:
        return None
    try:
        check_media_uri(url, camera.xaddr, _media_hosts(login), "snapshot")
        return fetch_snapshot(url, login, timeout_s, MAX_SNAPSHOT_BYTES)
    except CameraError as error:
        log.info("snapshot_failed", camera_id=camera.id, code=error.code)
        return None


def sub_stream_frame(camera: Camera, login: CameraLogin | None, timeout_s: float) -> Any:
    """One decoded (BGR) frame of the camera's smallest RTSP stream (at most 16 Mpx)."""
    from agent.capture.frames import grab_rtsp_frame

    rtsp = camera.sub_stream_uri
    if rtsp is None:
        raise FrameUnavailable(f"camera {camera.id} offers no snapshot or stream")
    check_media_uri(rtsp, camera.xaddr, _media_hosts(login), "stream")
    try:
        return grab_rtsp_frame(rtsp, timeout_s, login=login)
    except ProcessTimeout:
        raise FrameUnavailable(f"no frame from camera {camera.id} in {timeout_s:g} s") from None


def acquire_jpeg(camera: Camera, login: CameraLogin | None, timeout_s: float) -> bytes:
    """A JPEG of the camera now: its snapshot (a JPEG of at most 16 Mpx, checked from its
    header), else a sub-stream frame encoded here."""
    body = try_snapshot(camera, login, timeout_s)
    if body is not None:
        try:
            check_image(body, ("jpeg",))
        except CameraError as error:
            log.info("snapshot_unusable", camera_id=camera.id, code=error.code)
        else:
            return body
    frame = sub_stream_frame(camera, login, timeout_s)
    import cv2

    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise FrameUnavailable("could not encode the frame as JPEG")
    return bytes(encoded)


def _media_hosts(login: CameraLogin | None) -> frozenset[str]:
    return login.media_hosts if login is not None else frozenset()
