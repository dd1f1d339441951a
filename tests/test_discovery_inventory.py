"""Inventory model: merge rules, transitions, DHCP moves, persistence (pure + files)."""

from __future__ import annotations

from pathlib import Path

from agent.capture.discovery import DiscoveryMessage
from agent.capture.inventory import InventoryStore, mark_bye, merge
from agent.capture.onvif import DeviceFacts
from agent.capture.rounds import Candidate, cameras_from_results, candidates_from
from agent.errors import CameraAuthFailed, CameraTimeout
from agent.model import Camera, DiscoverySource, MediaProfile

PROFILE = MediaProfile(
    token="Profile_1",
    name="Main",
    encoding="H264",
    width=1920,
    height=1080,
    fps=25.0,
    bitrate_kbps=4096,
    gop=50,
    encoder_token="venc",
    rtsp_uri="rtsp://192.0.2.10/main",
)


def camera(cid: str = "mac-020000000001", online: bool = True, **kw: object) -> Camera:
    base: dict[str, object] = {
        "id": cid,
        "address": "192.0.2.10",
        "xaddr": "http://192.0.2.10/onvif/device_service",
        "manufacturer": "Generic",
        "mac": "02:00:00:00:00:01",
        "profiles": (PROFILE,),
        "online": online,
        "first_seen": 1.0,
    }
    base.update(kw)
    return Camera(**base)  # type: ignore[arg-type]


def test_failure_keeps_old_details_and_reports_transition() -> None:
    known = {"mac-020000000001": camera()}
    failed = camera(
        online=False,
        manufacturer=None,
        profiles=(),
        error=CameraTimeout("x").info(),
        first_seen=5.0,
    )
    result = merge(known, [failed], now=10.0, complete=False)
    kept = result.cameras["mac-020000000001"]
    assert kept.manufacturer == "Generic" and kept.profiles == (PROFILE,)
    assert kept.first_seen == 1.0 and not kept.online
    assert [(t.camera_id, t.online) for t in result.transitions] == [("mac-020000000001", False)]


def test_complete_round_marks_missing_cameras_offline_once() -> None:
    known = {"a": camera("a"), "b": camera("b", online=False)}
    result = merge(known, [], now=10.0, complete=True)
    assert [(t.camera_id, t.online) for t in result.transitions] == [("a", False)]
    assert result.cameras["a"].error is not None
    assert merge(known, [], now=10.0, complete=False).transitions == []


def test_new_camera_online_is_a_transition_new_failed_one_is_not() -> None:
    result = merge(
        {}, [camera("a"), camera("b", online=False, error=CameraTimeout("x").info())], 1.0, False
    )
    assert [t.camera_id for t in result.transitions] == ["a"]
    assert result.new_ids == ["a", "b"]


def test_auth_failed_camera_stays_online_and_keeps_its_id_after_a_dhcp_move() -> None:
    known = [camera(endpoint="urn:uuid:abc")]
    moved = Candidate(
        "http://192.0.2.77/onvif/device_service",
        ("http://192.0.2.77/onvif/device_service",),
        "urn:uuid:abc",
        DiscoverySource.MULTICAST,
    )
    facts = DeviceFacts(xaddr=moved.xaddr, error=CameraAuthFailed("wrong password"))
    [result] = cameras_from_results([(moved, facts)], known, now=2.0)
    assert result.id == "mac-020000000001" and result.online
    assert result.address == "192.0.2.77"


def test_recheck_of_old_address_yields_to_the_moved_camera() -> None:
    known = [camera()]
    messages = [
        DiscoveryMessage(
            "probe_match", None, ("http://192.0.2.77/onvif/device_service",), "192.0.2.77"
        )
    ]
    candidates = candidates_from(messages, known, recheck_known=True)
    assert [c.source for c in candidates] == ["multicast", "recheck"]
    found = DeviceFacts(xaddr=candidates[0].xaddr, mac="02:00:00:00:00:01")
    old = DeviceFacts(xaddr=candidates[1].xaddr, error=CameraTimeout("gone"))
    cameras = cameras_from_results([(candidates[0], found), (candidates[1], old)], known, 3.0)
    assert [(c.id, c.address, c.online) for c in cameras] == [
        ("mac-020000000001", "192.0.2.77", True)
    ]


def test_bye_and_store_round_trip(tmp_path: Path) -> None:
    known = {"a": camera("a", endpoint="urn:uuid:abc"), "b": camera("b")}
    [gone] = mark_bye(known, "urn:uuid:abc", "192.0.2.10")
    assert gone.id == "a" and not gone.online
    assert mark_bye(known, "urn:uuid:abc", "192.0.2.66") == []  # only from its own address
    store = InventoryStore(tmp_path)
    store.save(known)
    assert store.load() == known
    (tmp_path / "inventory.json").write_text("{broken")
    assert store.load() == {}
