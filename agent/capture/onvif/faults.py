"""What went wrong with a camera, in the words of :mod:`agent.errors`.

Every exception requests, lxml or zeep raise while talking to a camera becomes one
per-camera error with a plain message (no password, no raw dump).
"""

from __future__ import annotations

from typing import Any

from agent.errors import (
    CameraAuthFailed,
    CameraBadResponse,
    CameraClockSkew,
    CameraError,
    CameraNotOnvif,
    CameraTimeout,
    CameraUnreachable,
)
from agent.scrub import scrub


def fault_text(fault: Any) -> str:
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
        return CameraUnreachable(f"{where} cannot be reached ({short_text(error)})")
    if isinstance(error, Fault):
        text = fault_text(error).lower()
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
        return CameraBadResponse(f"{where} answered {operation} with a fault: {short_text(error)}")
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
    detail = f"{type(error).__name__}: {short_text(error)}"
    return CameraBadResponse(f"{where} gave an unusable answer to {operation} ({detail})")


def short_text(error: BaseException, limit: int = 160) -> str:
    text = scrub(" ".join(str(error).split()))
    return text if len(text) <= limit else text[:limit] + "..."
