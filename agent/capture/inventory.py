"""The camera inventory: the model, one discovery+inventory round, merging, persistence.

A *round* turns discovery messages (multicast, scan, static, Hello) plus the cameras we
already know into inventoried :class:`Camera` records with stable ids. Merging a round into
the known inventory keeps what a camera told us before when it fails now (a timeout must
not erase its profiles) and reports online/offline transitions. The file in the state
directory is written atomically.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from agent.capture.discovery import DiscoveryMessage
from agent.capture.identity import (
    IdentityFacts,
    KnownCamera,
    assign_ids,
    format_mac,
    password_ids,
)
from agent.capture.onvif import (
    AnonymousIdentity,
    DeviceFacts,
    InventoryJob,
    InventoryPool,
    InventoryTarget,
    Login,
    MediaProfile,
    RetryLogin,
)
from agent.errors import AgentError, CameraError, CameraUnreachable
from agent.persist import atomic_write_json, read_json
from agent.scrub import scrub, strip_userinfo

log = structlog.get_logger(__name__)

INVENTORY_FILE = "inventory.json"
FORMAT_VERSION = 1
# Errors that mean "we could not talk to it at all": the camera is offline.
OFFLINE_CODES = frozenset({"unreachable", "timeout"})

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
PROFILE_KEYS = (
    "token",
    "name",
    "encoding",
    "width",
    "height",
    "fps",
    "bitrate_kbps",
    "rtsp_uri",
    "snapshot_uri",
)


@dataclass(frozen=True)
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
    clock_skew_s: float | None = None
    media_xaddr: str | None = None
    profiles: tuple[MediaProfile, ...] = ()
    error: dict[str, str] | None = None  # {"code", "message"}
    online: bool = True
    source: str = "multicast"  # multicast | scan | static | hello | recheck
    first_seen: float = 0.0
    last_seen: float = 0.0  # last time it answered at all

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else self.error.get("code")

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
            "profiles": [profile_json(p) for p in self.profiles],
            "error": None
            if self.error is None
            else {
                "code": self.error["code"],
                "message": scrub(self.error["message"]),
            },
        }

    def to_state_json(self) -> dict[str, Any]:
        data = self.to_discover_json()
        data.update(
            xaddr=strip_userinfo(self.xaddr),
            endpoint=self.endpoint,
            media_xaddr=self.media_xaddr,
            online=self.online,
            source=self.source,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
        )
        for raw, profile in zip(data["profiles"], self.profiles, strict=True):
            raw.update(gop=profile.gop, encoder_token=profile.encoder_token)
        return data

    @classmethod
    def from_state_json(cls, data: Mapping[str, Any]) -> Camera:
        profiles = tuple(
            MediaProfile(
                token=str(p["token"]),
                name=p.get("name"),
                encoding=p.get("encoding"),
                width=p.get("width"),
                height=p.get("height"),
                fps=p.get("fps"),
                bitrate_kbps=p.get("bitrate_kbps"),
                gop=p.get("gop"),
                encoder_token=p.get("encoder_token"),
                rtsp_uri=p.get("rtsp_uri"),
                snapshot_uri=p.get("snapshot_uri"),
            )
            for p in data.get("profiles") or []
        )
        error = data.get("error")
        return cls(
            id=str(data["id"]),
            address=str(data.get("address") or ""),
            xaddr=str(data.get("xaddr") or (data.get("xaddrs") or [""])[0]),
            xaddrs=tuple(data.get("xaddrs") or ()),
            endpoint=data.get("endpoint"),
            manufacturer=data.get("manufacturer"),
            model=data.get("model"),
            firmware=data.get("firmware"),
            serial=data.get("serial"),
            mac=data.get("mac"),
            clock_skew_s=data.get("clock_skew_s"),
            media_xaddr=data.get("media_xaddr"),
            profiles=profiles,
            error=dict(error) if isinstance(error, Mapping) else None,
            online=bool(data.get("online", False)),
            source=str(data.get("source", "")),
            first_seen=float(data.get("first_seen") or 0.0),
            last_seen=float(data.get("last_seen") or 0.0),
        )

    def known(self) -> KnownCamera:
        return KnownCamera(
            id=self.id,
            address=self.address,
            mac=self.mac,
            serial=self.serial,
            endpoint=self.endpoint,
        )

    def main_profile(self) -> MediaProfile | None:
        """The highest-resolution video profile (usually the camera's main stream)."""
        return max(self.profiles, key=lambda p: (p.width or 0) * (p.height or 0), default=None)

    def sub_profile(self) -> MediaProfile | None:
        """The lowest-resolution video profile (the sub-stream we prefer to push)."""
        return min(self.profiles, key=lambda p: (p.width or 0) * (p.height or 0), default=None)


def profile_json(profile: MediaProfile) -> dict[str, Any]:
    return {
        "token": profile.token,
        "name": profile.name,
        "encoding": profile.encoding,
        "width": profile.width,
        "height": profile.height,
        "fps": profile.fps,
        "bitrate_kbps": profile.bitrate_kbps,
        "rtsp_uri": None if profile.rtsp_uri is None else strip_userinfo(profile.rtsp_uri),
        "snapshot_uri": None
        if profile.snapshot_uri is None
        else strip_userinfo(profile.snapshot_uri),
    }


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


def address_of(xaddr: str) -> str:
    parts = urlsplit(xaddr)
    host = parts.hostname or ""
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"


# --- one round ---------------------------------------------------------------------------


Credentials = Callable[[str | None], tuple[str, str | None]]
"""(camera id or None) → (username, password or None)."""


@dataclass(frozen=True)
class Candidate:
    """A device to inventory this round: what discovery said, or a known camera to recheck."""

    xaddr: str
    xaddrs: tuple[str, ...]
    endpoint: str | None
    source: str
    known_id: str | None = None  # set for rechecks and for devices we recognise


def candidate_of(message: DiscoveryMessage, known: Sequence[Camera]) -> Candidate | None:
    """The device a discovery message describes, or None when there is nothing to log into."""
    xaddr = message.primary_xaddr
    if xaddr is None or message.kind == "bye":
        return None
    source = {"probe_match": "multicast", "static": "static", "hello": "hello"}.get(
        message.kind, message.kind
    )
    return Candidate(
        xaddr=xaddr,
        xaddrs=message.xaddrs,
        endpoint=message.endpoint,
        source=source,
        known_id=guess_known_id(xaddr, message.endpoint, known),
    )


def recheck_candidate(camera: Camera) -> Candidate:
    return Candidate(
        xaddr=camera.xaddr,
        xaddrs=camera.xaddrs or (camera.xaddr,),
        endpoint=camera.endpoint,
        source="recheck",
        known_id=camera.id,
    )


def candidates_from(
    messages: Iterable[DiscoveryMessage], known: Sequence[Camera], recheck_known: bool
) -> list[Candidate]:
    """Deduplicated devices to inventory (pure)."""
    by_xaddr: dict[str, Candidate] = {}
    for message in messages:
        candidate = candidate_of(message, known)
        if candidate is None:
            continue
        if candidate.xaddr in by_xaddr:
            existing = by_xaddr[candidate.xaddr]
            if existing.endpoint is None and message.endpoint is not None:
                by_xaddr[candidate.xaddr] = replace(existing, endpoint=message.endpoint)
            continue
        by_xaddr[candidate.xaddr] = candidate
    if recheck_known:
        for camera in known:
            if camera.xaddr and camera.xaddr not in by_xaddr:
                by_xaddr[camera.xaddr] = recheck_candidate(camera)
    return list(by_xaddr.values())


def guess_known_id(xaddr: str, endpoint: str | None, known: Sequence[Camera]) -> str | None:
    """The known camera this device probably is (for its password file), before login."""
    if endpoint:
        same = [c for c in known if c.endpoint == endpoint]
        if len(same) == 1:
            return same[0].id
    at = [c for c in known if c.xaddr == xaddr]
    return at[0].id if len(at) == 1 else None


def cameras_from_results(
    results: Sequence[tuple[Candidate, DeviceFacts]], known: Sequence[Camera], now: float
) -> list[Camera]:
    """Give every inventoried device its stable id and build its record (pure)."""
    discovered = [(c, f) for c, f in results if c.source != "recheck"]
    rechecked = [(c, f) for c, f in results if c.source == "recheck"]
    facts_list = [
        IdentityFacts(address=address_of(f.xaddr), mac=f.mac, serial=f.serial, endpoint=c.endpoint)
        for c, f in discovered
    ]
    ids = assign_ids(facts_list, [k.known() for k in known])
    cameras = [_camera(i, c, f, now) for i, (c, f) in zip(ids, discovered, strict=True)]
    claimed = {camera.id for camera in cameras}
    known_by_id = {k.id: k for k in known}
    for candidate, facts in rechecked:
        assert candidate.known_id is not None
        if facts.error is None:
            # Something answers at the old address: is it still the same camera?
            [new_id] = assign_ids(
                [
                    IdentityFacts(
                        address=address_of(facts.xaddr),
                        mac=facts.mac,
                        serial=facts.serial,
                        endpoint=candidate.endpoint,
                    )
                ],
                [k.known() for k in known],
            )
            if new_id in claimed:
                continue
            cameras.append(_camera(new_id, candidate, facts, now))
            claimed.add(new_id)
            continue
        if candidate.known_id in claimed:
            continue  # it moved (DHCP) and was found at its new address
        previous = known_by_id.get(candidate.known_id)
        cameras.append(_camera(candidate.known_id, candidate, facts, now, previous))
        claimed.add(candidate.known_id)
    return cameras


def _camera(
    camera_id: str,
    candidate: Candidate,
    facts: DeviceFacts,
    now: float,
    previous: Camera | None = None,
) -> Camera:
    error = None if facts.error is None else facts.error.to_dict()
    online = facts.error is None or facts.error.code not in OFFLINE_CODES
    return Camera(
        id=camera_id,
        address=address_of(facts.xaddr),
        xaddr=facts.xaddr,
        xaddrs=candidate.xaddrs or (facts.xaddr,),
        endpoint=candidate.endpoint,
        manufacturer=facts.manufacturer,
        model=facts.model,
        firmware=facts.firmware,
        serial=facts.serial,
        mac=format_mac(facts.mac) or facts.mac,
        clock_skew_s=facts.clock_skew_s,
        media_xaddr=facts.media_xaddr,
        profiles=facts.profiles,
        error=error,
        online=online,
        source=candidate.source,
        first_seen=previous.first_seen if previous else now,
        last_seen=now if online else (previous.last_seen if previous else 0.0),
    )


@dataclass
class RoundOptions:
    timeout_s: float = 8.0  # per camera
    request_timeout_s: float = 4.0
    concurrency: int = 16


class InventoryRound:
    """One round whose logins overlap discovery: :meth:`start` a device the moment it
    answers, then :meth:`finish` with every message of the round.

    The result is exactly what inventorying the finished message list would give: the
    pure :func:`candidates_from` and :func:`cameras_from_results` decide it, and a device
    started early is reused only when it was started with the same known id (hence the
    same credentials) that the finished list gives it. The pool is
    :class:`agent.capture.onvif.InventoryPool`; call ``start``/``finish`` from one thread
    (discovery's ``on_found`` runs in the thread that called ``discover``).

    A camera's own password (``camera-password.<id>``) is used from the first login when
    the saved inventory recognises the device (by endpoint or address). Otherwise, once the
    shared password is refused, the ids :func:`agent.capture.identity.password_ids` finds
    without a login are tried for one retry. Its limit: most cameras tell their MAC, hence
    their usual ``mac-...`` id, only after a login, so on first contact a file named after
    that id is not found; the id the round shows for a refused camera (``uuid-...`` or
    ``addr-...``) is.
    """

    def __init__(
        self,
        credentials: Credentials,
        known: Sequence[Camera] = (),
        *,
        recheck_known: bool = False,
        options: RoundOptions | None = None,
        on_camera: Callable[[str, DeviceFacts], None] | None = None,
    ) -> None:
        opts = options or RoundOptions()
        self.credentials = credentials
        self.known = list(known)
        self.recheck_known = recheck_known
        self.on_camera = on_camera
        self.started_at = time.time()
        self._pool = InventoryPool(opts.concurrency, opts.timeout_s, opts.request_timeout_s)
        self._jobs: dict[tuple[str, str | None], InventoryJob] = {}
        if recheck_known:
            for camera in self.known:
                if camera.xaddr:
                    self._start(recheck_candidate(camera))

    def __enter__(self) -> InventoryRound:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    def start(self, message: DiscoveryMessage) -> None:
        """Begin logging into the device ``message`` describes (once per device)."""
        candidate = candidate_of(message, self.known)
        if candidate is not None:
            self._start(candidate)

    def _start(self, candidate: Candidate) -> InventoryJob:
        key = (candidate.xaddr, candidate.known_id)
        job = self._jobs.get(key)
        if job is None:
            username, password = self.credentials(candidate.known_id)
            retry = self._retry_login(candidate, (username, password))
            target = InventoryTarget(candidate.xaddr, username, password, candidate, retry)
            job = self._jobs[key] = self._pool.submit(target)
        return job

    def _retry_login(self, candidate: Candidate, tried: tuple[str, str | None]) -> RetryLogin:
        """Other credentials for a device that refused ``tried`` (runs on the pool)."""
        address = address_of(candidate.xaddr)
        known = [camera.known() for camera in self.known]

        def retry(anonymous: AnonymousIdentity) -> Login | None:
            facts = IdentityFacts(
                address, mac=anonymous.mac, serial=anonymous.serial, endpoint=candidate.endpoint
            )
            for camera_id in password_ids(facts, known):
                try:
                    username, password = self.credentials(camera_id)
                except AgentError as error:
                    log.warning(
                        "camera_password_unreadable", camera_id=camera_id, reason=error.message
                    )
                    continue
                if password is not None and (username, password) != tried:
                    return Login(username, password, origin=f"camera-password.{camera_id}")
            return None

        return retry

    def finish(self, messages: Iterable[DiscoveryMessage]) -> list[Camera]:
        """Wait for every device of the round (starting any not started yet) and return
        their records, with stable ids."""
        candidates = candidates_from(messages, self.known, self.recheck_known)
        jobs = [self._start(candidate) for candidate in candidates]

        def done(target: InventoryTarget, facts: DeviceFacts) -> None:
            if self.on_camera is not None:
                self.on_camera(target.xaddr, facts)

        collected = self._pool.collect(jobs, done)
        # The candidate as the finished list has it (a later message may add the endpoint).
        results = [(c, facts) for c, (_, facts) in zip(candidates, collected, strict=True)]
        cameras = cameras_from_results(results, self.known, self.started_at)
        _warn_about_password_file_names(cameras, [facts for _, facts in results])
        log.info(
            "inventory_round_done",
            cameras=len(cameras),
            failed=sum(1 for c in cameras if c.error),
            wall_s=round(time.time() - self.started_at, 2),
        )
        return cameras


def _warn_about_password_file_names(
    cameras: Sequence[Camera], facts: Sequence[DeviceFacts]
) -> None:
    """Streaming and snapshots look a camera's password up by its final id: say so when
    the file that let it in has another name (an id learnt before the login)."""
    origins = {f.xaddr: f.login_origin for f in facts if f.login_origin is not None}
    for camera in cameras:
        origin = origins.get(camera.xaddr)
        expected = f"camera-password.{camera.id}"
        if origin is not None and origin != expected:
            log.warning(
                "camera_password_file_name",
                camera_id=camera.id,
                logged_in_with=origin,
                hint=f"store the same password as {expected} too, so that streaming and "
                "snapshots use it",
            )


def inventory_round(
    messages: Iterable[DiscoveryMessage],
    credentials: Credentials,
    known: Sequence[Camera] = (),
    recheck_known: bool = False,
    options: RoundOptions | None = None,
    on_camera: Callable[[str, DeviceFacts], None] | None = None,
) -> list[Camera]:
    """Inventory every discovered (and, with ``recheck_known``, every known) camera."""
    with InventoryRound(
        credentials, known, recheck_known=recheck_known, options=options, on_camera=on_camera
    ) as round_:
        return round_.finish(messages)


# --- merging -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    camera_id: str
    online: bool
    camera: Camera


@dataclass
class MergeResult:
    cameras: dict[str, Camera] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
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
            result.transitions.append(Transition(camera.id, merged.online, merged))
    if complete:
        for camera_id, previous in known.items():
            if camera_id in seen_ids or not previous.online:
                continue
            gone = replace(
                previous,
                online=False,
                error=CameraUnreachable(f"camera {previous.address} no longer answers").to_dict(),
            )
            result.cameras[camera_id] = gone
            result.transitions.append(Transition(camera_id, False, gone))
    return result


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


def mark_bye(known: Mapping[str, Camera], endpoint: str) -> list[Camera]:
    """Cameras that said Bye (by endpoint), now offline (pure)."""
    return [
        replace(
            c,
            online=False,
            error={
                "code": "unreachable",
                "message": f"camera {c.address} announced it is "
                "leaving the network (WS-Discovery Bye)",
            },
        )
        for c in known.values()
        if c.endpoint == endpoint and c.online
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


def error_of(error: AgentError | None) -> dict[str, str] | None:
    return None if error is None else error.to_dict()


def camera_error(camera: Camera) -> CameraError | None:
    if camera.error is None:
        return None
    cls = AgentError.by_code(camera.error["code"])
    if cls is None or not issubclass(cls, CameraError):
        return CameraError(camera.error["message"])
    return cls(camera.error["message"])
