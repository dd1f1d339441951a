"""The camera side of the ``set_encoder`` route: :class:`agent.model.EncoderControl`
over ONVIF, so the relay can ask for a cheaper sub-stream without knowing ONVIF."""

from __future__ import annotations

from agent.capture.onvif import set_h264_cbr
from agent.errors import CameraBadResponse
from agent.model import Camera, CameraLogin, EncoderRequest, MediaProfile


class OnvifEncoderControl:
    """Sets a camera's sub-stream encoder (Media1 SetVideoEncoderConfiguration).

    Discovery's media address and clock skew spare it GetServices and a clock read. The
    profile token names the media *profile*; its video encoder configuration token is
    looked up (GetProfiles) and that one is written. Blocks for up to set_h264_cbr's
    timeout: the relay calls it off its loop.
    """

    def set_sub_stream(
        self, camera: Camera, login: CameraLogin, request: EncoderRequest
    ) -> MediaProfile:
        if not camera.xaddr:
            raise CameraBadResponse(f"camera {camera.id} has no ONVIF address")
        settings = set_h264_cbr(
            camera.xaddr,
            request.profile_token,
            request.kbps,
            username=login.username,
            password=login.password or "",
            fps=request.fps,
            gop=request.gop,
            media_xaddr=camera.media_xaddr,
            clock_skew_s=camera.clock_skew_s,
            media_hosts=login.media_hosts,
        )
        before = next((p for p in camera.profiles if p.token == request.profile_token), None)
        return MediaProfile(
            token=request.profile_token,
            name=before.name if before is not None else None,
            encoding=settings.encoding,
            width=settings.width,
            height=settings.height,
            fps=settings.fps,
            bitrate_kbps=settings.bitrate_kbps,
            gop=settings.gop,
            encoder_token=settings.encoder_token,
            rtsp_uri=before.rtsp_uri if before is not None else None,
            snapshot_uri=before.snapshot_uri if before is not None else None,
        )
