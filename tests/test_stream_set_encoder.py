"""The set_encoder route with real parts.

A fake ONVIF camera (SOAP over HTTP) whose sub-stream encoder is set above the cap, in
front of the fake RTSP camera; discovery's own inventory fills ``AgentState`` exactly as
the daemon's discovery worker does; the StreamManager with ``set_encoder: true`` asks the
camera over ONVIF for H.264 at the cap, copies the sub-stream, and it arrives at a real
nginx-rtmp. A camera that refuses is transcoded instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from agent.capture.discovery import static_message
from agent.capture.encoder import OnvifEncoderControl
from agent.capture.rounds import inventory_round
from agent.config.cameras import EnrolledCamera
from agent.config.streams import StreamsConfig
from agent.model import Camera, CameraLogin
from agent.state import AgentState
from agent.uplink.video.feeds import feeds_from_state
from agent.uplink.video.manager import StreamManager
from testkit.fake_onvif import DEFAULT_PASSWORD, OTHER_PASSWORD, FakeCamera, _Request
from testkit.nginx_rtmp import NginxRtmp, ffprobe, wait_for
from testkit.onvif_fixtures import FakeCameraFactory
from testkit.relay_runner import Running
from testkit.rtsp_camera import RtspCamera

CAP_KBPS = 512
HEAVY_KBPS = 2048  # the camera's sub-stream before the agent asks: H.265 at this bitrate


def inventoried(camera: FakeCamera, password: str = DEFAULT_PASSWORD) -> Camera:
    """The camera as the discovery worker records it (one real ONVIF inventory round)."""
    [record] = inventory_round(
        [static_message(camera.xaddr)], lambda _camera_id: CameraLogin("admin", password)
    )
    assert record.error is None, record.error
    return record


def heavy_camera(
    factory: FakeCameraFactory, rtsp: RtspCamera, persona: str = "generic", **kwargs: object
) -> FakeCamera:
    camera = factory(persona, rtsp_main=rtsp.url("main"), rtsp_sub=rtsp.url("sub"), **kwargs)
    camera.encoders["venc_sub"].encoding = "H265"
    camera.encoders["venc_sub"].bitrate_kbps = HEAVY_KBPS
    return camera


@contextlib.contextmanager
def streaming(
    record: Camera, config: StreamsConfig, password: str = DEFAULT_PASSWORD
) -> Iterator[Running]:
    """The daemon's wiring: discovery's status in AgentState -> feeds -> StreamManager."""
    state = AgentState()
    state.set_camera(record)
    feeds = feeds_from_state(
        [EnrolledCamera(id=record.id, kcps=[{"kcp": "cooking"}])],  # type: ignore[list-item]
        state,
        lambda _camera_id: CameraLogin("admin", password),
    )
    manager = StreamManager(
        config, "s1", state, feeds, "tok", encoder=OnvifEncoderControl(), tick_s=0.25
    )
    run = Running(manager, state)
    run.thread.start()
    try:
        yield run
    finally:
        run.stop()
        assert manager.process_ids() == {}


def encoder_writes(camera: FakeCamera) -> list[_Request]:
    with camera._lock:
        return [r for r in camera.requests if r.operation == "SetVideoEncoderConfiguration"]


@pytest.mark.parametrize("persona", ["generic", "hikvision+skewed"])
def test_camera_encoder_set_over_onvif_then_copied_to_the_ingest(
    persona: str,
    fake_camera_factory: FakeCameraFactory,
    rtsp_camera: RtspCamera,
    nginx_rtmp: NginxRtmp,
) -> None:
    camera = heavy_camera(fake_camera_factory, rtsp_camera, persona)
    record = inventoried(camera)
    # Discovery knows the profile token and, apart from it, the encoder's own token.
    sub = next(p for p in record.profiles if p.encoder_token == "venc_sub")
    assert sub.token == "Profile_2" and sub.bitrate_kbps == HEAVY_KBPS
    if persona != "generic":
        assert record.clock_skew_s is not None and abs(record.clock_skew_s) > 3600
    inventory_requests = len(camera.requests)
    config = StreamsConfig(
        ingest_url=nginx_rtmp.base_url + "/{camera_id}-{kcp}", set_encoder=True, max_kbps=CAP_KBPS
    )
    name = f"{record.id}-cooking"
    with streaming(record, config) as run:
        nginx_rtmp.wait_publishing(name)
        run.wait_state(record.id, "up")
        status = run.status(record.id)
        arrived = ffprobe(nginx_rtmp.url(name))

    # The camera's sub-stream encoder really changed over SOAP; the main one did not.
    writes = encoder_writes(camera)
    assert len(writes) == 1 and writes[0].authenticated
    assert camera.encoders["venc_sub"].bitrate_kbps == CAP_KBPS
    assert camera.encoders["venc_sub"].encoding == "H264"
    assert camera.encoders["venc_main"].bitrate_kbps == 4096
    assert camera.encoders["venc_main"].encoding == "H264"
    # Discovery's media address was used (no GetServices); the clock is read afresh (the
    # box's own may have stepped since discovery measured the skew).
    assert camera.operations()[inventory_requests:] == [
        "GetSystemDateAndTime",
        "GetProfiles",
        "GetVideoEncoderConfiguration",
        "SetVideoEncoderConfiguration",
        "GetVideoEncoderConfiguration",
    ]
    # Copied, not transcoded: the sub-stream's own picture arrives.
    assert status.route == "copy" and status.cap_kbps == CAP_KBPS
    assert (arrived["codec_name"], arrived["width"], arrived["height"]) == ("h264", 640, 360)
    # No login was refused on the way (a skewed clock is corrected by the skew).
    assert not [r for r in camera.requests if r.refused]


class RefusingCamera(FakeCamera):
    """A camera whose ONVIF user may watch but not configure (a Fault on the write)."""

    def _op_SetVideoEncoderConfiguration(self, request: object, path: str) -> tuple[int, str]:
        return 400, self._fault(
            "s:Sender", "ter:OperationProhibited", "Configuration not permitted for this user"
        )


@pytest.mark.parametrize("refusal", ["fault", "password_changed"])
def test_camera_that_refuses_is_transcoded(
    refusal: str,
    fake_camera_factory: FakeCameraFactory,
    rtsp_camera: RtspCamera,
    nginx_rtmp: NginxRtmp,
) -> None:
    if refusal == "fault":
        camera: FakeCamera = RefusingCamera(
            rtsp_main=rtsp_camera.url("main"), rtsp_sub=rtsp_camera.url("sub"), discovery=False
        ).start()
        camera.encoders["venc_sub"].encoding = "H265"
        camera.encoders["venc_sub"].bitrate_kbps = HEAVY_KBPS
    else:
        camera = heavy_camera(fake_camera_factory, rtsp_camera)
    try:
        record = inventoried(camera)
        if refusal == "password_changed":
            camera.password = OTHER_PASSWORD  # changed on the camera since discovery
        config = StreamsConfig(
            ingest_url=nginx_rtmp.base_url + "/{camera_id}-refused",
            set_encoder=True,
            max_kbps=CAP_KBPS,
        )
        with streaming(record, config) as run:
            wait_for(
                lambda: (s := run.status(record.id)) is not None and s.route == "transcode",
                20,
                what="transcode route",
            )
            nginx_rtmp.wait_publishing(f"{record.id}-refused")
    finally:
        camera.stop()
    assert camera.encoders["venc_sub"].bitrate_kbps == HEAVY_KBPS  # unchanged
    asked = [r.operation for r in camera.requests].count("SetVideoEncoderConfiguration")
    if refusal == "fault":
        assert asked == 1  # asked once, never again
    else:
        assert asked == 0  # GetProfiles was already refused
        assert any(r.refused for r in camera.requests)
