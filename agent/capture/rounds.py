"""One round: discovery messages (multicast, scan, static, Hello) plus the cameras we
already know, turned into inventoried :class:`Camera` records with stable ids.

:func:`discovery_round` is the one round both ``kitchen-agent discover`` and the daemon's
discovery worker run: logins start the moment a camera answers, while discovery still
listens for others. The decisions (which devices, which ids) are pure functions here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import structlog

from agent.capture.discovery import (
    DiscoveryMessage,
    Interface,
    ProgressCallback,
    discover,
)
from agent.capture.identity import (
    IdentityFacts,
    KnownCamera,
    assign_ids,
    at_address,
    format_mac,
    password_ids,
)
from agent.capture.onvif import (
    AnonymousIdentity,
    DeviceFacts,
    FallbackLogin,
    InventoryJob,
    InventoryPool,
    InventoryTarget,
    RetryLogin,
)
from agent.errors import AgentError, CameraIdentityUnverified, NoNetworkError
from agent.model import Camera, CameraLogin, DiscoverySource, LoginResolver, address_of
from agent.trust import host_of, own_login_allowed, trusted_camera

log = structlog.get_logger(__name__)

# Errors that mean "we could not talk to it at all": the camera is offline.
OFFLINE_CODES = frozenset({"unreachable", "timeout"})


def known_camera(camera: Camera) -> KnownCamera:
    """What identity matching needs of a camera already in the inventory."""
    return KnownCamera(
        id=camera.id,
        address=camera.address,
        mac=camera.mac,
        serial=camera.serial,
        endpoint=camera.endpoint,
    )


@dataclass(frozen=True)
class Candidate:
    """A device to inventory this round: what discovery said, or a known camera to recheck."""

    xaddr: str
    xaddrs: tuple[str, ...]
    endpoint: str | None
    source: DiscoverySource
    known_id: str | None = None  # set for rechecks and for devices we recognise


def candidate_of(message: DiscoveryMessage, known: Sequence[Camera]) -> Candidate | None:
    """The device a discovery message describes, or None when there is nothing to log into."""
    xaddr = message.primary_xaddr
    if xaddr is None or message.kind == "bye":
        return None
    source = {"static": DiscoverySource.STATIC, "hello": DiscoverySource.HELLO}.get(
        message.kind, DiscoverySource.MULTICAST
    )
    return Candidate(
        xaddr=xaddr,
        xaddrs=message.xaddrs,
        endpoint=message.endpoint,
        source=source,
        known_id=guess_known_id(
            xaddr, message.endpoint, known, static=source is DiscoverySource.STATIC
        ),
    )


def recheck_candidate(camera: Camera) -> Candidate:
    return Candidate(
        xaddr=camera.xaddr,
        xaddrs=camera.xaddrs or (camera.xaddr,),
        endpoint=camera.endpoint,
        source=DiscoverySource.RECHECK,
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


def guess_known_id(
    xaddr: str, endpoint: str | None, known: Sequence[Camera], static: bool = False
) -> str | None:
    """The known camera this device probably is (for its password file), before login.

    By endpoint only where that camera lives (or at a static address): an endpoint is
    public on the LAN, so a device elsewhere that repeats it is not taken at its word.
    """
    host = host_of(xaddr)
    if endpoint:
        same = [c for c in known if c.endpoint == endpoint]
        if len(same) == 1 and own_login_allowed(same[0].id, host, known, static=static):
            return same[0].id
    at = [c for c in known if c.xaddr == xaddr]
    return at[0].id if len(at) == 1 else None


def cameras_from_results(
    results: Sequence[tuple[Candidate, DeviceFacts]],
    known: Sequence[Camera],
    now: float,
    pinned: Iterable[str] = (),
) -> list[Camera]:
    """Give every inventoried device its stable id and build its record (pure).

    ``pinned``: ids of known cameras with a login of their own. Such an id stays with the
    host the camera is bound to: a device elsewhere (not at a static address) that would
    get it by its MAC, serial or endpoint gets an id of its own and the error
    ``identity_unverified`` instead, so none of that camera's credentials follow it.
    """
    pinned_ids = frozenset(pinned)
    discovered = [(c, f) for c, f in results if c.source is not DiscoverySource.RECHECK]
    rechecked = [(c, f) for c, f in results if c.source is DiscoverySource.RECHECK]
    facts_list = [
        IdentityFacts(address=address_of(f.xaddr), mac=f.mac, serial=f.serial, endpoint=c.endpoint)
        for c, f in discovered
    ]
    ids = assign_ids(facts_list, [known_camera(k) for k in known])
    cameras = [
        _verified(_camera(i, c, f, now), c, known, pinned_ids)
        for i, (c, f) in zip(ids, discovered, strict=True)
    ]
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
                [known_camera(k) for k in known],
            )
            camera = _verified(_camera(new_id, candidate, facts, now), candidate, known, pinned_ids)
            if camera.id in claimed:
                continue
            cameras.append(camera)
            claimed.add(camera.id)
            continue
        if candidate.known_id in claimed:
            continue  # it moved (DHCP) and was found at its new address
        previous = known_by_id.get(candidate.known_id)
        cameras.append(_camera(candidate.known_id, candidate, facts, now, previous))
        claimed.add(candidate.known_id)
    return cameras


def _verified(
    camera: Camera, candidate: Candidate, known: Sequence[Camera], pinned: frozenset[str]
) -> Camera:
    """``camera`` itself, or a device that claims a pinned camera's id from another host
    under an id of its own (see :func:`cameras_from_results`)."""
    static = candidate.source is DiscoverySource.STATIC
    host = host_of(camera.xaddr)
    if camera.id not in pinned or own_login_allowed(camera.id, host, known, static=static):
        return camera
    bound = next((host_of(k.xaddr) for k in known if k.id == camera.id), "?")
    error = CameraIdentityUnverified(
        f"device at {camera.address} says it is camera {camera.id}, which is bound to "
        f"{bound}; it gets none of that camera's credentials until it is found at a static "
        "address (cameras.static) or enrolled again"
    )
    return replace(camera, id=at_address(camera.id, camera.address), error=error.info())


def _camera(
    camera_id: str,
    candidate: Candidate,
    facts: DeviceFacts,
    now: float,
    previous: Camera | None = None,
) -> Camera:
    error = None if facts.error is None else facts.error.info()
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
        logins: LoginResolver,
        known: Sequence[Camera] = (),
        *,
        recheck_known: bool = False,
        options: RoundOptions | None = None,
        on_camera: Callable[[str, DeviceFacts], None] | None = None,
    ) -> None:
        opts = options or RoundOptions()
        self.logins = logins
        self.known = list(known)
        self.recheck_known = recheck_known
        self.on_camera = on_camera
        self.started_at = time.time()
        shared = _credentials(logins(None))
        self.pinned = frozenset(
            camera.id for camera in self.known if _credentials(logins(camera.id)) != shared
        )
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
            login = self.logins(candidate.known_id)
            retry = self._retry_login(candidate, login)
            target = InventoryTarget(
                candidate.xaddr,
                login.username,
                login.password,
                candidate,
                retry,
                media_hosts=login.media_hosts,
            )
            job = self._jobs[key] = self._pool.submit(target)
        return job

    def _retry_login(self, candidate: Candidate, tried: CameraLogin) -> RetryLogin:
        """Other credentials for a device that refused ``tried`` (runs on the pool): only
        those of cameras the trust model lets go to this device's host."""
        address = address_of(candidate.xaddr)
        host = host_of(candidate.xaddr)
        static = candidate.source is DiscoverySource.STATIC
        known = [known_camera(camera) for camera in self.known]

        def retry(anonymous: AnonymousIdentity) -> FallbackLogin | None:
            facts = IdentityFacts(
                address, mac=anonymous.mac, serial=anonymous.serial, endpoint=candidate.endpoint
            )
            for camera_id in password_ids(facts, known):
                if not own_login_allowed(camera_id, host, self.known, static=static):
                    log.warning(
                        "camera_login_withheld",
                        where=address,
                        claims=camera_id,
                        reason="that camera is bound to another address",
                    )
                    continue
                login = self.logins(camera_id)
                if login.password is not None and login != tried:
                    return FallbackLogin(
                        login.username, login.password, origin=f"camera-password.{camera_id}"
                    )
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
        cameras = [
            trusted_camera(camera, self.logins(camera.id))
            for camera in cameras_from_results(results, self.known, self.started_at, self.pinned)
        ]
        _warn_about_password_file_names(cameras, [facts for _, facts in results])
        log.info(
            "inventory_round_done",
            cameras=len(cameras),
            failed=sum(1 for c in cameras if c.error),
            wall_s=round(time.time() - self.started_at, 2),
        )
        return cameras


def _credentials(login: CameraLogin) -> tuple[str, str | None]:
    return (login.username, login.password)


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
    logins: LoginResolver,
    known: Sequence[Camera] = (),
    recheck_known: bool = False,
    options: RoundOptions | None = None,
    on_camera: Callable[[str, DeviceFacts], None] | None = None,
) -> list[Camera]:
    """Inventory every discovered (and, with ``recheck_known``, every known) camera."""
    with InventoryRound(
        logins, known, recheck_known=recheck_known, options=options, on_camera=on_camera
    ) as round_:
        return round_.finish(messages)


@dataclass(frozen=True)
class DiscoveryPlan:
    """Where one round looks for cameras."""

    timeout_s: float  # how long discovery listens
    multicast: bool = True
    scan: Sequence[str] = ()  # CIDR ranges probed by unicast
    static: Sequence[DiscoveryMessage] = ()  # configured addresses (see static_message)
    interfaces: Sequence[Interface] | None = None  # None: this host's usable interfaces

    @property
    def probes(self) -> bool:
        return self.multicast or bool(self.scan)


def discovery_round(
    plan: DiscoveryPlan,
    logins: LoginResolver,
    known: Sequence[Camera] = (),
    *,
    recheck_known: bool = False,
    options: RoundOptions | None = None,
    keep_going: bool = False,
    progress: ProgressCallback | None = None,
    on_found: Callable[[DiscoveryMessage], None] | None = None,
    on_listened: Callable[[Sequence[DiscoveryMessage]], None] | None = None,
    on_camera: Callable[[str, DeviceFacts], None] | None = None,
) -> list[Camera]:
    """Discover, and log into every device found (and every static one, and with
    ``recheck_known`` every known camera) while discovery still listens.

    A discovery failure (no usable interface, a bad scan range) raises, or with
    ``keep_going`` is logged while the static and known cameras are still inventoried.
    ``on_found`` sees each device as it answers, ``on_listened`` every message once the
    window closes, ``on_camera`` each inventory as it completes.
    """
    with InventoryRound(
        logins, known, recheck_known=recheck_known, options=options, on_camera=on_camera
    ) as round_:
        for message in plan.static:
            round_.start(message)
        messages: list[DiscoveryMessage] = []
        if plan.probes:

            def found(message: DiscoveryMessage) -> None:
                if on_found is not None:
                    on_found(message)
                round_.start(message)

            try:
                result = discover(
                    plan.timeout_s,
                    multicast=plan.multicast,
                    scan=plan.scan,
                    interfaces=plan.interfaces,
                    progress=progress,
                    on_found=found,
                )
                messages = result.messages()
            except NoNetworkError as error:
                if not keep_going:
                    raise
                log.warning("discovery_no_network", reason=error.message)
            except AgentError as error:
                if not keep_going:
                    raise
                log.warning("discovery_failed", code=error.code, reason=error.message)
        messages += plan.static
        if on_listened is not None:
            on_listened(messages)
        return round_.finish(messages)
