"""A camera as every side of the agent knows it: discovery writes it, quality and the
relay read it, the CLI and the messages render it. No secret is ever stored in here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from agent.model.states import DiscoverySource
from agent.scrub import scrub, strip_userinfo


class ErrorInfo(BaseModel):
    """An error as it leaves the box: a stable code from :mod:`agent.errors` and a
    sentence for people (already scrubbed of secrets)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(description="Stable error code (see docs/mqtt.md).")
    message: str = Field(description="Human explanation (no secrets).")


@dataclass(frozen=True, kw_only=True)
class MediaProfile:
    """One ONVIF media profile: a stream the camera encodes.

    URIs never carry credentials. ``token`` is the ONVIF *profile* token (what the
    set_encoder route names); ``encoder_token`` its video encoder configuration, which
    profiles may share: changing a profile that shares the main stream's encoder changes
    the main stream.
    """

    token: str
    name: str | None = None
    encoding: str | None = None  # H264 | H265 | JPEG | ...
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    bitrate_kbps: int | None = None
    gop: int | None = None
    encoder_token: str | None = None
    rtsp_uri: str | None = None
    snapshot_uri: str | None = None

    @property
    def codec(self) -> str | None:
        """``h264`` / ``h265`` or None for anything ffmpeg should not copy (MJPEG...)."""
        text = (self.encoding or "").upper().replace(".", "").replace("-", "")
        if text in ("H264", "AVC"):
            return "h264"
        if text in ("H265", "HEVC"):
            return "h265"
        return None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    def to_json(self) -> dict[str, Any]:
        """The ``discover --json`` profile object."""
        return {
            "token": self.token,
            "name": self.name,
            "encoding": self.encoding,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "bitrate_kbps": self.bitrate_kbps,
            "rtsp_uri": None if self.rtsp_uri is None else strip_userinfo(self.rtsp_uri),
            "snapshot_uri": None
            if self.snapshot_uri is None
            else strip_userinfo(self.snapshot_uri),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> MediaProfile:
        """From a stored or ``discover --json`` profile; unknown or bad values become None."""

        def number(key: str) -> float | None:
            value = raw.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            return float(value) if value > 0 else None

        def integer(key: str) -> int | None:
            value = number(key)
            return None if value is None else int(value)

        def text(key: str) -> str | None:
            value = raw.get(key)
            return str(value) if value else None

        return cls(
            token=str(raw.get("token") or ""),
            name=text("name"),
            encoding=text("encoding"),
            width=integer("width"),
            height=integer("height"),
            fps=number("fps"),
            bitrate_kbps=integer("bitrate_kbps"),
            gop=integer("gop"),
            encoder_token=text("encoder_token"),
            rtsp_uri=text("rtsp_uri"),
            snapshot_uri=text("snapshot_uri"),
        )


def smallest_first(profiles: tuple[MediaProfile, ...]) -> list[MediaProfile]:
    return sorted(profiles, key=lambda p: p.pixels)


# The ``discover --json`` camera object: exactly these keys (a contract of installers'
# scripts).
DISCOVER_KEYS = (
    "id",
    "address",
    "xaddrs",
    "manufacturer",
    "model",
    "firmware",
    "serial",
    "mac",
    "clock_skew_s",
    "profiles",
    "error",
)


@dataclass(frozen=True, kw_only=True)
class Camera:
    """One camera as the agent knows it (no secrets anywhere in here)."""

    id: str
    address: str  # host, or host:port when the device service is not on port 80
    xaddr: str  # the device-service URL in use
    xaddrs: tuple[str, ...] = ()
    endpoint: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    mac: str | None = None  # aa:bb:cc:dd:ee:ff
    clock_skew_s: float | None = None  # camera clock minus ours
    media_xaddr: str | None = None
    profiles: tuple[MediaProfile, ...] = ()
    error: ErrorInfo | None = None
    online: bool = True
    source: DiscoverySource = DiscoverySource.MULTICAST
    first_seen: float = 0.0
    last_seen: float = 0.0  # last time it answered at all

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else self.error.code

    @property
    def snapshot_uri(self) -> str | None:
        """The snapshot URI of the smallest profile that has one."""
        for profile in smallest_first(self.profiles):
            if profile.snapshot_uri:
                return profile.snapshot_uri
        return None

    @property
    def sub_stream_uri(self) -> str | None:
        """The RTSP URI of the smallest profile (the sub-stream)."""
        for profile in smallest_first(self.profiles):
            if profile.rtsp_uri:
                return profile.rtsp_uri
        return None

    # --- rendering ----------------------------------------------------------------------

    def to_discover_json(self) -> dict[str, Any]:
        """The ``discover --json`` camera object: exactly DISCOVER_KEYS, no credentials."""
        return {
            "id": self.id,
            "address": self.address,
            "xaddrs": [strip_userinfo(x) for x in self.xaddrs],
            "manufacturer": self.manufacturer,
            "model": self.model,
            "firmware": self.firmware,
            "serial": self.serial,
            "mac": self.mac,
            "clock_skew_s": self.clock_skew_s,
            "profiles": [p.to_json() for p in self.profiles],
            "error": None
            if self.error is None
            else {"code": self.error.code, "message": scrub(self.error.message)},
        }

    def to_state_json(self) -> dict[str, Any]:
        """What the inventory file keeps: the discover object plus what the agent needs to
        find and recognise the camera again."""
        data = self.to_discover_json()
        data.update(
            xaddr=strip_userinfo(self.xaddr),
            endpoint=self.endpoint,
            media_xaddr=self.media_xaddr,
            online=self.online,
            source=self.source.value,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
        )
        for raw, profile in zip(data["profiles"], self.profiles, strict=True):
            raw.update(gop=profile.gop, encoder_token=profile.encoder_token)
        return data

    @classmethod
    def from_state_json(cls, data: Mapping[str, Any]) -> Camera:
        error = data.get("error")
        source = str(data.get("source") or "")
        return cls(
            id=str(data["id"]),
            address=str(data.get("address") or ""),
            xaddr=str(data.get("xaddr") or (data.get("xaddrs") or [""])[0]),
            xaddrs=tuple(str(x) for x in data.get("xaddrs") or ()),
            endpoint=data.get("endpoint"),
            manufacturer=data.get("manufacturer"),
            model=data.get("model"),
            firmware=data.get("firmware"),
            serial=data.get("serial"),
            mac=data.get("mac"),
            clock_skew_s=data.get("clock_skew_s"),
            media_xaddr=data.get("media_xaddr"),
            profiles=tuple(
                MediaProfile.from_json(p)
                for p in data.get("profiles") or []
                if isinstance(p, Mapping)
            ),
            error=ErrorInfo.model_validate(error) if isinstance(error, Mapping) else None,
            online=bool(data.get("online", False)),
            source=DiscoverySource(source)
            if source in DiscoverySource.__members__.values()
            else DiscoverySource.MULTICAST,
            first_seen=float(data.get("first_seen") or 0.0),
            last_seen=float(data.get("last_seen") or 0.0),
        )


def address_of(xaddr: str) -> str:
    """``host`` or ``host:port`` (when not the scheme's default) of a service URL."""
    parts = urlsplit(xaddr)
    host = parts.hostname or ""
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"


@dataclass(frozen=True)
class CameraLogin:
    """The username and password the agent uses for one camera (password may be unset),
    and how they may travel: to the camera's own host and to ``media_hosts`` only, and as
    HTTP Basic over plain HTTP only with ``allow_basic_http`` (see :mod:`agent.trust`).

    ``repr`` never shows the password.
    """

    username: str
    password: str | None
    media_hosts: frozenset[str] = frozenset()
    allow_basic_http: bool = False

    def __repr__(self) -> str:
        return (
            f"CameraLogin(username={self.username!r}, password={'***' if self.password else None})"
        )


LoginResolver = Callable[[str | None], CameraLogin]
"""(camera id, or None for a device not known yet) -> the login to use with it."""


def with_login(uri: str, login: CameraLogin | None) -> str:
    """``uri`` with ``user:password@`` in place of any userinfo (for ffmpeg and HTTP
    clients only: never log the result). An unset or empty password adds the user alone."""
    if login is None or not login.username:
        return uri
    parts = urlsplit(strip_userinfo(uri))
    userinfo = quote(login.username, safe="")
    if login.password:
        userinfo += ":" + quote(login.password, safe="")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{userinfo}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class EncoderRequest:
    """What the relay asks of a camera's encoder on the ``set_encoder`` route."""

    profile_token: str
    kbps: int
    fps: int | None
    gop: int | None


class EncoderControl(Protocol):
    """The one thing the uplink asks of the camera side: re-encode a sub-stream.

    Implemented by the capture side over ONVIF; blocks for up to its own timeout, so the
    relay calls it off its loop. Returns the profile as the camera now reports it, and
    raises an :class:`agent.errors.CameraError` subclass when the camera refuses.
    """

    def set_sub_stream(
        self, camera: Camera, login: CameraLogin, request: EncoderRequest
    ) -> MediaProfile: ...
