"""The camera inventory: merging a round into what we know, and persisting it.

Merging a round (:mod:`agent.capture.rounds`) into the known inventory keeps what a camera
told us before when it fails now (a timeout must not erase its profiles) and reports
online/offline transitions. The file in the state directory is written atomically.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from agent.errors import CameraUnreachable
from agent.model import Camera
from agent.persist import atomic_write_json, read_json
from agent.trust import host_of, same_host

log = structlog.get_logger(__name__)

INVENTORY_FILE = "inventory.json"
FORMAT_VERSION = 1


def discover_json(cameras: Iterable[Camera]) -> dict[str, Any]:
    return {"cameras": [c.to_discover_json() for c in sort_cameras(cameras)]}


def sort_cameras(cameras: Iterable[Camera]) -> list[Camera]:
    def key(camera: Camera) -> tuple[Any, ...]:
        host = urlsplit(camera.xaddr).hostname or camera.address
        try:
            packed = tuple(int(x) for x in host.split("."))
        except ValueError:
            packed = (999,)
        return (packed, urlsplit(camera.xaddr).port or 80, camera.id)

    return sorted(cameras, key=key)


# --- merging -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresenceChange:
    camera_id: str
    online: bool
    camera: Camera


@dataclass
class MergeResult:
    cameras: dict[str, Camera] = field(default_factory=dict)
    transitions: list[PresenceChange] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)


def merge(
    known: Mapping[str, Camera], seen: Iterable[Camera], now: float, complete: bool
) -> MergeResult:
    """The new inventory after a round (pure).

    - A camera that failed this round keeps what it told us before (model, MAC, profiles),
      with the new error and online flag.
    - With ``complete`` (a full rediscovery that rechecked every known camera), a known
      camera absent from the round is offline ("not found").
    - Transitions list every camera whose online flag changed; a new camera counts as a
      transition to online only if it is online.
    """
    result = MergeResult(cameras=dict(known))
    seen_ids = set()
    for camera in seen:
        seen_ids.add(camera.id)
        previous = known.get(camera.id)
        merged = camera
        if previous is not None:
            merged = replace(camera, first_seen=previous.first_seen or camera.first_seen)
            if camera.error is not None:
                merged = _keep_old_details(merged, previous)
        else:
            result.new_ids.append(camera.id)
        result.cameras[camera.id] = merged
        changed = previous is not None and previous.online != merged.online
        if changed or (previous is None and merged.online):
            result.transitions.append(PresenceChange(camera.id, merged.online, merged))
    if complete:
        for camera_id, previous in known.items():
            if camera_id in seen_ids or not previous.online:
                continue
            gone = replace(
                previous,
                online=False,
                error=CameraUnreachable(f"camera {previous.address} no longer answers").info(),
            )
            result.cameras[camera_id] = gone
            result.transitions.append(PresenceChange(camera_id, False, gone))
    return result


PRUNE_AFTER_ROUNDS = 3  # full rounds a never-enrolled device may stay silent
MAX_UNENROLLED = 64  # never-enrolled devices kept at most (the most recently seen)


@dataclass
class PruneResult:
    cameras: dict[str, Camera]
    silent_rounds: dict[str, int]  # full rounds in a row each camera did not answer
    forgotten: list[str]


def prune(
    cameras: Mapping[str, Camera],
    answered: Iterable[str],
    silent_rounds: Mapping[str, int],
    enrolled: Iterable[str],
    after_rounds: int = PRUNE_AFTER_ROUNDS,
    keep_at_most: int = MAX_UNENROLLED,
) -> PruneResult:
    """After a full round (pure): count each camera's silent rounds and forget the
    never-enrolled devices that stayed silent ``after_rounds`` rounds in a row, and the
    least recently seen ones past ``keep_at_most``. Enrolled cameras are never forgotten.
    So devices a flood made up (or a guest's phone) do not pile up in the inventory."""
    answered_ids, enrolled_ids = set(answered), set(enrolled)
    silent = {
        camera_id: 0 if camera_id in answered_ids else silent_rounds.get(camera_id, 0) + 1
        for camera_id in cameras
    }
    forgotten = [
        camera_id
        for camera_id in cameras
        if camera_id not in enrolled_ids and silent[camera_id] >= after_rounds
    ]
    others = sorted(
        (c for c in cameras.values() if c.id not in enrolled_ids and c.id not in forgotten),
        key=lambda c: (c.last_seen, c.id),
        reverse=True,
    )
    forgotten += [c.id for c in others[keep_at_most:]]
    kept = {k: v for k, v in cameras.items() if k not in forgotten}
    return PruneResult(kept, {k: v for k, v in silent.items() if k in kept}, forgotten)


def _keep_old_details(camera: Camera, previous: Camera) -> Camera:
    return replace(
        camera,
        manufacturer=camera.manufacturer or previous.manufacturer,
        model=camera.model or previous.model,
        firmware=camera.firmware or previous.firmware,
        serial=camera.serial or previous.serial,
        mac=camera.mac or previous.mac,
        endpoint=camera.endpoint or previous.endpoint,
        media_xaddr=camera.media_xaddr or previous.media_xaddr,
        profiles=camera.profiles or previous.profiles,
        clock_skew_s=camera.clock_skew_s
        if camera.clock_skew_s is not None
        else previous.clock_skew_s,
    )


def mark_bye(known: Mapping[str, Camera], endpoint: str, source: str) -> list[Camera]:
    """Cameras that said Bye (by endpoint), now offline (pure). A Bye counts only from the
    camera's own address: anyone can send one with another camera's endpoint."""
    return [
        replace(
            c,
            online=False,
            error=CameraUnreachable(
                f"camera {c.address} announced it is leaving the network (WS-Discovery Bye)"
            ).info(),
        )
        for c in known.values()
        if c.endpoint == endpoint and c.online and same_host(host_of(c.xaddr), source)
    ]


# --- persistence ---------------------------------------------------------------------------


class InventoryStore:
    """``inventory.json`` in the state directory, written atomically."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / INVENTORY_FILE

    def load(self) -> dict[str, Camera]:
        data = read_json(self.path, default=None)
        if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
            return {}
        cameras = {}
        for raw in data["cameras"]:
            try:
                camera = Camera.from_state_json(raw)
            except (KeyError, TypeError, ValueError):
                log.warning("inventory_entry_skipped", path=str(self.path))
                continue
            cameras[camera.id] = camera
        return cameras

    def save(self, cameras: Mapping[str, Camera]) -> None:
        payload = {
            "version": FORMAT_VERSION,
            "updated_at": time.time(),
            "cameras": [c.to_state_json() for c in sort_cameras(cameras.values())],
        }
        atomic_write_json(self.path, payload, mode=0o640)
