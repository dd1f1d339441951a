"""Pure readers of what cameras answer: clocks, service and stream URLs, profiles.

zeep hands back objects or dicts depending on the WSDL and the camera's quirks; ``get``
reads a path through either, so nothing here raises on a missing field.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agent.capture.onvif.wsdl import NS_MEDIA
from agent.model import MediaProfile
from agent.scrub import strip_userinfo


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


def well_formed(content: bytes) -> bool:
    from lxml import etree

    try:
        etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    return True


def where(xaddr: str) -> str:
    parts = urlsplit(xaddr)
    return f"camera at {parts.hostname}" + (f":{parts.port}" if parts.port else "")


def get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def as_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def pick_mac(interfaces: Any) -> str | None:
    for interface in interfaces or []:
        if get(interface, "Enabled") is False:
            continue
        mac = as_str(get(interface, "Info", "HwAddress"))
        if mac:
            return mac
    return None


def media_from_services(services: Any) -> str | None:
    for service in services or []:
        if as_str(get(service, "Namespace")) == NS_MEDIA:
            return as_str(get(service, "XAddr"))
    return None


def profile_of(raw: Any) -> MediaProfile | None:
    token = as_str(get(raw, "token"))
    encoder = get(raw, "VideoEncoderConfiguration")
    if token is None or encoder is None:
        return None  # audio-only or metadata profile: nothing to stream or judge
    fps = get(encoder, "RateControl", "FrameRateLimit")
    return MediaProfile(
        token=token,
        name=as_str(get(raw, "Name")),
        encoding=as_str(get(encoder, "Encoding")),
        width=as_int(get(encoder, "Resolution", "Width")),
        height=as_int(get(encoder, "Resolution", "Height")),
        fps=None if fps is None else float(fps),
        bitrate_kbps=as_int(get(encoder, "RateControl", "BitrateLimit")),
        gop=as_int(get(encoder, "H264", "GovLength")) or as_int(get(encoder, "MPEG4", "GovLength")),
        encoder_token=as_str(get(encoder, "token")),
    )
