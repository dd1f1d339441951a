"""``cameras:`` — how cameras are found, logged into and assigned to key control points."""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator

from agent.config.base import Section
from agent.kcp import Kcp

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


class KcpAssignment(Section):
    kcp: Kcp = Field(description="Key control point this camera shows.")
    roi: list[tuple[float, float]] | None = Field(
        default=None,
        min_length=3,
        description="Optional polygon on the reference frame where the KCP is, as [x, y] "
        "pairs in fractions of width and height (0..1).",
    )


class EnrolledCamera(Section):
    id: str = Field(
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="Camera id as shown by `kitchen-agent discover` (from MAC/serial/UUID).",
    )
    name: str | None = Field(default=None, description="Human name, e.g. 热菜区 wok line.")
    username: str | None = Field(
        default=None,
        description="Username for this camera only (default: cameras.username); its "
        "password is the credential file camera-password.<id> when present.",
    )
    kcps: list[KcpAssignment] = Field(
        default_factory=list, description="Key control points this camera covers."
    )
    accept_view: bool = Field(
        default=False,
        description="Its view reads blurred or low-contrast by nature (a bare steel wall): "
        "such a picture may still be its reference (`kitchen-agent enroll --accept-view`).",
    )
    media_hosts: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Hosts besides the camera's own where its stream, snapshot and media "
        "URIs may point, e.g. the NVR it is reached through or its second network card "
        "(IP address or name, no port). A URI on any other host is reported as "
        "untrusted_host and not followed: the camera's password goes nowhere else.",
    )
    allow_basic_http: bool = Field(
        default=False,
        description="Answer an HTTP Basic challenge over plain HTTP for this camera's "
        "snapshots (the password crosses the LAN readable). Off: only Digest; a camera "
        "that offers only Basic gives its pictures from its RTSP sub-stream instead.",
    )

    @field_validator("media_hosts")
    @classmethod
    def _hosts_only(cls, hosts: list[str]) -> list[str]:
        cleaned = []
        for host in hosts:
            value = host.strip().lower()
            if not _is_host(value):
                raise ValueError(
                    f"{host!r} is not a host (an IP address or a name, without scheme, "
                    "port or path)"
                )
            cleaned.append(value)
        return cleaned


class DiscoveryConfig(Section):
    multicast: bool = Field(default=True, description="Send WS-Discovery multicast probes.")
    scan: list[str] = Field(
        default_factory=list,
        description="CIDR ranges to probe by unicast, for networks that block multicast.",
    )
    timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="How long one discovery round listens."
    )
    interval_s: int = Field(
        default=3600, ge=60, le=86400, description="Seconds between rediscoveries."
    )


class CamerasConfig(Section):
    username: str = Field(
        default="admin",
        description="ONVIF/RTSP username; the password is the credential file camera-password.",
    )
    discovery: DiscoveryConfig = Field(
        default_factory=DiscoveryConfig, description="How cameras are found."
    )
    static: list[str] = Field(
        default_factory=list,
        description="host[:port] of ONVIF cameras that discovery cannot find "
        "(no credentials in them).",
    )
    enrolled: list[EnrolledCamera] = Field(
        default_factory=list,
        description="Enrolled cameras with their key control point assignments.",
    )


def _is_host(value: str) -> bool:
    """An IP address, or a DNS name of at most 253 characters (no scheme, port or path)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return len(value) <= 253 and _NAME.fullmatch(value) is not None
    return True
