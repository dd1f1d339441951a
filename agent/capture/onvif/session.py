"""One camera's SOAP session: skew-corrected WS-Security, hard timeouts, one deadline.

``onvif.ONVIFCamera``'s ``adjust_time`` writes ``Created`` as ``...+00:00`` (Hikvision
answers NotAuthorized) and reads the camera clock with an authenticated client; here the
clock is read first, unauthenticated, and ``Created`` is corrected by the skew and written
as ``...Z``. It also ignores the device-service path from discovery (hard-codes
``/onvif/device_service``) and calls GetCapabilities and CreatePullPointSubscription at
construction; a session here calls only what it is asked to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from agent.capture.bounded_http import MAX_SOAP_BYTES, CallBudget, bounded_call, bounded_session
from agent.capture.onvif.faults import classify_error
from agent.capture.onvif.parse import (
    as_str,
    get,
    http_date,
    media_from_services,
    parse_camera_clock,
    repair_service_url,
    well_formed,
    where,
)
from agent.capture.onvif.wsdl import DEVICE_BINDING, MEDIA_BINDING, wsdl_document, zeep_settings
from agent.errors import CameraBadResponse, CameraNotOnvif, CameraTimeout
from agent.trust import check_media_uri

DEFAULT_TIMEOUT_S = 8.0  # one whole camera
DEFAULT_REQUEST_TIMEOUT_S = 4.0  # one SOAP request


def _token_class() -> type:
    from zeep.wsse.username import UsernameToken

    class SkewCorrectedUsernameToken(UsernameToken):
        """WS-UsernameToken digest whose ``Created`` is the *camera's* time, in Zulu form."""

        def __init__(self, username: str, password: str, skew_s: float) -> None:
            super().__init__(  # type: ignore[no-untyped-call]
                username, password, use_digest=True, zulu_timestamp=True
            )
            self.skew_s = skew_s

        def apply(self, envelope: Any, headers: Any) -> Any:
            self.created = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.skew_s)
            return super().apply(envelope, headers)  # type: ignore[no-untyped-call]

    return SkewCorrectedUsernameToken


_token_classes: list[type] = []


def make_token(username: str, password: str, skew_s: float) -> Any:
    """A WS-UsernameToken (digest, Zulu ``Created``) for a camera whose clock is off by
    ``skew_s`` seconds (camera minus us)."""
    if not _token_classes:
        _token_classes.append(_token_class())
    return _token_classes[0](username, password, skew_s)


class CameraSession:
    """Talks to one camera: shared parsed WSDLs, its own HTTP session and deadline."""

    def __init__(
        self,
        xaddr: str,
        username: str,
        password: str | None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        clock_skew_s: float | None = None,
        media_hosts: frozenset[str] = frozenset(),
    ) -> None:
        from requests.auth import HTTPDigestAuth
        from zeep import Transport

        self.xaddr = xaddr
        self.where = where(xaddr)
        self.username = username
        self._password = password
        self.deadline = time.monotonic() + timeout_s
        self.request_timeout_s = request_timeout_s
        self.clock_skew_s = clock_skew_s
        self.media_hosts = media_hosts
        session = bounded_session()
        if password is not None:
            # Some firmwares want HTTP Digest on top of (or instead of) WS-Security.
            session.auth = HTTPDigestAuth(username, password)
        self._session = session
        self.transport: Any = Transport(  # type: ignore[no-untyped-call]
            session=session, operation_timeout=request_timeout_s, timeout=request_timeout_s
        )
        self._device: Any = None
        self._media: Any = None
        self.media_xaddr: str | None = None
        self.services_from: str | None = None  # "GetServices" | "GetCapabilities"

    def close(self) -> None:
        self._session.close()

    @property
    def has_password(self) -> bool:
        return self._password is not None

    def log_in_as(self, username: str, password: str) -> None:
        """Use other credentials from the next call on (the clients carry the token)."""
        from requests.auth import HTTPDigestAuth

        self.username = username
        self._password = password
        self._session.auth = HTTPDigestAuth(username, password)
        self._device = self._media = None

    def _client(self, document_name: str, authenticated: bool) -> Any:
        from zeep import Client

        wsse = None
        if authenticated and self._password is not None:
            wsse = make_token(self.username, self._password, self.clock_skew_s or 0.0)
        return Client(  # type: ignore[no-untyped-call]
            wsdl=wsdl_document(document_name),
            wsse=wsse,
            transport=self.transport,
            settings=zeep_settings(),
        )

    def _budget(self, operation: str) -> CallBudget:
        """This call's bounds: the request timeout, within what is left of the camera's."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0.05:
            raise CameraTimeout(
                f"{self.where} did not finish the inventory in time (stopped before {operation})"
            )
        timeout = min(self.request_timeout_s, remaining)
        self.transport.operation_timeout = timeout
        self.transport.load_timeout = timeout
        return CallBudget(timeout, MAX_SOAP_BYTES)

    def _bounded(self, operation: str, function: Callable[[], Any]) -> Any:
        """``function()`` (one SOAP exchange) within one deadline and MAX_SOAP_BYTES,
        however slowly or hugely the device answers; raises the classified CameraError."""
        budget = self._budget(operation)
        try:
            with bounded_call(budget):
                return function()
        except Exception as error:
            if budget.too_large:
                raise CameraBadResponse(
                    f"{self.where} answered {operation} with more than {MAX_SOAP_BYTES // 1024} KiB"
                ) from None
            if budget.timed_out():
                raise CameraTimeout(
                    f"{self.where} did not finish answering {operation} within "
                    f"{budget.timeout_s:g} s"
                ) from None
            raise classify_error(error, operation, self.where) from None

    def call(self, service: str, operation: str, **kwargs: Any) -> Any:
        """One authenticated SOAP call; raises the classified CameraError."""
        proxy = self.device if service == "device" else self.media
        return self._bounded(operation, lambda: getattr(proxy, operation)(**kwargs))

    def call_anonymously(self, operation: str) -> Any:
        """One device-service call with no credentials at all (no token, no HTTP auth)."""
        service = self._client("devicemgmt.wsdl", False).create_service(DEVICE_BINDING, self.xaddr)
        auth, self._session.auth = self._session.auth, None
        try:
            return self._bounded(operation, getattr(service, operation))
        finally:
            self._session.auth = auth

    @property
    def device(self) -> Any:
        if self._device is None:
            self._device = self._client("devicemgmt.wsdl", True).create_service(
                DEVICE_BINDING, self.xaddr
            )
        return self._device

    @property
    def media(self) -> Any:
        if self._media is None:
            if self.media_xaddr is None:
                raise CameraNotOnvif(f"{self.where} announces no media service")
            self._media = self._client("media.wsdl", True).create_service(
                MEDIA_BINDING, self.media_xaddr
            )
        return self._media

    def read_clock(self) -> float | None:
        """GetSystemDateAndTime without authentication; sets and returns the clock skew.

        Raises for an unreachable/hanging/non-ONVIF camera. A camera that wants
        authentication even for this gets its skew from the HTTP Date header, if any.
        """
        client = self._client("devicemgmt.wsdl", False)
        service = client.create_service(DEVICE_BINDING, self.xaddr)
        sent = time.time()

        def ask() -> Any:
            with client.settings(raw_response=True):
                return service.GetSystemDateAndTime()

        response = self._bounded("GetSystemDateAndTime", ask)
        received = time.time()
        local_now = dt.datetime.fromtimestamp((sent + received) / 2, dt.UTC)
        content = response.content or b""
        content_type = response.headers.get("Content-Type", "").lower()
        if response.status_code in (404, 405) or "html" in content_type:
            raise CameraNotOnvif(
                f"{self.where} is a web server but not an ONVIF device "
                f"service (HTTP {response.status_code})"
            )
        camera_time = parse_camera_clock(content) if response.status_code == 200 else None
        if (
            response.status_code == 200
            and camera_time is None
            and (b"Envelope" not in content or not well_formed(content))
        ):
            raise CameraBadResponse(f"{self.where} answered GetSystemDateAndTime with broken XML")
        if camera_time is None:
            camera_time = http_date(response.headers.get("Date"))
            if camera_time is not None:
                # HTTP dates have 1 s resolution; good enough for a 5 s window.
                local_now = dt.datetime.fromtimestamp(received, dt.UTC).replace(microsecond=0)
        if camera_time is None:
            self.clock_skew_s = None
            return None
        self.clock_skew_s = round((camera_time - local_now).total_seconds(), 1)
        return self.clock_skew_s


def find_media_service(session: CameraSession) -> str:
    """Where the camera's media service lives: GetServices, else GetCapabilities (Dahua
    answers GetServices with a Fault). Sets ``session.media_xaddr`` (repaired) and
    ``session.services_from``; raises CameraNotOnvif when the camera names none."""
    media_xaddr = None
    session.services_from = "GetServices"
    with contextlib.suppress(CameraBadResponse, CameraNotOnvif):
        media_xaddr = media_from_services(
            session.call("device", "GetServices", IncludeCapability=False)
        )
    if media_xaddr is None:
        session.services_from = "GetCapabilities"
        capabilities = session.call("device", "GetCapabilities", Category="Media")
        media_xaddr = as_str(get(capabilities, "Media", "XAddr"))
    session.media_xaddr = repair_service_url(media_xaddr, session.xaddr)
    if session.media_xaddr is None:
        raise CameraNotOnvif(f"{session.where} has no media service (not a video camera?)")
    # The media service gets the same login: only on the camera's host (or its media_hosts).
    check_media_uri(session.media_xaddr, session.xaddr, session.media_hosts, "media service")
    return session.media_xaddr
