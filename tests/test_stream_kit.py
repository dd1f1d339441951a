"""The shared video test kit itself: the fake camera serves what it claims, the ingest sees it."""

from __future__ import annotations

import subprocess

import pytest

from testkit.nginx_rtmp import NginxRtmp, ffprobe
from testkit.rtsp_camera import SUB_360P, RtspCamera, spawn, stop_process
from testkit.video_fixtures import CameraFactory


def test_camera_serves_1080p_main_and_360p_sub(rtsp_camera: RtspCamera) -> None:
    main = ffprobe(rtsp_camera.url("main"))
    sub = ffprobe(rtsp_camera.url("sub"))
    assert (main["codec_name"], main["width"], main["height"]) == ("h264", 1920, 1080)
    assert (sub["codec_name"], sub["width"], sub["height"]) == ("h264", 640, 360)
    assert {p["token"] for p in rtsp_camera.profiles()} == {"main", "sub"}


def test_camera_with_credentials_refuses_anonymous_clients(
    rtsp_camera_factory: CameraFactory,
) -> None:
    camera = rtsp_camera_factory({"sub": SUB_360P}, credentials=("admin", "kitchen-pw-1"))
    assert ffprobe(camera.url("sub"))["codec_name"] == "h264"
    with pytest.raises(AssertionError, match="401"):
        ffprobe(camera.url("sub", with_credentials=False))


def test_looped_clip_reaches_the_ingest_with_its_bitrate(
    rtsp_camera: RtspCamera, nginx_rtmp: NginxRtmp
) -> None:
    relay = spawn(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            rtsp_camera.url("sub"),
            "-c",
            "copy",
            "-f",
            "flv",
            nginx_rtmp.url("kit-check"),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        stream = nginx_rtmp.wait_video("kit-check")
        assert (stream.codec, stream.width, stream.height) == ("H264", 640, 360)
        kbps = nginx_rtmp.measure_kbps("kit-check", window_s=4)
        assert 200 < kbps < 600
    finally:
        stop_process(relay)
