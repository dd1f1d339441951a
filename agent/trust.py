"""The credential trust model of docs/security.md, as pure decisions (the one place).

Trust on enrolment: the box trusts a camera's *host* — the address that answered
discovery, a static entry or a scanned address, where the camera was then inventoried —
and nothing a device says about other hosts. A camera password therefore goes only:

- during discovery, to the address that answered: XAddrs naming another host are dropped
  (:func:`xaddr_from_sender`), a Bye counts only from the camera's own address;
- for a known camera, to the host its record holds: its stream, snapshot and media URIs
  must be there or in its ``cameras.enrolled[].media_hosts`` (:func:`check_media_uri`,
  applied to every record by :func:`trusted_camera`), else they are reported
  (``untrusted_host``) and not followed;
- as HTTP Basic over plain HTTP only when ``cameras.enrolled[].allow_basic_http`` says so
  (:func:`basic_auth_allowed`); otherwise Digest, or the RTSP sub-stream;
- a camera's *own* login (``camera-password.<id>``, an own username) only to the host it
  is bound to (:func:`own_login_allowed`): a device elsewhere that claims its MAC, serial
  or endpoint gets none of it, and not its id, until it is re-found at a static address
  (``cameras.static``, typed by a person).

Every ffmpeg input is an ``rtsp://`` URL read over :data:`FFMPEG_INPUT_PROTOCOLS` only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import urlsplit

from agent.errors import CameraError, CameraUnsupportedUri, CameraUntrustedHost
from agent.model import Camera, CameraLogin

# ffmpeg's -protocol_whitelist for camera input: RTSP is a demuxer that opens its own TCP
# connection (we always ask for RTSP over TCP), so a stream URI can never make ffmpeg read
# a file, fetch over HTTP or follow any other protocol.
FFMPEG_INPUT_PROTOCOLS = "tcp"

_SCHEMES = {
    "stream": ("rtsp",),
    "snapshot": ("http", "https"),
    "media service": ("http", "https"),
}


def host_of(url: str) -> str:
    """The host of a URL, lower case, without brackets ("" when there is none)."""
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def same_host(first: str, second: str) -> bool:
    """Whether two host strings name the same host (IP addresses compared as addresses;
    names only by their text: a name is never taken to be an address)."""
    a, b = first.strip().strip("[]").lower(), second.strip().strip("[]").lower()
    if not a or not b:
        return False
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def xaddr_from_sender(xaddr: str, source: str) -> bool:
    """A device-service URL from a WS-Discovery datagram is used only when it is on the
    address the datagram came from: a device cannot send the box (and its password) to
    another host."""
    return same_host(host_of(xaddr), source)


def check_media_uri(uri: str, device_xaddr: str, media_hosts: Iterable[str], what: str) -> str:
    """``uri`` itself when the box may follow it with the camera's login; raises
    CameraUnsupportedUri (a scheme other than rtsp:// for a stream, http(s):// otherwise)
    or CameraUntrustedHost (neither the camera's host nor one of its ``media_hosts``).
    ``what`` is ``stream``, ``snapshot`` or ``media service``."""
    device_host = host_of(device_xaddr)
    schemes = _SCHEMES[what]
    try:
        parts = urlsplit(uri.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        raise CameraUnsupportedUri(
            f"camera at {device_host} gave an unreadable {what} URI; not followed"
        ) from None
    if parts.scheme.lower() not in schemes:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        raise CameraUnsupportedUri(
            f"camera at {device_host} gave a {what} URI of scheme "
            f"{parts.scheme.lower() or '(none)'}:, not {wanted}; not followed"
        )
    if same_host(host, device_host) or any(same_host(host, other) for other in media_hosts):
        return uri
    raise CameraUntrustedHost(
        f"camera at {device_host} points its {what} at {host or '(no host)'}, another host; "
        "not followed (if that host is the camera's NVR or second network card, list it in "
        "cameras.enrolled[].media_hosts)"
    )


def trusted_camera(camera: Camera, login: CameraLogin | None) -> Camera:
    """``camera`` without the URIs its login may not follow; the first refusal becomes its
    error unless it has one already. Applied to every record the box keeps, so streams,
    snapshots and encoder settings only ever see URIs on trusted hosts."""
    refused: list[CameraError] = []

    def keep(uri: str | None, what: str) -> str | None:
        if uri is None:
            return None
        try:
            return check_media_uri(
                uri, camera.xaddr, login.media_hosts if login else frozenset(), what
            )
        except CameraError as error:
            refused.append(error)
            return None

    profiles = tuple(
        replace(
            profile,
            rtsp_uri=keep(profile.rtsp_uri, "stream"),
            snapshot_uri=keep(profile.snapshot_uri, "snapshot"),
        )
        for profile in camera.profiles
    )
    media_xaddr = keep(camera.media_xaddr, "media service")
    if not refused:
        return camera
    return replace(
        camera,
        profiles=profiles,
        media_xaddr=media_xaddr,
        error=camera.error or refused[0].info(),
    )


def basic_auth_allowed(url: str, login: CameraLogin | None) -> bool:
    """HTTP Basic sends the password readable: over TLS, or where the config allows it."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return False
    return scheme == "https" or (login is not None and login.allow_basic_http)


def own_login_allowed(
    camera_id: str, device_host: str, known: Iterable[Camera], *, static: bool = False
) -> bool:
    """Whether the login of camera ``camera_id`` may go to the device at ``device_host``.

    Yes for a static address (typed by a person), for an id the box has never bound to a
    host (first contact: trust on enrolment), and at the host the camera's record holds;
    no for any other host, whatever the device claims to be.
    """
    if static:
        return True
    for camera in known:
        if camera.id == camera_id:
            return same_host(host_of(camera.xaddr), device_host)
    return True
