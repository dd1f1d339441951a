"""ONVIF inventory over zeep, with the WSDLs shipped by onvif-zeep.

Why not ``onvif.ONVIFCamera`` itself (onvif-zeep 0.2.12):
- it parses the WSDL files again for every camera and every service (hundreds of ms per
  camera, seconds for a kitchen); here each WSDL is parsed once per process into a
  ``zeep.wsdl.Document`` shared by every camera's light ``zeep.Client``;
- its ``adjust_time`` writes ``Created`` as ``...+00:00`` (Hikvision answers NotAuthorized)
  and reads the camera clock with an authenticated client; here the clock is read first,
  unauthenticated, and ``Created`` is corrected by the skew and written as ``...Z``;
- it ignores the device-service path from discovery (hard-codes ``/onvif/device_service``),
  calls GetCapabilities and CreatePullPointSubscription at construction, and its import
  calls ``logging.basicConfig``. We import only the WSDL folder from it.

Every camera gets hard timeouts (each request, and the whole camera), and failures become
the per-camera errors of :mod:`agent.errors` with a plain message. Nothing here raises for
one bad camera when inventorying many.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import email.utils
import importlib.util
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

from agent.errors import (
    CameraAuthFailed,
    CameraBadResponse,
    CameraClockSkew,
    CameraError,
    CameraNotOnvif,
    CameraTimeout,
    CameraUnreachable,
)
from agent.model import MediaProfile
from agent.scrub import scrub, strip_userinfo

log = structlog.get_logger(__name__)

NS_DEVICE = "http://www.onvif.org/ver10/device/wsdl"
NS_MEDIA = "http://www.onvif.org/ver10/media/wsdl"
DEVICE_BINDING = f"{{{NS_DEVICE}}}DeviceBinding"
MEDIA_BINDING = f"{{{NS_MEDIA}}}MediaBinding"

DEFAULT_TIMEOUT_S = 8.0  # one whole camera
DEFAULT_REQUEST_TIMEOUT_S = 4.0  # one SOAP request


# --- WSDLs, parsed once per process --------------------------------------------------------


def wsdl_dir() -> Path:
    """onvif-zeep's WSDL folder (site-packages/wsdl), found without importing ``onvif``."""
    spec = importlib.util.find_spec("onvif")
    if spec is None or spec.origin is None:
        raise RuntimeError("onvif-zeep is not installed (its WSDL files are needed)")
    return Path(spec.origin).parent.parent / "wsdl"


_documents: dict[str, Any] = {}
_documents_lock = threading.Lock()


def _settings() -> Any:
    from zeep import Settings

    return Settings(strict=False, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True)


def wsdl_document(name: str) -> Any:
    """The parsed ``zeep.wsdl.Document`` for ``devicemgmt.wsdl``/``media.wsdl`` (cached)."""
    with _documents_lock:
        document = _documents.get(name)
        if document is None:
            from zeep import Transport
            from zeep.wsdl import Document

            transport: Any = Transport()  # type: ignore[no-untyped-call]
            document = Document(str(wsdl_dir() / name), transport, settings=_settings())
            _documents[name] = document
        return document


def warm_up() -> None:
    """Parse the WSDLs now (before the first camera's timeout starts ticking)."""
    wsdl_document("devicemgmt.wsdl")
    wsdl_document("media.wsdl")


# --- pure helpers ----------------------------------------------------------------------------


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def parse_camera_clock(xml: bytes) -> dt.datetime | None:
    """The camera's UTC time from a GetSystemDateAndTime response, tolerantly.

    Uses UTCDateTime (any element order, any prefix — Hikvision sends Date before Time);
    falls back to LocalDateTime with the POSIX TZ string (``CST-8`` means UTC+8).
    """
    from lxml import etree

    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(xml, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None:
        return None

    def read(container: Any) -> dt.datetime | None:
        values: dict[str, int] = {}
        for element in container.iter():
            name = _local(element.tag)
            if name in ("year", "month", "day", "hour", "minute", "second"):
                try:
                    values[name] = int((element.text or "").strip())
                except ValueError:
                    return None
        try:
            return dt.datetime(
                values["year"],
                values["month"],
                values["day"],
                values.get("hour", 0),
                values.get("minute", 0),
                min(values.get("second", 0), 59),
                tzinfo=dt.UTC,
            )
        except (KeyError, ValueError):
            return None

    by_name = {_local(el.tag): el for el in root.iter()}
    if "utcdatetime" in by_name:
        moment = read(by_name["utcdatetime"])
        if moment is not None:
            return moment
    if "localdatetime" in by_name:
        local = read(by_name["localdatetime"])
        tz = by_name.get("tz")
        offset = posix_tz_offset((tz.text or "") if tz is not None else "")
        if local is not None and offset is not None:
            return local + offset
    return None


_POSIX_TZ = re.compile(r"^[A-Za-z<>+\-0-9]*?[A-Za-z>]([+-]?)(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?")


def posix_tz_offset(tz: str) -> dt.timedelta | None:
    """POSIX TZ offset to add to local time to get UTC: ``CST-8`` → -8 h; ``UTC0`` → 0."""
    match = _POSIX_TZ.match(tz.strip())
    if not match:
        return dt.timedelta(0) if tz.strip().upper() in ("UTC", "GMT", "Z") else None
    sign = -1 if match.group(1) == "-" else 1
    hours, minutes, seconds = (int(g) if g else 0 for g in match.group(2, 3, 4))
    return sign * dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def http_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def repair_service_url(url: str | None, device_xaddr: str) -> str | None:
    """A service/stream URL a camera gave us, credentials stripped and 0.0.0.0 repaired."""
    if not url:
        return None
    clean = strip_userinfo(url.strip())
    try:
        parts = urlsplit(clean)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    device_host = urlsplit(device_xaddr).hostname or host
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    device_loopback = device_host in ("localhost", "::1") or device_host.startswith("127.")
    if host in ("", "0.0.0.0") or (loopback and not device_loopback):  # noqa: S104 - compared
        netloc = device_host if port is None else f"{device_host}:{port}"
        clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean


# --- results ---------------------------------------------------------------------------------


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


# --- errors ----------------------------------------------------------------------------------


def _fault_text(fault: Any) -> str:
    parts = [str(getattr(fault, "message", "") or "")]
    code = getattr(fault, "code", None)
    if code:
        parts.append(str(code))
    for subcode in getattr(fault, "subcodes", None) or []:
        parts.append(str(getattr(subcode, "localname", subcode)))
    return " ".join(parts)


def classify_error(error: BaseException, operation: str, where: str) -> CameraError:
    """The per-camera error for an exception raised while talking to a camera."""
    import requests
    from lxml.etree import XMLSyntaxError
    from zeep.exceptions import Fault, TransportError, XMLParseError

    if isinstance(error, CameraError):
        return error
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return CameraUnreachable(f"{where} did not accept a connection in time")
    if isinstance(error, requests.exceptions.Timeout):
        return CameraTimeout(
            f"{where} accepted the connection but did not answer {operation} in time"
        )
    if isinstance(error, requests.exceptions.ConnectionError):
        text = str(error).lower()
        if "refused" in text:
            return CameraUnreachable(f"{where} refused the connection (nothing listening)")
        if "timed out" in text:
            return CameraTimeout(f"{where} did not answer {operation} in time")
        return CameraUnreachable(f"{where} cannot be reached ({_short(error)})")
    if isinstance(error, Fault):
        text = _fault_text(error).lower()
        if "expired" in text or "timestamp" in text or "clock" in text:
            return CameraClockSkew(
                f"{where} rejected the request time; set the camera's clock (NTP)"
            )
        if (
            "notauthorized" in text
            or "not authorized" in text
            or "authority" in text
            or "authentication" in text
            or "unauthorized" in text
        ):
            return CameraAuthFailed(f"{where} rejected the username or password ({operation})")
        if "actionnotsupported" in text and operation == "GetSystemDateAndTime":
            return CameraNotOnvif(f"{where} answers SOAP but not the ONVIF device service")
        return CameraBadResponse(f"{where} answered {operation} with a fault: {_short(error)}")
    if isinstance(error, TransportError):
        status = getattr(error, "status_code", 0) or 0
        if status in (401, 403):
            return CameraAuthFailed(
                f"{where} rejected the username or password (HTTP {status} on {operation})"
            )
        content = getattr(error, "content", b"") or b""
        looks_html = content.lstrip()[:15].lower().startswith((b"<!doctype", b"<html"))
        if status in (404, 405) or looks_html:
            return CameraNotOnvif(
                f"{where} is a web server but not an ONVIF device service (HTTP {status})"
            )
        if "invalid xml" in str(error).lower():
            return CameraBadResponse(f"{where} answered {operation} with broken XML")
        return CameraBadResponse(f"{where} answered {operation} with HTTP {status}")
    if isinstance(error, XMLSyntaxError | XMLParseError):
        return CameraBadResponse(f"{where} answered {operation} with broken XML")
    return CameraBadResponse(
        f"{where} gave an unusable answer to {operation} ({type(error).__name__}: {_short(error)})"
    )


def _short(error: BaseException, limit: int = 160) -> str:
    text = scrub(" ".join(str(error).split()))
    return text if len(text) <= limit else text[:limit] + "..."


# --- one camera --------------------------------------------------------------------------------


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
    ) -> None:
        import requests
        from requests.auth import HTTPDigestAuth
        from zeep import Transport

        self.xaddr = xaddr
        self.where = _where(xaddr)
        self.username = username
        self._password = password
        self.deadline = time.monotonic() + timeout_s
        self.request_timeout_s = request_timeout_s
        self.clock_skew_s = clock_skew_s
        session = requests.Session()
        session.trust_env = False  # never send a camera's traffic through a proxy
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
            settings=_settings(),
        )

    def _arm(self, operation: str) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0.05:
            raise CameraTimeout(
                f"{self.where} did not finish the inventory in time (stopped before {operation})"
            )
        timeout = min(self.request_timeout_s, remaining)
        self.transport.operation_timeout = timeout
        self.transport.load_timeout = timeout

    def call(self, service: str, operation: str, **kwargs: Any) -> Any:
        """One authenticated SOAP call; raises the classified CameraError."""
        proxy = self.device if service == "device" else self.media
        self._arm(operation)
        try:
            return getattr(proxy, operation)(**kwargs)
        except Exception as error:
            raise classify_error(error, operation, self.where) from None

    def call_anonymously(self, operation: str) -> Any:
        """One device-service call with no credentials at all (no token, no HTTP auth)."""
        self._arm(operation)
        service = self._client("devicemgmt.wsdl", False).create_service(DEVICE_BINDING, self.xaddr)
        auth, self._session.auth = self._session.auth, None
        try:
            return getattr(service, operation)()
        except Exception as error:
            raise classify_error(error, operation, self.where) from None
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
        self._arm("GetSystemDateAndTime")
        client = self._client("devicemgmt.wsdl", False)
        service = client.create_service(DEVICE_BINDING, self.xaddr)
        sent = time.time()
        try:
            with client.settings(raw_response=True):
                response = service.GetSystemDateAndTime()
        except Exception as error:
            raise classify_error(error, "GetSystemDateAndTime", self.where) from None
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
            and (b"Envelope" not in content or not _well_formed(content))
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


def _well_formed(content: bytes) -> bool:
    from lxml import etree

    try:
        etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    return True


def _where(xaddr: str) -> str:
    parts = urlsplit(xaddr)
    return f"camera at {parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _pick_mac(interfaces: Any) -> str | None:
    for interface in interfaces or []:
        if _get(interface, "Enabled") is False:
            continue
        mac = _str(_get(interface, "Info", "HwAddress"))
        if mac:
            return mac
    return None


def _media_from_services(services: Any) -> str | None:
    for service in services or []:
        if _str(_get(service, "Namespace")) == NS_MEDIA:
            return _str(_get(service, "XAddr"))
    return None


def _profile(raw: Any) -> MediaProfile | None:
    token = _str(_get(raw, "token"))
    encoder = _get(raw, "VideoEncoderConfiguration")
    if token is None or encoder is None:
        return None  # audio-only or metadata profile: nothing to stream or judge
    fps = _get(encoder, "RateControl", "FrameRateLimit")
    return MediaProfile(
        token=token,
        name=_str(_get(raw, "Name")),
        encoding=_str(_get(encoder, "Encoding")),
        width=_int(_get(encoder, "Resolution", "Width")),
        height=_int(_get(encoder, "Resolution", "Height")),
        fps=None if fps is None else float(fps),
        bitrate_kbps=_int(_get(encoder, "RateControl", "BitrateLimit")),
        gop=_int(_get(encoder, "H264", "GovLength")) or _int(_get(encoder, "MPEG4", "GovLength")),
        encoder_token=_str(_get(encoder, "token")),
    )


def inventory_device(
    xaddr: str,
    username: str,
    password: str | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    retry_login: RetryLogin | None = None,
) -> DeviceFacts:
    """Everything we need from one camera. Never raises: the error is in the result.

    When the password is refused (or there is none), ``retry_login`` may name other
    credentials from what the camera tells without a login; they are tried once, within
    the same ``timeout_s``.
    """
    warm_up()  # the one-time WSDL parse is not this camera's time
    started = time.monotonic()
    facts = DeviceFacts(xaddr=xaddr)
    session = CameraSession(xaddr, username, password, timeout_s, request_timeout_s)
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
        mac = _pick_mac(session.call_anonymously("GetNetworkInterfaces"))
    return AnonymousIdentity(serial=_str(_get(info, "SerialNumber")), mac=mac)


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
        manufacturer=_str(_get(info, "Manufacturer")),
        model=_str(_get(info, "Model")),
        firmware=_str(_get(info, "FirmwareVersion")),
        serial=_str(_get(info, "SerialNumber")),
        hardware_id=_str(_get(info, "HardwareId")),
    )
    try:
        facts = replace(facts, mac=_pick_mac(session.call("device", "GetNetworkInterfaces")))
    except (CameraBadResponse, CameraNotOnvif, CameraAuthFailed) as error:
        # Some firmwares restrict network settings to admins; the MAC is optional.
        log.debug("camera_mac_unavailable", where=session.where, reason=error.message)

    media_xaddr = None
    services_from = "GetServices"
    with contextlib.suppress(CameraBadResponse, CameraNotOnvif):  # Dahua: Fault
        media_xaddr = _media_from_services(
            session.call("device", "GetServices", IncludeCapability=False)
        )
    if media_xaddr is None:
        services_from = "GetCapabilities"
        capabilities = session.call("device", "GetCapabilities", Category="Media")
        media_xaddr = _str(_get(capabilities, "Media", "XAddr"))
    session.media_xaddr = repair_service_url(media_xaddr, session.xaddr)
    facts = replace(facts, media_xaddr=session.media_xaddr, services_from=services_from)
    if session.media_xaddr is None:
        raise CameraNotOnvif(f"{session.where} has no media service (not a video camera?)")

    profiles = []
    for raw in session.call("media", "GetProfiles") or []:
        profile = _profile(raw)
        if profile is None:
            continue
        stream = session.call(
            "media",
            "GetStreamUri",
            StreamSetup={"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
            ProfileToken=profile.token,
        )
        rtsp_uri = repair_service_url(_str(_get(stream, "Uri")), session.xaddr)
        snapshot_uri = None
        try:
            snapshot = session.call("media", "GetSnapshotUri", ProfileToken=profile.token)
            snapshot_uri = repair_service_url(_str(_get(snapshot, "Uri")), session.xaddr)
        except (CameraBadResponse, CameraNotOnvif):
            pass  # many cameras have no snapshot; frames then come from RTSP
        profiles.append(replace(profile, rtsp_uri=rtsp_uri, snapshot_uri=snapshot_uri))
    return replace(facts, profiles=tuple(profiles))


@dataclass(frozen=True)
class InventoryTarget:
    xaddr: str
    username: str
    password: str | None
    key: Any = None  # caller's handle, returned untouched
    retry_login: RetryLogin | None = None  # see inventory_device


@dataclass
class InventoryRun:
    results: list[tuple[InventoryTarget, DeviceFacts]] = field(default_factory=list)
    wall_s: float = 0.0


InventoryJob = tuple[InventoryTarget, concurrent.futures.Future[DeviceFacts]]


class InventoryPool:
    """The one thread pool that logs into cameras.

    A target starts as soon as it is submitted (so a discovery round can hand over each
    camera the moment it answers, while it still listens for others), at most
    ``concurrency`` at a time, each under its own ``timeout_s``. The WSDLs are parsed on
    the pool too, so that also overlaps the listening window.
    """

    def __init__(
        self,
        concurrency: int = 16,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.timeout_s = timeout_s
        self.request_timeout_s = request_timeout_s
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="onvif"
        )
        self._warm = self._executor.submit(warm_up)

    def __enter__(self) -> InventoryPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop queued work; a camera already talking finishes within its own timeout."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, target: InventoryTarget) -> InventoryJob:
        future = self._executor.submit(
            inventory_device,
            target.xaddr,
            target.username,
            target.password,
            self.timeout_s,
            self.request_timeout_s,
            target.retry_login,
        )
        return target, future

    def collect(
        self,
        jobs: Sequence[InventoryJob],
        on_done: Callable[[InventoryTarget, DeviceFacts], None] | None = None,
    ) -> list[tuple[InventoryTarget, DeviceFacts]]:
        """Every job's facts, in the order given; a job that overruns every bound is a
        timeout. ``on_done`` is called from this thread, in completion order."""
        if not jobs:
            return []
        self._warm.result()  # a missing onvif-zeep raises here, not once per camera
        # Queued cameras start late: the bound is one camera's timeout per wave, counted
        # from now (jobs submitted earlier have had a head start).
        waves = -(-len(jobs) // self.concurrency)
        overall = self.timeout_s * waves + 1.0
        results: dict[int, DeviceFacts] = {}
        index_of = {future: index for index, (_, future) in enumerate(jobs)}
        try:
            for future in concurrent.futures.as_completed(index_of, timeout=overall):
                index = index_of[future]
                results[index] = future.result()
                if on_done is not None:
                    on_done(jobs[index][0], results[index])
        except concurrent.futures.TimeoutError:
            pass
        collected = []
        for index, (target, future) in enumerate(jobs):
            facts = results.get(index)
            if facts is None:
                future.cancel()
                facts = DeviceFacts(
                    xaddr=target.xaddr,
                    error=CameraTimeout(
                        f"{_where(target.xaddr)} did not finish the "
                        f"inventory within {self.timeout_s:g} s"
                    ),
                )
                if on_done is not None:
                    on_done(target, facts)
            collected.append((target, facts))
        return collected


def inventory_many(
    targets: Sequence[InventoryTarget],
    concurrency: int = 16,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    on_done: Callable[[InventoryTarget, DeviceFacts], None] | None = None,
) -> InventoryRun:
    """Inventory cameras concurrently; every target gets a result within ``timeout_s``
    (plus a small grace), whatever the cameras do."""
    started = time.monotonic()
    run = InventoryRun()
    if not targets:
        return run
    with InventoryPool(min(concurrency, len(targets)), timeout_s, request_timeout_s) as pool:
        run.results = pool.collect([pool.submit(t) for t in targets], on_done)
    run.wall_s = time.monotonic() - started
    return run


# --- encoder settings (for the streaming side) --------------------------------------------


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
) -> EncoderSettings:
    """Make a profile's video encoder H.264 with a bitrate cap (and optionally fps/GOP).

    Uses Media1 SetVideoEncoderConfiguration (ForcePersistence) and reads the
    configuration back. Media1 has no CBR switch: ``BitrateLimit`` caps the bitrate
    whatever the camera's rate-control mode; ``constant_bitrate`` reports False.
    Raises a CameraError subclass on failure.
    """
    session = CameraSession(xaddr, username, password, timeout_s, clock_skew_s=clock_skew_s)
    try:
        if clock_skew_s is None:
            session.read_clock()
        if media_xaddr is None:
            try:
                media_xaddr = _media_from_services(
                    session.call("device", "GetServices", IncludeCapability=False)
                )
            except (CameraBadResponse, CameraNotOnvif):
                media_xaddr = None
            if media_xaddr is None:
                media_xaddr = _str(
                    _get(
                        session.call("device", "GetCapabilities", Category="Media"),
                        "Media",
                        "XAddr",
                    )
                )
        session.media_xaddr = repair_service_url(media_xaddr, xaddr)
        profiles = session.call("media", "GetProfiles") or []
        profile = next((p for p in profiles if _str(_get(p, "token")) == profile_token), None)
        if profile is None:
            raise CameraBadResponse(f"{session.where} has no profile {profile_token}")
        encoder_token = _str(_get(profile, "VideoEncoderConfiguration", "token"))
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
        result = _profile({"token": profile_token, "VideoEncoderConfiguration": applied})
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
