"""Getting one picture from a camera: an HTTP snapshot or a single RTSP frame.

Both have a hard overall timeout (a camera that trickles bytes, headers included, cannot
hold a worker) and a size bound (bytes, and pixels before any decoding), and neither lets
a password reach a log line, an error message or a host the trust model does not allow.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import structlog

from agent.capture.bounded_http import CallBudget, bounded_call, bounded_session
from agent.errors import (
    CameraAuthFailed,
    CameraInsecureAuth,
    CameraTimeout,
    CameraUnreachable,
    CameraUnsupportedUri,
    FrameUnavailable,
    ProcessTimeout,
    SnapshotTooLarge,
)
from agent.images import MAX_PIXELS, check_image
from agent.model import CameraLogin, with_login
from agent.scrub import scrub, strip_userinfo
from agent.trust import FFMPEG_INPUT_PROTOCOLS, basic_auth_allowed

log = structlog.get_logger(__name__)

DEFAULT_MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


def _where(url: str) -> str:
    parts = urlsplit(strip_userinfo(url))
    return f"{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def fetch_snapshot(
    url: str,
    login: CameraLogin | None,
    timeout_s: float = 5.0,
    max_bytes: int = DEFAULT_MAX_SNAPSHOT_BYTES,
) -> bytes:
    """The body of a camera's snapshot URL (usually a JPEG).

    Answers a Digest challenge; a Basic one only over HTTPS or when the camera's config
    allows Basic over plain HTTP (``allow_basic_http``), since Basic sends the password
    readable. ``timeout_s`` bounds the whole fetch (headers included, however slowly they
    come) and ``max_bytes`` its body. Never follows a redirect. Raises CameraUnreachable,
    CameraTimeout, CameraAuthFailed, CameraInsecureAuth, CameraUnsupportedUri,
    SnapshotTooLarge or FrameUnavailable.
    """
    from requests.auth import HTTPBasicAuth, HTTPDigestAuth

    clean_url = strip_userinfo(url)
    where = _where(url)
    if urlsplit(clean_url).scheme.lower() not in ("http", "https"):
        raise CameraUnsupportedUri(f"snapshot at {where} is not an http(s):// URL")
    deadline = time.monotonic() + timeout_s
    # Headers and the 401 answers count too; the body alone is held to max_bytes below.
    budget = CallBudget(timeout_s, max_bytes + _HEADROOM)
    with bounded_session() as session, bounded_call(budget):
        response = _get(session, clean_url, None, budget, where)
        if response.status_code == 401 and login is not None and login.password is not None:
            challenge = response.headers.get("WWW-Authenticate", "").lower()
            response.close()
            if "digest" in challenge:
                auth: Any = HTTPDigestAuth(login.username, login.password)
            elif basic_auth_allowed(clean_url, login):
                auth = HTTPBasicAuth(login.username, login.password)
            else:
                raise CameraInsecureAuth(
                    f"snapshot at {where} asks for HTTP Basic over plain HTTP, which would "
                    "send the password readable; not answered (cameras.enrolled[]."
                    "allow_basic_http allows it)"
                )
            response = _get(session, clean_url, auth, budget, where)
        with response:
            if response.status_code in (401, 403):
                raise CameraAuthFailed(
                    f"snapshot at {where} rejected the username or "
                    f"password (HTTP {response.status_code})"
                )
            if response.status_code != 200:
                raise FrameUnavailable(f"snapshot at {where} answered HTTP {response.status_code}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise SnapshotTooLarge(
                    f"snapshot at {where} is {int(declared)} bytes, over the {max_bytes} byte limit"
                )
            return _read_bounded(response, deadline, max_bytes, where, timeout_s, budget)


_HEADROOM = 64 * 1024


def _get(session: Any, url: str, auth: Any, budget: CallBudget, where: str) -> Any:
    import requests

    remaining = budget.deadline - time.monotonic()
    if remaining <= 0:
        raise CameraTimeout(f"snapshot at {where} did not arrive in time")
    try:
        return session.get(
            url, auth=auth, stream=True, timeout=(remaining, remaining), allow_redirects=False
        )
    except requests.exceptions.ConnectTimeout:
        raise CameraUnreachable(f"snapshot at {where}: no connection in time") from None
    except requests.exceptions.RequestException as error:
        if budget.too_large:
            raise SnapshotTooLarge(f"snapshot at {where} sent headers of over 64 KiB") from None
        if budget.timed_out() or isinstance(error, requests.exceptions.Timeout):
            raise CameraTimeout(f"snapshot at {where} did not arrive in time") from None
        raise CameraUnreachable(
            f"snapshot at {where} cannot be reached ({scrub(type(error).__name__)})"
        ) from None


def _read_bounded(
    response: Any,
    deadline: float,
    max_bytes: int,
    where: str,
    timeout_s: float,
    budget: CallBudget,
) -> bytes:
    import requests
    import urllib3

    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    # read1 returns whatever has arrived (iter_content would block until a whole chunk is
    # in), so a camera trickling one byte at a time still meets the overall deadline.
    try:
        while True:
            if time.monotonic() > deadline:
                raise CameraTimeout(f"snapshot at {where} took longer than {timeout_s:g} s")
            chunk = raw.read1(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise SnapshotTooLarge(f"snapshot at {where} is over the {max_bytes} byte limit")
            chunks.append(chunk)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError):
        if budget.too_large:
            raise SnapshotTooLarge(
                f"snapshot at {where} is over the {max_bytes} byte limit"
            ) from None
        if budget.timed_out():
            raise CameraTimeout(f"snapshot at {where} took longer than {timeout_s:g} s") from None
        raise CameraTimeout(f"snapshot at {where} stopped mid-transfer") from None
    if not chunks:
        raise FrameUnavailable(f"snapshot at {where} was empty")
    return b"".join(chunks)


def rtsp_frame_argv(rtsp_url: str, timeout_s: float, ffmpeg: str = "ffmpeg") -> list[str]:
    """ffmpeg arguments for one decoded frame as PNG on stdout (pure).

    Only ``rtsp://`` (CameraUnsupportedUri otherwise), read over the protocols of
    :data:`agent.trust.FFMPEG_INPUT_PROTOCOLS` only: a stream URI can never make ffmpeg read
    a local file or fetch anything else. ``-max_pixels`` makes the decoder refuse a frame
    over 16 Mpx before it allocates it. ``-timeout`` (µs) bounds each socket wait; the
    caller bounds the whole run. Only keyframes are decoded (``-skip_frame nokey``) so the
    first frame out is a clean picture, not a grey smear waiting for the next I-frame.
    """
    if not rtsp_url.strip().lower().startswith("rtsp://"):
        raise CameraUnsupportedUri(f"stream at {_where(rtsp_url)} is not an rtsp:// URL")
    socket_timeout_us = max(1, int(timeout_s * 1_000_000))
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        FFMPEG_INPUT_PROTOCOLS,
        "-rtsp_transport",
        "tcp",
        "-timeout",
        str(socket_timeout_us),
        "-max_pixels",
        str(MAX_PIXELS),
        "-skip_frame",
        "nokey",
        "-i",
        rtsp_url,
        "-an",
        "-sn",
        "-dn",
        "-frames:v",
        "1",
        "-f",
        "image2pipe",
        "-vcodec",
        "png",
        "pipe:1",
    ]


def grab_rtsp_frame(
    rtsp_url: str,
    timeout_s: float = 10.0,
    login: CameraLogin | None = None,
    max_bytes: int = 32 * 1024 * 1024,
    ffmpeg: str = "ffmpeg",
) -> Any:
    """One decoded frame (a BGR ``numpy.ndarray``, height x width x 3) from an RTSP URL.

    Runs ffmpeg over RTSP/TCP with a socket timeout and a hard overall deadline (the whole
    process group is killed past it). Raises CameraTimeout or FrameUnavailable; the
    messages never contain the password.
    """
    import cv2
    import numpy as np

    from agent.subproc import run_bounded

    url = with_login(rtsp_url, login)
    where = _where(rtsp_url)
    socket_timeout_s = max(1.0, timeout_s * 0.8)
    argv = rtsp_frame_argv(url, socket_timeout_s, ffmpeg)
    started = time.monotonic()
    try:
        returncode, stdout, stderr = run_bounded(argv, timeout_s, max_stdout_bytes=max_bytes)
    except ProcessTimeout:
        raise CameraTimeout(
            f"no frame from RTSP stream at {where} within {timeout_s:g} s"
        ) from None
    except FileNotFoundError:
        raise FrameUnavailable(f"{ffmpeg} is not installed") from None
    if not stdout:
        detail = scrub(stderr.strip().splitlines()[-1]) if stderr.strip() else f"exit {returncode}"
        lowered = detail.lower()
        # A port such as :40134 in the message must not read as HTTP 401.
        if re.search(r"\b401\b", lowered) or "unauthorized" in lowered:
            raise CameraAuthFailed(f"RTSP stream at {where} rejected the username or password")
        if "connection refused" in lowered or "no route" in lowered:
            raise CameraUnreachable(f"RTSP stream at {where} cannot be reached ({detail})")
        if time.monotonic() - started >= socket_timeout_s * 0.9:
            # ffmpeg gave up on a server that accepted and then said nothing.
            raise CameraTimeout(
                f"no frame from RTSP stream at {where} within {socket_timeout_s:g} s ({detail})"
            )
        raise FrameUnavailable(f"no frame from RTSP stream at {where} ({detail})")
    check_image(stdout, ("png",))  # what ffmpeg was asked for, and no bigger than allowed
    image = cv2.imdecode(np.frombuffer(stdout, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameUnavailable(f"RTSP stream at {where} gave an undecodable frame")
    log.debug("rtsp_frame_grabbed", where=where, width=image.shape[1], height=image.shape[0])
    return image
