"""Removing secrets from anything that leaves the process as text.

RTSP and MQTT URLs carry passwords (``rtsp://user:pass@host``), ingest URLs carry stream
tokens (``?token=...``), and every secret read from the credentials directory is registered
here so that its value is masked wherever it appears, even inside ffmpeg's stderr.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_MIN_SECRET_LENGTH = 3  # masking a 1-2 character value would shred ordinary text

_registered: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None

# A password may hold "/", "@" or "#" typed unescaped (RFC 3986 forbids them, people do not
# know): up to the last "@" before the URL ends, it is userinfo. Masking a little too much
# of an odd URL ("host:80/a@b") is the price of never showing a password.
_URL_USERINFO = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)"
    r"(?P<user>[^:/\s?#@\"'<>]*)(?::(?P<password>[^\s\"'<>]*))?@"
)
# Query parameters whose value is a secret (the SRT ``passphrase`` among them).
SECRET_QUERY_KEYS = (
    "token",
    "access_token",
    "auth",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sign",
    "signature",
    "streamkey",
    "stream_key",
    "passphrase",
)
_QUERY_SECRET = re.compile(
    rf"(?P<key>[?&;](?:{'|'.join(SECRET_QUERY_KEYS)})=)(?P<value>[^&\s\"']+)",
    re.IGNORECASE,
)
PLACEHOLDER = "{token}"  # an ingest URL template names the stream token, it does not hold it


def register_secret(value: str | None) -> None:
    """Mask ``value`` from now on wherever :func:`scrub` sees it."""
    global _pattern  # noqa: PLW0603 - one compiled pattern, swapped atomically
    if value is None:
        return
    value = value.strip()
    if len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _registered:
            return
        _registered.add(value)
        # Longest first, so a secret containing another is masked whole.
        ordered = sorted(_registered, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def forget_secrets() -> None:
    """Drop every registered value (tests use this between cases)."""
    global _pattern  # noqa: PLW0603
    with _lock:
        _registered.clear()
        _pattern = None


def _mask_userinfo(match: re.Match[str]) -> str:
    return f"{match.group('scheme')}{match.group('user')}:{MASK}@"


def scrub(text: str) -> str:
    """``text`` with URL passwords, secret query values and registered secrets masked."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _URL_USERINFO.sub(_mask_userinfo, text)
    return _QUERY_SECRET.sub(lambda m: m.group("key") + MASK, text)


def url_secrets(text: str) -> list[str]:
    """What ``text`` carries in clear that :func:`scrub` would mask: ``"password"`` for a URL
    with a password in it, ``"query"`` for a secret query value (``token=``, ``passphrase=``
    ...; a ``{token}`` placeholder is not a secret). The config refuses both."""
    found = []
    for match in _URL_USERINFO.finditer(text):
        password = match.group("password")
        # "host:554/path@x": a port and a path, not a user and a password.
        if password and not re.fullmatch(r"\d+/.*", password):
            found.append("password")
            break
    if any(m.group("value") != PLACEHOLDER for m in _QUERY_SECRET.finditer(text)):
        found.append("query")
    return found


def scrub_value(value: Any) -> Any:
    """``value`` with every string in it scrubbed, however deep (the one recursive
    scrubber: log fields, stored events, command results and reports all go through it).
    Numbers, booleans and None stay as they are; any other object becomes its scrubbed
    text."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub_value(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def strip_userinfo(url: str) -> str:
    """``url`` without its ``user:password@`` part (for URIs shown to people or ops)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    if parts.username is None and parts.password is None:
        # urlsplit stops the netloc at a "/" typed inside a password: let scrub judge.
        return scrub(url) if "@" in url else url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
