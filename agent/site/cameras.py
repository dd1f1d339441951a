"""Finding the kitchen's cameras from the command line, and naming them.

One round: WS-Discovery (multicast and ``--scan`` ranges), the config's static addresses
and, when asked, every camera the daemon's saved inventory knows, each logged into the
moment it answers (:class:`agent.capture.inventory.InventoryRound`). ``discover`` shows
the round; ``enroll``, ``acceptance`` and ``diagnose`` work on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent.errors import UnavailableError, UsageError

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.model import Camera, LoginResolver

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Search:
    """What one round looks for, and how long it listens."""

    timeout_s: float
    multicast: bool
    scan: Sequence[str] = ()
    static: Sequence[str] = ()
    known: Sequence[Camera] = ()
    recheck_known: bool = False  # also log into every known camera at its last address


def search_for(config: AgentConfig, timeout_s: float | None = None) -> Search:
    """The round the config describes, with the daemon's inventory rechecked (a camera the
    daemon found once is looked at even where multicast is blocked)."""
    from agent.capture.inventory import InventoryStore

    cameras = config.cameras
    return Search(
        timeout_s=timeout_s or cameras.discovery.timeout_s,
        multicast=cameras.discovery.multicast,
        scan=list(cameras.discovery.scan),
        static=list(cameras.static),
        known=list(InventoryStore(config.paths.state_dir).load().values()),
        recheck_known=True,
    )


def search_cameras(search: Search, logins: LoginResolver, show: Progress) -> list[Camera]:
    """Every camera the round finds, inventoried (errors per camera, never raised), in
    address order; progress for people through ``show``."""
    from agent.capture.discovery import DiscoveryMessage, static_message
    from agent.capture.inventory import sort_cameras
    from agent.capture.rounds import DiscoveryPlan, RoundOptions, discovery_round

    plan = DiscoveryPlan(
        search.timeout_s,
        multicast=search.multicast,
        scan=list(search.scan),
        static=[static_message(entry) for entry in search.static],
    )
    options = RoundOptions(
        timeout_s=max(3.0, 2 * search.timeout_s),
        request_timeout_s=min(4.0, max(1.0, search.timeout_s)),
    )
    found = done = total = 0

    def on_found(message: DiscoveryMessage) -> None:
        nonlocal found
        found += 1
        show(f"found {message.primary_xaddr} ({found} so far), logging in")

    def on_listened(messages: Sequence[DiscoveryMessage]) -> None:
        nonlocal total
        total = len({m.primary_xaddr for m in messages})
        if total:
            show(f"logging into {total} camera(s) ...")

    def on_camera(xaddr: str, _facts: Any) -> None:
        nonlocal done
        done += 1
        show(f"inventoried {done}/{max(total, done)}: {xaddr}")

    if plan.probes:
        parts = ["multicast"] if search.multicast else []
        if search.scan:
            parts.append(f"scan of {', '.join(search.scan)}")
        show(f"discovering cameras ({' and '.join(parts)}) for {search.timeout_s:g} s ...")
    cameras = discovery_round(
        plan,
        logins,
        search.known,
        recheck_known=search.recheck_known,
        options=options,
        progress=show,
        on_found=on_found,
        on_listened=on_listened,
        on_camera=on_camera,
    )
    return sort_cameras(cameras)


# --- naming cameras -----------------------------------------------------------------------


def _host_port(camera: Camera) -> set[str]:
    parts = urlsplit(camera.xaddr)
    names = {camera.address}
    if parts.hostname:
        names.add(f"{parts.hostname}:{parts.port or 80}")
        names.add(parts.hostname)
    return names


@dataclass
class CameraDirectory:
    """The cameras found now and the ones enrolled, by every name an installer may use:
    the camera id, its address (``host`` or ``host:port``) or ``host:port``."""

    found: list[Camera]
    enrolled: list[str] = field(default_factory=list)

    def resolve(self, ref: str) -> str:
        """The camera id ``ref`` names; UsageError when none or several match."""
        ids = {camera.id for camera in self.found} | set(self.enrolled)
        if ref in ids:
            return ref
        matches = sorted({camera.id for camera in self.found if ref in _host_port(camera)})
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(f"{ref} names several cameras ({', '.join(matches)}): use the id")
        raise UnavailableError(f"no camera {ref} was found. {self.listing()}")

    def get(self, camera_id: str) -> Camera | None:
        return next((camera for camera in self.found if camera.id == camera_id), None)

    def listing(self) -> str:
        if not self.found:
            return (
                "No camera answered: check that the box is on the camera network, the "
                "config's cameras.static / cameras.discovery.scan, and `kitchen-agent discover`."
            )
        return "Found: " + ", ".join(f"{c.id} ({c.address})" for c in self.found) + "."


def resolve_all(directory: CameraDirectory, refs: Iterable[str]) -> list[str]:
    return [directory.resolve(ref) for ref in refs]
