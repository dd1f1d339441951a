"""Which camera-password.<id> files may belong to a device, before logging into it (pure)."""

from __future__ import annotations

from agent.capture.identity import IdentityFacts, KnownCamera, password_ids

UUID = "urn:uuid:11111111-2222-3333-4444-555555555555"
UUID_ID = "uuid-11111111-2222-3333-4444-555555555555"


def test_what_every_camera_has_without_a_login_endpoint_and_address() -> None:
    assert password_ids(IdentityFacts("192.0.2.10")) == ["addr-192.0.2.10"]
    assert password_ids(IdentityFacts("192.0.2.10:8000", endpoint=UUID)) == [
        UUID_ID,
        "addr-192.0.2.10:8000",
    ]


def test_strongest_evidence_first_and_the_saved_inventory_before_bare_ids() -> None:
    known = [
        KnownCamera("cold-room", address="192.0.2.77", serial="DS-77"),
        KnownCamera("packing", address="192.0.2.10", endpoint="urn:uuid:other"),
    ]
    facts = IdentityFacts("192.0.2.10", mac="02:aa:bb:cc:dd:ee", serial="DS-77", endpoint=UUID)
    assert password_ids(facts, known) == [
        "mac-02aabbccddee",
        "cold-room",  # same serial: it moved
        "sn-DS-77",
        UUID_ID,
        "packing",  # whatever is saved at this address comes last
        "addr-192.0.2.10",
    ]


def test_the_saved_camera_with_the_same_mac_or_endpoint() -> None:
    known = [KnownCamera("mac-02aabbccddee", address="192.0.2.9", mac="02:AA:BB:CC:DD:EE")]
    assert password_ids(IdentityFacts("192.0.2.10", mac="02-aa-bb-cc-dd-ee"), known) == [
        "mac-02aabbccddee",
        "addr-192.0.2.10",
    ]
    by_endpoint = [KnownCamera("cooking", endpoint=UUID.upper())]
    assert password_ids(IdentityFacts("192.0.2.10", endpoint=UUID), by_endpoint)[0] == "cooking"


def test_clones_and_meaningless_values_name_nobody() -> None:
    clones = [KnownCamera("a", serial="DS-1"), KnownCamera("b", serial="DS-1")]
    facts = IdentityFacts("192.0.2.10", mac="00:00:00:00:00:00", serial="DS-1")
    assert password_ids(facts, clones) == ["sn-DS-1", "addr-192.0.2.10"]
    assert password_ids(IdentityFacts("192.0.2.10", serial="0000", mac="ff:ff:ff:ff:ff:ff")) == [
        "addr-192.0.2.10"
    ]
