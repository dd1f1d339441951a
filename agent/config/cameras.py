"""``cameras:`` — how cameras are found, logged into and assigned to key control points."""

from __future__ import annotations

from pydantic import Field

from agent.config.base import Section
from agent.kcp import Kcp


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
