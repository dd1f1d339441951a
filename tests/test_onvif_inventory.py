"""ONVIF inventory against fake cameras over real HTTP: vendors, clocks, failures."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest

from agent.capture import onvif
from agent.capture.onvif import (
    InventoryTarget,
    classify_error,
    inventory_device,
    inventory_many,
    parse_camera_clock,
    posix_tz_offset,
    set_h264_cbr,
)
from agent.errors import CameraAuthFailed
from testkit.fake_onvif import DEFAULT_PASSWORD, OTHER_PASSWORD, FakeCamera
from testkit.onvif_fixtures import FakeCameraFactory


def inventory(
    camera: FakeCamera,
    password: str | None = DEFAULT_PASSWORD,
    timeout_s: float = 5.0,
    request_timeout_s: float = 2.0,
) -> onvif.DeviceFacts:
    return inventory_device(camera.xaddr, "admin", password, timeout_s, request_timeout_s)


def test_generic_camera_full_inventory(fake_camera_factory: FakeCameraFactory) -> None:
    camera = fake_camera_factory(
        "generic", rtsp_main="rtsp://127.0.0.1:8554/main", rtsp_sub="rtsp://127.0.0.1:8554/sub"
    )
    facts = inventory(camera)
    assert facts.error is None
    assert (facts.manufacturer, facts.model, facts.serial) == ("Generic", "IPC-1080", camera.serial)
    assert facts.firmware == "V1.0.0 build 230101"
    assert facts.mac == camera.mac
    assert facts.services_from == "GetServices"
    assert facts.media_xaddr == f"http://127.0.0.1:{camera.port}/onvif/media_service"
    main, sub = facts.profiles
    assert (main.token, main.encoding, main.width, main.height, main.fps) == (
        "Profile_1",
        "H264",
        1920,
        1080,
        25.0,
    )
    assert (main.bitrate_kbps, main.gop, main.encoder_token) == (4096, 50, "venc_main")
    assert main.rtsp_uri == "rtsp://127.0.0.1:8554/main"
    assert sub.rtsp_uri == "rtsp://127.0.0.1:8554/sub"
    assert (sub.width, sub.height) == (640, 360)
    assert main.snapshot_uri == f"http://127.0.0.1:{camera.port}/onvif/snapshot?channel=101"
    assert facts.clock_skew_s is not None and abs(facts.clock_skew_s) <= 1.5
    # The clock is read first, without credentials.
    first = camera.requests[0]
    assert first.operation == "GetSystemDateAndTime" and not first.authenticated
    assert all(r.authenticated for r in camera.requests[1:])


def test_hikvision_gets_zulu_created_and_digest(fake_camera_factory: FakeCameraFactory) -> None:
    camera = fake_camera_factory("hikvision")
    facts = inventory(camera)
    assert facts.error is None, facts.error
    assert facts.manufacturer == "HIKVISION"
    created = [r.created for r in camera.requests if r.authenticated]
    assert created and all(c is not None and c.endswith("Z") for c in created)


def test_hikvision_rejects_offset_form_created(fake_camera_factory: FakeCameraFactory) -> None:
    """What onvif-zeep's own token sends (``+00:00``) is refused: the quirk is real."""
    from zeep.wsse.username import UsernameToken

    camera = fake_camera_factory("hikvision")
    session = onvif.CameraSession(camera.xaddr, "admin", DEFAULT_PASSWORD, 5.0, 2.0)
    session.read_clock()
    session._device = session._client("devicemgmt.wsdl", False).create_service(
        onvif.DEVICE_BINDING, camera.xaddr
    )
    session._device._client.wsse = UsernameToken("admin", DEFAULT_PASSWORD, use_digest=True)
    with pytest.raises(CameraAuthFailed):
        session.call("device", "GetDeviceInformation")
    assert camera.requests[-1].created is not None
    assert camera.requests[-1].created.endswith("+00:00")
    session.close()


def test_skewed_clock_hours_off_still_authenticates(fake_camera_factory: FakeCameraFactory) -> None:
    camera = fake_camera_factory("hikvision+skewed")
    facts = inventory(camera)
    assert facts.error is None, facts.error
    expected = camera.behaviour.clock_offset_s
    assert facts.clock_skew_s is not None and abs(facts.clock_skew_s - expected) <= 1.5
    assert len(facts.profiles) == 2


def test_without_skew_correction_the_skewed_camera_refuses(
    fake_camera_factory: FakeCameraFactory,
) -> None:
    camera = fake_camera_factory("skewed")
    session = onvif.CameraSession(
        camera.xaddr, "admin", DEFAULT_PASSWORD, 5.0, 2.0, clock_skew_s=0.0
    )
    with pytest.raises(CameraAuthFailed):
        session.call("device", "GetDeviceInformation")
    assert camera.requests[-1].refused == "Created is too far from the camera clock"
    session.close()


def test_dahua_falls_back_to_get_capabilities(fake_camera_factory: FakeCameraFactory) -> None:
    camera = fake_camera_factory("dahua")
    facts = inventory(camera)
    assert facts.error is None
    assert facts.services_from == "GetCapabilities"
    ops = camera.operations()
    assert ops.index("GetServices") < ops.index("GetCapabilities")
    assert len(facts.profiles) == 2


@pytest.mark.parametrize(
    ("persona", "password", "code", "words"),
    [
        ("other_password", DEFAULT_PASSWORD, "auth_failed", "username or password"),
        ("generic", None, "auth_failed", "no camera password"),
        ("garbage", DEFAULT_PASSWORD, "bad_response", "broken XML"),
        ("not_onvif", DEFAULT_PASSWORD, "not_onvif", "not an ONVIF"),
    ],
)
def test_failures_map_to_plain_per_camera_errors(
    fake_camera_factory: FakeCameraFactory,
    persona: str,
    password: str | None,
    code: str,
    words: str,
) -> None:
    camera = fake_camera_factory(persona)
    facts = inventory(camera, password=password)
    assert facts.error is not None
    assert facts.error.code == code
    assert words in facts.error.message
    assert f"127.0.0.1:{camera.port}" in facts.error.message
    for secret in (DEFAULT_PASSWORD, OTHER_PASSWORD):
        assert secret not in facts.error.message


def test_hanging_camera_times_out_within_the_bound(fake_camera_factory: FakeCameraFactory) -> None:
    camera = fake_camera_factory("hang")
    started = time.monotonic()
    facts = inventory(camera, timeout_s=2.0, request_timeout_s=1.0)
    assert time.monotonic() - started < 2.5
    assert facts.error is not None and facts.error.code == "timeout"


def test_nothing_listening_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    facts = inventory_device(
        f"http://127.0.0.1:{port}/onvif/device_service", "admin", DEFAULT_PASSWORD, 3.0, 1.0
    )
    assert facts.error is not None and facts.error.code == "unreachable"
    assert "refused" in facts.error.message


def test_many_cameras_concurrently_with_shared_wsdls(
    fake_camera_factory: FakeCameraFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zeep.wsdl import Document

    onvif.warm_up()
    parsed: list[str] = []
    original_init = Document.__init__

    def counting_init(self: object, location: object, *args: object, **kwargs: object) -> None:
        parsed.append(str(location))
        original_init(self, location, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Document, "__init__", counting_init)
    personas = ["generic", "hikvision", "dahua", "skewed", "other_password", "hang"] + [
        "generic"
    ] * 10
    cameras = [fake_camera_factory(p) for p in personas]
    targets = [InventoryTarget(c.xaddr, "admin", DEFAULT_PASSWORD, key=c) for c in cameras]
    started = time.monotonic()
    run = inventory_many(targets, concurrency=16, timeout_s=2.0, request_timeout_s=1.0)
    wall = time.monotonic() - started
    assert parsed == []  # no camera parsed a WSDL again
    assert wall < 3.5
    codes = {
        target.key.persona + str(i): (facts.error.code if facts.error else None)
        for i, (target, facts) in enumerate(run.results)
    }
    assert sorted(c for c in codes.values() if c) == ["auth_failed", "timeout"]
    assert sum(1 for c in codes.values() if c is None) == 14


def test_set_h264_cbr_reconfigures_the_sub_stream(fake_camera_factory: FakeCameraFactory) -> None:
    camera = fake_camera_factory("hikvision+skewed")
    camera.encoders["venc_sub"].encoding = "H265"
    applied = set_h264_cbr(
        camera.xaddr, "Profile_2", 384, username="admin", password=DEFAULT_PASSWORD, fps=12, gop=24
    )
    sub = camera.encoders["venc_sub"]
    assert (sub.encoding, sub.bitrate_kbps, sub.fps, sub.gov) == ("H264", 384, 12, 24)
    assert (applied.encoding, applied.bitrate_kbps, applied.fps, applied.gop) == (
        "H264",
        384,
        12.0,
        24,
    )
    assert (applied.width, applied.height) == (640, 360)
    assert camera.encoders["venc_main"].bitrate_kbps == 4096  # main stream untouched


def test_set_h264_cbr_after_the_box_clock_stepped(fake_camera_factory: FakeCameraFactory) -> None:
    # The skew saved at inventory was measured before NTP stepped the box's clock (here by
    # ten days): a camera that allows 5 s of skew still takes the login.
    camera = fake_camera_factory("hikvision+skewed")
    measured = onvif.CameraSession(camera.xaddr, "admin", DEFAULT_PASSWORD, 5.0).read_clock()
    assert measured is not None
    applied = set_h264_cbr(
        camera.xaddr,
        "Profile_2",
        448,
        username="admin",
        password=DEFAULT_PASSWORD,
        clock_skew_s=measured + 10 * 86400,
    )
    assert applied.bitrate_kbps == 448 == camera.encoders["venc_sub"].bitrate_kbps


def test_set_h264_cbr_wrong_password(fake_camera_factory: FakeCameraFactory) -> None:
    camera = fake_camera_factory("other_password")
    with pytest.raises(CameraAuthFailed):
        set_h264_cbr(camera.xaddr, "Profile_2", 384, username="admin", password=DEFAULT_PASSWORD)


# --- pure helpers --------------------------------------------------------------------------

STANDARD = b"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">
<s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>
<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>
<tt:UTCDateTime><tt:Date><tt:Year>2024</tt:Year><tt:Month>3</tt:Month><tt:Day>9</tt:Day>
</tt:Date><tt:Time><tt:Hour>4</tt:Hour><tt:Minute>5</tt:Minute><tt:Second>6</tt:Second>
</tt:Time></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>
</s:Body></s:Envelope>"""


def test_parse_camera_clock_standard_and_hikvision_order() -> None:
    expected = dt.datetime(2024, 3, 9, 4, 5, 6, tzinfo=dt.UTC)
    assert parse_camera_clock(STANDARD) == expected
    hikvision = FakeCamera(persona="hikvision", clock_offset_s=0)
    status, xml = hikvision._op_GetSystemDateAndTime(None, "")  # type: ignore[arg-type]
    assert status == 200 and xml.index("<tt:Date>") < xml.index("<tt:Time>")
    parsed = parse_camera_clock(xml.encode())
    assert parsed is not None
    assert abs((parsed - dt.datetime.now(dt.UTC)).total_seconds()) < 2


def test_parse_camera_clock_local_time_fallback() -> None:
    local_only = STANDARD.replace(b"UTCDateTime", b"LocalDateTime")
    assert parse_camera_clock(local_only) == dt.datetime(2024, 3, 8, 20, 5, 6, tzinfo=dt.UTC)
    assert parse_camera_clock(b"<broken") is None
    assert parse_camera_clock(STANDARD.replace(b"<tt:Month>3", b"<tt:Month>13")) is None


@pytest.mark.parametrize(
    ("tz", "hours"),
    [
        ("CST-8", -8),
        ("CST-8:00:00", -8),
        ("GMT+05:30", 5.5),
        ("UTC0", 0),
        ("EST5EDT", 5),
        ("<+08>-8", -8),
        ("UTC", 0),
    ],
)
def test_posix_tz_offset(tz: str, hours: float) -> None:
    assert posix_tz_offset(tz) == dt.timedelta(hours=hours)


def test_classify_faults() -> None:
    from zeep.exceptions import Fault

    assert (
        classify_error(
            Fault("Sender not Authorized", subcodes=["ter:NotAuthorized"]),
            "GetProfiles",
            "camera at x",
        ).code
        == "auth_failed"
    )
    assert (
        classify_error(Fault("The message has expired"), "GetProfiles", "camera at x").code
        == "clock_skew"
    )
    assert (
        classify_error(Fault("Optional Action Not Implemented"), "GetProfiles", "camera at x").code
        == "bad_response"
    )
    assert (
        classify_error(
            RuntimeError("rtsp://admin:hunter2@x/"), "GetProfiles", "camera at x"
        ).message.count("hunter2")
        == 0
    )
