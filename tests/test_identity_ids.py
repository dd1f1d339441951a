"""Stable camera ids: MAC, else serial, else endpoint UUID; DHCP moves; cloned firmware."""

from __future__ import annotations

import random
import re

import pytest

from agent.capture.identity import (
    IdentityFacts,
    KnownCamera,
    assign_ids,
    base_id,
    format_mac,
    normalize_mac,
)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")  # EnrolledCamera.id in the config
UUID_A = "urn:uuid:11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("00:1A:2b:3C:4d:5E", "001a2b3c4d5e"),
        ("00-1a-2b-3c-4d-5e", "001a2b3c4d5e"),
        ("001a.2b3c.4d5e", "001a2b3c4d5e"),
        ("00:00:00:00:00:00", None),
        ("ff:ff:ff:ff:ff:ff", None),
        ("01:00:5e:00:00:01", None),  # multicast
        ("00:11:22:33:44:55", None),  # the cloned-firmware classic
        ("00:1a:2b", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_mac(raw: str | None, normal: str | None) -> None:
    assert normalize_mac(raw) == normal


def test_format_mac() -> None:
    assert format_mac("001A2B3C4D5E") == "00:1a:2b:3c:4d:5e"
    assert format_mac("nonsense") is None


def test_id_precedence_mac_serial_endpoint_address() -> None:
    full = IdentityFacts(
        address="192.0.2.10", mac="00:1a:2b:3c:4d:5e", serial="DS123", endpoint=UUID_A
    )
    assert base_id(full) == "mac-001a2b3c4d5e"
    assert base_id(IdentityFacts("192.0.2.10", serial="DS123", endpoint=UUID_A)) == "sn-DS123"
    assert (
        base_id(IdentityFacts("192.0.2.10", mac="00:00:00:00:00:00", serial="0", endpoint=UUID_A))
        == "uuid-11111111-2222-3333-4444-555555555555"
    )
    assert base_id(IdentityFacts("192.0.2.10:8000")) == "addr-192.0.2.10:8000"


@pytest.mark.parametrize(
    "serial",
    [
        "DS-2CD2043G2-I20230101AACH123456789 with spaces/and/slashes",
        "序列号-001",
        "x" * 200,
        "--",
        "a b",
    ],
)
def test_ids_always_fit_the_config_pattern(serial: str) -> None:
    camera_id = base_id(IdentityFacts("192.0.2.10", serial=serial))
    assert ID_PATTERN.match(camera_id), camera_id


def test_dhcp_move_keeps_the_id() -> None:
    known = [KnownCamera("mac-001a2b3c4d5e", "192.0.2.10", mac="001a2b3c4d5e")]
    moved = IdentityFacts("192.0.2.77", mac="00:1A:2B:3C:4D:5E")
    assert assign_ids([moved], known) == ["mac-001a2b3c4d5e"]


def test_camera_with_failed_login_keeps_its_id_by_endpoint_even_after_a_move() -> None:
    known = [KnownCamera("mac-001a2b3c4d5e", "192.0.2.10", mac="001a2b3c4d5e", endpoint=UUID_A)]
    # Wrong password now: no MAC, no serial, only what discovery told us.
    assert assign_ids([IdentityFacts("192.0.2.99", endpoint=UUID_A)], known) == ["mac-001a2b3c4d5e"]


def test_static_camera_with_failed_login_keeps_its_id_by_address() -> None:
    known = [KnownCamera("mac-001a2b3c4d5e", "192.0.2.10", mac="001a2b3c4d5e")]
    assert assign_ids([IdentityFacts("192.0.2.10")], known) == ["mac-001a2b3c4d5e"]


def test_a_different_device_at_an_old_address_is_not_taken_for_the_old_one() -> None:
    known = [KnownCamera("mac-001a2b3c4d5e", "192.0.2.10", mac="001a2b3c4d5e", endpoint=UUID_A)]
    other = IdentityFacts("192.0.2.10", endpoint="urn:uuid:99999999-0000-0000-0000-000000000000")
    assert assign_ids([other], known) == ["uuid-99999999-0000-0000-0000-000000000000"]


def test_clones_sharing_a_serial_never_collapse() -> None:
    a = IdentityFacts("192.0.2.21", serial="CLONE123")
    b = IdentityFacts("192.0.2.22", serial="CLONE123")
    ids = assign_ids([a, b])
    assert len(set(ids)) == 2
    assert all(i.startswith("sn-CLONE123-") for i in ids)
    assert assign_ids([a, b]) == ids  # deterministic
    assert assign_ids([b, a]) == ids[::-1]  # order does not matter


def test_clone_still_at_the_known_address_keeps_the_plain_id() -> None:
    known = [KnownCamera("sn-CLONE123", "192.0.2.21", serial="CLONE123")]
    ids = assign_ids(
        [
            IdentityFacts("192.0.2.22", serial="CLONE123"),
            IdentityFacts("192.0.2.21", serial="CLONE123"),
        ],
        known,
    )
    assert ids[1] == "sn-CLONE123"
    assert ids[0] != "sn-CLONE123" and ids[0].startswith("sn-CLONE123-")


def test_clones_sharing_an_endpoint_uuid_without_mac_or_serial() -> None:
    ids = assign_ids(
        [IdentityFacts("192.0.2.21", endpoint=UUID_A), IdentityFacts("192.0.2.22", endpoint=UUID_A)]
    )
    assert len(set(ids)) == 2


def test_cloned_mac_on_two_devices_is_two_cameras() -> None:
    ids = assign_ids(
        [
            IdentityFacts("192.0.2.21", mac="02:aa:bb:cc:dd:ee"),
            IdentityFacts("192.0.2.22", mac="02:aa:bb:cc:dd:ee"),
        ]
    )
    assert len(set(ids)) == 2


def test_the_camera_that_owns_an_id_beats_one_borrowing_it() -> None:
    # Camera A moved to .50; a new camera B with a wrong password took A's old address .10.
    known = [KnownCamera("mac-001a2b3c4d5e", "192.0.2.10", mac="001a2b3c4d5e")]
    a = IdentityFacts("192.0.2.50", mac="00:1a:2b:3c:4d:5e")
    b = IdentityFacts("192.0.2.10")
    ids = assign_ids([b, a], known)
    assert ids[1] == "mac-001a2b3c4d5e"
    assert ids[0] != ids[1]


def test_ids_are_unique_in_any_round() -> None:
    rng = random.Random(7)
    macs = ["02:00:00:00:00:01", "02:00:00:00:00:02", None, "00:00:00:00:00:00"]
    serials = ["S1", "S2", None, "0"]
    endpoints = [UUID_A, "urn:uuid:22222222-2222-2222-2222-222222222222", None]
    for _ in range(300):
        count = rng.randint(1, 8)
        addresses = rng.sample([f"192.0.2.{n}" for n in range(10, 40)], count)
        devices = [
            IdentityFacts(a, rng.choice(macs), rng.choice(serials), rng.choice(endpoints))
            for a in addresses
        ]
        known = [
            KnownCamera(f"sn-S{n}", f"192.0.2.{rng.randint(10, 40)}", serial=f"S{n}")
            for n in (1, 2)
        ]
        ids = assign_ids(devices, known)
        assert len(set(ids)) == len(devices), (devices, ids)
        assert all(ID_PATTERN.match(i) for i in ids)
