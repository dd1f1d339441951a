"""Inventory of one camera: clock, login (with one retry), identity, media profiles.

Every camera gets hard timeouts (each request, and the whole camera), and failures become
the per-camera errors of :mod:`agent.errors` with a plain message. Nothing here raises for
one bad camera when inventorying many.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog

from agent.capture.onvif.faults import classify_error
from agent.capture.onvif.parse import as_str, get, pick_mac, profile_of, repair_service_url
from agent.capture.onvif.session import (
    DEFAULT_REQUEST_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    CameraSession,
    find_media_service,
)
from agent.capture.onvif.wsdl import warm_up
from agent.errors import (
    CameraAuthFailed,
    CameraBadResponse,
    CameraClockSkew,
    CameraError,
    CameraNotOnvif,
)
from agent.model import MediaProfile

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DeviceFacts:
    """Everything one camera told us. ``error`` set means the inventory stopped there."""

    xaddr: str
    clock_skew_s: float | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    hardware_id: str | None = None
    mac: str | None = None
    media_xaddr: str | None = None
    services_from: str | None = None  # "GetServices" | "GetCapabilities"
    profiles: tuple[MediaProfile, ...] = ()
    error: CameraError | None = None
    elapsed_s: float = 0.0
    login_origin: str | None = None  # set when the retry login (:class:`FallbackLogin`) got in


@dataclass(frozen=True)
class AnonymousIdentity:
    """What a camera tells about itself without a login.

    ONVIF puts GetDeviceInformation and GetNetworkInterfaces in the READ_SYSTEM access
    class (login required), so most cameras tell nothing; some firmwares answer them
    anonymously.
    """

    serial: str | None = None
    mac: str | None = None


@dataclass(frozen=True)
class FallbackLogin:
    """Credentials to try once more after the first ones were refused."""

    username: str
    password: str
    origin: str  # where they come from, for messages and logs (never the password)


RetryLogin = Callable[[AnonymousIdentity], FallbackLogin | None]
"""Given what the camera tells without a login, other credentials to try (or None)."""


def inventory_device(
    xaddr: str,
    username: str,
    password: str | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    retry_login: RetryLogin | None = None,
    media_hosts: frozenset[str] = frozenset(),
) -> DeviceFacts:
    """Everything we need from one camera. Never raises: the error is in the result.

    When the password is refused (or there is none), ``retry_login`` may name other
    credentials from what the camera tells without a login; they are tried once, within
    the same ``timeout_s``. The login goes to ``xaddr``'s host only, and to a media
    service on one of ``media_hosts`` (the camera's, from its enrolment).
    """
    warm_up()  # the one-time WSDL parse is not this camera's time
    started = time.monotonic()
    facts = DeviceFacts(xaddr=xaddr)
    session = CameraSession(
        xaddr, username, password, timeout_s, request_timeout_s, media_hosts=media_hosts
    )
    try:
        facts = _inventory(session, facts, retry_login)
    except CameraError as error:
        facts = replace(facts, clock_skew_s=session.clock_skew_s, error=error)
    except Exception as error:  # a zeep surprise must not take the whole discover down
        facts = replace(
            facts,
            clock_skew_s=session.clock_skew_s,
            error=classify_error(error, "inventory", session.where),
        )
    finally:
        session.close()
    facts = replace(facts, elapsed_s=round(time.monotonic() - started, 3))
    if facts.error is not None:
        log.info(
            "camera_inventory_failed",
            xaddr=xaddr,
            code=facts.error.code,
            reason=facts.error.message,
        )
    return facts


def _log_in(session: CameraSession, retry_login: RetryLogin | None) -> tuple[Any, str | None]:
    """GetDeviceInformation, the first call that needs the password; once more with the
    credentials ``retry_login`` names when the first ones are refused or missing.
    Returns the answer and the retry's origin (None when the first login worked)."""
    refused: CameraAuthFailed
    if session.has_password:
        try:
            return session.call("device", "GetDeviceInformation"), None
        except CameraAuthFailed as error:
            refused = error
    else:
        refused = CameraAuthFailed(
            f"{session.where}: no camera password is configured "
            "(credentials directory file camera-password)"
        )
    login = None if retry_login is None else retry_login(_anonymous_identity(session))
    if login is None:
        raise refused
    log.info("camera_login_retry", where=session.where, origin=login.origin)
    session.log_in_as(login.username, login.password)
    try:
        return session.call("device", "GetDeviceInformation"), login.origin
    except CameraAuthFailed:
        raise CameraAuthFailed(
            f"{session.where} rejected the username or password, and then its own "
            f"({login.origin}) too"
        ) from None


def _anonymous_identity(session: CameraSession) -> AnonymousIdentity:
    """Serial and MAC, from a camera that answers without a login (most do not)."""
    try:
        info = session.call_anonymously("GetDeviceInformation")
    except CameraError:
        return AnonymousIdentity()
    mac = None
    with contextlib.suppress(CameraError):
        mac = pick_mac(session.call_anonymously("GetNetworkInterfaces"))
    return AnonymousIdentity(serial=as_str(get(info, "SerialNumber")), mac=mac)


def _inventory(
    session: CameraSession, facts: DeviceFacts, retry_login: RetryLogin | None = None
) -> DeviceFacts:
    skew = session.read_clock()
    facts = replace(facts, clock_skew_s=skew)
    try:
        info, origin = _log_in(session, retry_login)
    except CameraAuthFailed as error:
        if skew is None and session.has_password:
            raise CameraClockSkew(
                f"{session.where} rejected the login and does not tell its time: the "
                "password is wrong or the camera clock is off (set NTP on the camera)"
            ) from error
        raise
    facts = replace(
        facts,
        login_origin=origin,
        manufacturer=as_str(get(info, "Manufacturer")),
        model=as_str(get(info, "Model")),
        firmware=as_str(get(info, "FirmwareVersion")),
        serial=as_str(get(info, "SerialNumber")),
        hardware_id=as_str(get(info, "HardwareId")),
    )
    try:
        facts = replace(facts, mac=pick_mac(session.call("device", "GetNetworkInterfaces")))
    except (CameraBadResponse, CameraNotOnvif, CameraAuthFailed) as error:
        # Some firmwares restrict network settings to admins; the MAC is optional.
        log.debug("camera_mac_unavailable", where=session.where, reason=error.message)

    find_media_service(session)
    facts = replace(facts, media_xaddr=session.media_xaddr, services_from=session.services_from)

    profiles = []
    for raw in session.call("media", "GetProfiles") or []:
        profile = profile_of(raw)
        if profile is None:
            continue
        stream = session.call(
            "media",
            "GetStreamUri",
            StreamSetup={"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
            ProfileToken=profile.token,
        )
        rtsp_uri = repair_service_url(as_str(get(stream, "Uri")), session.xaddr)
        snapshot_uri = None
        try:
            snapshot = session.call("media", "GetSnapshotUri", ProfileToken=profile.token)
            snapshot_uri = repair_service_url(as_str(get(snapshot, "Uri")), session.xaddr)
        except (CameraBadResponse, CameraNotOnvif):
            pass  # many cameras have no snapshot; frames then come from RTSP
        profiles.append(replace(profile, rtsp_uri=rtsp_uri, snapshot_uri=snapshot_uri))
    return replace(facts, profiles=tuple(profiles))
