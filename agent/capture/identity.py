"""Stable camera ids: what a camera *is*, not where it happens to be today.

The id comes from the MAC address, else the serial number, else the WS-Discovery endpoint
UUID, else (a static camera we could not log into) its address. So a camera that DHCP moves
keeps its id, and with it its KCP assignments and references.

Cheap cameras with cloned firmware share serials and endpoint UUIDs, and some report no
MAC. Two devices seen in the same round that would get the same id are told apart by where
they are (the only thing that differs), and a device that keeps its address keeps its
disambiguated id. Two devices never collapse into one. Everything here is pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

_NON_ID = re.compile(r"[^A-Za-z0-9_.:-]+")
_MAX_ID = 64

# MACs that identify nothing: unset, broadcast, and values cloned firmwares are known to
# ship with. A multicast (group) MAC is never a device's own address either.
_MEANINGLESS_MACS = {"000000000000", "ffffffffffff", "001122334455", "123456789abc"}
_MEANINGLESS_SERIALS = {
    "",
    "0",
    "00000000",
    "unknown",
    "none",
    "null",
    "n/a",
    "na",
    "serialnumber",
    "123456",
    "12345678",
    "1234567890",
}


@dataclass(frozen=True)
class IdentityFacts:
    """What one device said about itself in one discovery/inventory round."""

    address: str  # where its device service lives now (host or host:port)
    mac: str | None = None
    serial: str | None = None
    endpoint: str | None = None  # WS-Discovery EndpointReference, e.g. urn:uuid:...


@dataclass(frozen=True)
class KnownCamera:
    """A camera from the persisted inventory: its id and the facts it was last seen with."""

    id: str
    address: str | None = None
    mac: str | None = None
    serial: str | None = None
    endpoint: str | None = None


def normalize_mac(mac: str | None) -> str | None:
    """``00:1A:2b-3C.4d5E`` → ``001a2b3c4d5e``; None when it identifies nothing."""
    if not mac:
        return None
    digits = re.sub(r"[^0-9a-fA-F]", "", mac).lower()
    if len(digits) != 12 or digits in _MEANINGLESS_MACS:
        return None
    if int(digits[1], 16) & 1:
        return None  # group (multicast) bit set
    return digits


def format_mac(mac: str | None) -> str | None:
    """``001a2b3c4d5e`` → ``00:1a:2b:3c:4d:5e`` (for people); None stays None."""
    digits = normalize_mac(mac)
    if digits is None:
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_serial(serial: str | None) -> str | None:
    if serial is None:
        return None
    value = serial.strip()
    if value.lower() in _MEANINGLESS_SERIALS or set(value) <= {"0"}:
        return None
    return value


def normalize_endpoint(endpoint: str | None) -> str | None:
    if not endpoint:
        return None
    value = endpoint.strip().lower()
    for prefix in ("urn:uuid:", "uuid:"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    return value or None


def _clean(text: str) -> str:
    return _NON_ID.sub("-", text).strip("-")


def base_id(facts: IdentityFacts) -> str:
    """The id a device gets when nothing else on the network claims it."""
    mac = normalize_mac(facts.mac)
    if mac:
        return f"mac-{mac}"
    serial = normalize_serial(facts.serial)
    if serial:
        return _fit(f"sn-{_clean(serial)}", serial)
    endpoint = normalize_endpoint(facts.endpoint)
    if endpoint:
        return _fit(f"uuid-{_clean(endpoint)}", endpoint)
    return _fit(f"addr-{_clean(facts.address)}", facts.address)


def _fit(candidate: str, source: str) -> str:
    if len(candidate) <= _MAX_ID and candidate.strip("-") and not candidate.endswith("-"):
        return candidate
    digest = hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()[:10]
    return f"{candidate[: _MAX_ID - 11].rstrip('-')}-{digest}"


def at_address(base: str, address: str) -> str:
    """A clone's id: its shared id plus a short, stable tag of its address."""
    tag = hashlib.sha1(address.encode("utf-8"), usedforsecurity=False).hexdigest()[:6]
    return f"{base[: _MAX_ID - 7]}-{tag}"


def _strong(facts: IdentityFacts) -> bool:
    return normalize_mac(facts.mac) is not None or normalize_serial(facts.serial) is not None


def _matches_known(facts: IdentityFacts, known: KnownCamera) -> bool:
    mac = normalize_mac(facts.mac)
    if mac is not None and mac == normalize_mac(known.mac):
        return True
    endpoint = normalize_endpoint(facts.endpoint)
    return endpoint is not None and endpoint == normalize_endpoint(known.endpoint)


def assign_ids(devices: Sequence[IdentityFacts], known: Sequence[KnownCamera] = ()) -> list[str]:
    """One id per device of this round (same order), unique within the round.

    Rules, in order:
    1. A device that could not tell us its MAC or serial (login failed) reuses the id of
       the known camera with the same endpoint UUID, else the one at the same address, so
       a wrong password does not make a camera look new.
    2. Devices whose ids collide (clones) are told apart by address; the one still at the
       address a known camera had keeps that camera's id.
    3. Otherwise the id is :func:`base_id`: MAC, serial, endpoint UUID, address.
    """
    known_by_id: Mapping[str, KnownCamera] = {k.id: k for k in known}
    candidates: list[str] = []
    for facts in devices:
        candidate = base_id(facts)
        if not _strong(facts):
            candidate = _reuse_weak(facts, candidate, known)
        candidates.append(candidate)

    groups: dict[str, list[int]] = {}
    for index, candidate in enumerate(candidates):
        groups.setdefault(candidate, []).append(index)

    ids = list(candidates)
    for candidate, members in groups.items():
        if len(members) == 1:
            continue
        keeper = _keeper(candidate, members, devices, known_by_id.get(candidate))
        for index in members:
            if index != keeper:
                ids[index] = at_address(candidate, devices[index].address)

    # A disambiguated id can collide with nothing in practice (different addresses give
    # different tags), but two entries for the very same address are one device reported
    # twice; keep them distinct anyway so the caller never loses a row.
    seen: dict[str, int] = {}
    for index, value in enumerate(ids):
        if value in seen:
            seen[value] += 1
            ids[index] = f"{value[: _MAX_ID - 3]}-{seen[value]}"
        else:
            seen[value] = 0
    return ids


def _keeper(
    candidate: str,
    members: Sequence[int],
    devices: Sequence[IdentityFacts],
    previous: KnownCamera | None,
) -> int | None:
    """Which of several devices claiming ``candidate`` keeps it (None: nobody can)."""
    # The device that *is* that id by its own MAC/serial beats one that borrowed it.
    owners = [i for i in members if _strong(devices[i]) and base_id(devices[i]) == candidate]
    if len(owners) == 1:
        return owners[0]
    if previous is not None:
        pool = owners or list(members)
        at_old_address = [i for i in pool if devices[i].address == previous.address]
        if len(at_old_address) == 1:
            return at_old_address[0]
    return None


def _reuse_weak(facts: IdentityFacts, candidate: str, known: Sequence[KnownCamera]) -> str:
    by_endpoint = [k for k in known if _matches_known(facts, k)]
    if len(by_endpoint) == 1:
        return by_endpoint[0].id
    by_address = [k for k in known if k.address and k.address == facts.address]
    if len(by_endpoint) > 1:
        # Clones sharing an endpoint UUID: the one at this address is the right one.
        chosen = [k for k in by_endpoint if k in by_address]
        return chosen[0].id if len(chosen) == 1 else candidate
    if len(by_address) == 1 and (
        by_address[0].endpoint is None or normalize_endpoint(facts.endpoint) is None
    ):
        return by_address[0].id
    return candidate


def password_ids(facts: IdentityFacts, known: Sequence[KnownCamera] = ()) -> list[str]:
    """Ids whose own password file (``camera-password.<id>``) may be this device's, best
    first, from what is known before a login: the saved inventory's camera with the same
    MAC, serial, endpoint UUID or address, and the ids those facts give on their own.

    The MAC (the id most cameras end up with) and the serial usually need a login, so
    for most cameras only the endpoint (``uuid-...``), the address (``addr-...``) and the
    saved inventory are there to go on: a file named after a ``mac-...`` id is found on
    first contact only when the camera tells its MAC without a login, or when the saved
    inventory already knows it.
    """
    mac = normalize_mac(facts.mac)
    serial = normalize_serial(facts.serial)
    endpoint = normalize_endpoint(facts.endpoint)
    ids: list[str] = []

    def add(match: Callable[[KnownCamera], bool], alone: IdentityFacts) -> None:
        same = [k.id for k in known if match(k)]
        for camera_id in (same if len(same) == 1 else []) + [base_id(alone)]:
            if camera_id not in ids:
                ids.append(camera_id)

    if mac is not None:
        add(lambda k: normalize_mac(k.mac) == mac, IdentityFacts(facts.address, mac=mac))
    if serial is not None:
        add(
            lambda k: normalize_serial(k.serial) == serial,
            IdentityFacts(facts.address, serial=serial),
        )
    if endpoint is not None:
        add(
            lambda k: normalize_endpoint(k.endpoint) == endpoint,
            IdentityFacts(facts.address, endpoint=facts.endpoint),
        )
    if facts.address:
        add(lambda k: k.address == facts.address, IdentityFacts(facts.address))
    return ids
