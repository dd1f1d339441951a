"""What the relay knows about each camera, and where each camera's stream goes.

Capture and uplink meet only through the shared model: a feed is built from the
:class:`agent.model.Camera` record discovery put in the state and from the one credential
resolver; the relay never talks to the capture side directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from agent.config.streams import StreamsConfig
from agent.model import Camera, CameraLogin, LoginResolver, MediaProfile
from agent.state import AgentState
from agent.uplink.video.bandwidth import primary_kcp
from agent.uplink.video.ffmpeg_args import RelayPlan
from agent.uplink.video.routes import Route, relay_plan

if TYPE_CHECKING:
    from agent.config.cameras import EnrolledCamera


@dataclass(frozen=True)
class CameraFeed:
    """What the relay needs to know about one enrolled camera."""

    camera_id: str
    kcps: tuple[str, ...] = ()
    camera: Camera | None = None  # None until discovery has seen the camera at all
    login: CameraLogin | None = None

    @property
    def profiles(self) -> tuple[MediaProfile, ...]:
        return self.camera.profiles if self.camera is not None else ()

    @property
    def discovered(self) -> bool:
        return self.camera is not None


FeedSource = Callable[[], Sequence[CameraFeed]]


def feeds_from_state(
    enrolled: Iterable[EnrolledCamera], state: AgentState, logins: LoginResolver
) -> FeedSource:
    """A feed source over the enrolled cameras and what discovery put in ``state``.

    A camera's profiles, ONVIF addresses and clock skew come from its
    :class:`agent.model.Camera` record (discovery measured the skew: Hikvision-like
    cameras refuse a skewed login); its login from the one credential resolver.
    """
    cameras = list(enrolled)

    def build() -> list[CameraFeed]:
        known = state.cameras()
        return [
            CameraFeed(
                camera_id=camera.id,
                kcps=tuple(str(k.kcp) for k in camera.kcps),
                camera=known.get(camera.id),
                login=logins(camera.id),
            )
            for camera in cameras
        ]

    return build


def render_ingest_url(
    template: str, store_id: str, camera_id: str, kcp: str | None, token: str | None
) -> str:
    """The ingest URL of one camera; values are percent-encoded so none can break the URL."""
    values = {
        "store_id": store_id,
        "camera_id": camera_id,
        "kcp": kcp or "none",
        "token": token or "",
    }
    return template.format(**{k: quote(v, safe="") for k, v in values.items()})


def feed_relay_plan(
    config: StreamsConfig, store_id: str, token: str | None, feed: CameraFeed, route: Route
) -> RelayPlan:
    """What one camera's relay runs: ``route`` pushed to the camera's own ingest URL."""
    assert config.ingest_url is not None
    kcp = primary_kcp(feed.kcps)
    output = render_ingest_url(
        config.ingest_url, store_id, feed.camera_id, kcp.value if kcp else None, token
    )
    return relay_plan(route, config, feed.login, output)


def wanted(mode: str, enabled: bool, held: bool, demand_until: float | None, now: float) -> bool:
    """Whether a camera should be streaming now (before the uplink budget has its say)."""
    if not enabled or held:
        return False
    if mode == "on_demand":
        return demand_until is not None and now < demand_until
    return True
