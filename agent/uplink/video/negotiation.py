"""A camera's route to the ingest, asking the camera to re-encode when that helps.

The one slow call the streams worker could make — asking a camera over ONVIF to re-encode
its sub-stream (the ``set_encoder`` route, seconds against a slow camera) — runs on a
short-lived thread of its own. The loop picks the answer up on a later tick and starts the
ffmpeg itself, so one slow camera never holds up the supervision of the others, and no
process is ever started from that short-lived thread (``PR_SET_PDEATHSIG`` follows the
thread that forked the child).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace

import structlog

from agent.config.streams import StreamsConfig
from agent.errors import AgentError, CameraTimeout
from agent.model import CameraLogin, EncoderControl, EncoderRequest, MediaProfile, RouteName
from agent.uplink.video.feeds import CameraFeed
from agent.uplink.video.routes import Route, choose_route

log = structlog.get_logger(__name__)

# A set_encoder request still unanswered after this long is given up (transcode instead).
# onvif_encoder_setter bounds its own SOAP exchange well below it; this is the backstop.
SET_ENCODER_DEADLINE_S = 30.0


class RoutePlanner:
    """One camera's route; owned by the streams worker's loop (not thread-safe)."""

    def __init__(
        self,
        config: StreamsConfig,
        scheme: str,
        encoder: EncoderControl | None,
        wake: Callable[[], None],
    ) -> None:
        self.config = config
        self.scheme = scheme
        self.encoder = encoder
        self.wake = wake
        self.route: Route | None = None  # the last route chosen
        self.encoder_failed = False  # asked once and it did not help: never ask again
        self.encoder_profile: MediaProfile | None = None  # the sub-stream after set_encoder
        self.encoder_job: Future[MediaProfile] | None = None  # the camera being asked
        self.encoder_job_at = 0.0

    def profiles_changed(self) -> None:
        """Discovery saw new profiles: what set_encoder produced is no longer known."""
        self.encoder_profile = None

    def ask_again(self) -> None:
        """Ops restarted the stream: ask the camera again (e.g. it was given the right)."""
        self.encoder_failed = False

    def choose(self, feed: CameraFeed, cap_kbps: int, now: float) -> Route:
        """The route now; a ``set_encoder`` route means the camera is being asked.

        Raises :class:`agent.uplink.video.routes.NoRoute`.
        """
        profiles = list(feed.profiles)
        if self.encoder_profile is not None:
            profiles = [
                self.encoder_profile if p.token == self.encoder_profile.token else p
                for p in profiles
            ]
        route = self._choose(feed, profiles, cap_kbps)
        if route.name is RouteName.SET_ENCODER:
            route = self._encoder_step(feed, route, profiles, cap_kbps, now)
        if self.route is None or (self.route.name, self.route.profile.token) != (
            route.name,
            route.profile.token,
        ):
            log.info(
                "stream_route",
                camera_id=feed.camera_id,
                route=route.name,
                profile=route.profile.token,
                cap_kbps=cap_kbps,
                reason=route.reason,
            )
        self.route = route
        return route

    def _choose(self, feed: CameraFeed, profiles: list[MediaProfile], cap_kbps: int) -> Route:
        camera = feed.camera
        return choose_route(
            profiles,
            cap_kbps,
            self.scheme,
            set_encoder=self.config.set_encoder
            and self.encoder is not None
            and camera is not None
            and bool(camera.xaddr),
            encoder_failed=self.encoder_failed,
            transcode_height=self.config.transcode_height,
            transcode_fps=self.config.transcode_fps,
        )

    def _encoder_step(
        self,
        feed: CameraFeed,
        route: Route,
        profiles: list[MediaProfile],
        cap_kbps: int,
        now: float,
    ) -> Route:
        """Ask the camera (once, off the loop); its answer decides between copy and transcode.

        Returns ``route`` itself while the camera has not answered.
        """
        assert route.encoder is not None
        job = self.encoder_job
        if job is None:
            self.encoder_job = self._ask_camera(feed, route.encoder)
            self.encoder_job_at = now
            log.info(
                "stream_set_encoder",
                camera_id=feed.camera_id,
                profile=route.encoder.profile_token,
                kbps=route.encoder.kbps,
            )
            return route
        updated: MediaProfile | None = None
        if not job.done():
            if now - self.encoder_job_at < SET_ENCODER_DEADLINE_S:
                return route
            log.warning(
                "stream_set_encoder_failed",
                camera_id=feed.camera_id,
                error=CameraTimeout(f"no answer within {SET_ENCODER_DEADLINE_S:g} s").to_dict(),
            )
        else:
            try:
                updated = job.result()
            except AgentError as error:
                log.warning(
                    "stream_set_encoder_failed", camera_id=feed.camera_id, error=error.to_dict()
                )
            except Exception:
                log.exception("stream_set_encoder_failed", camera_id=feed.camera_id)
        self.encoder_job = None
        if updated is not None:
            self.encoder_profile = replace(
                updated, rtsp_uri=updated.rtsp_uri or route.profile.rtsp_uri
            )
            profiles = [self.encoder_profile if p.token == updated.token else p for p in profiles]
        self.encoder_failed = True  # copy now if it fits, else transcode: never ask again
        return self._choose(feed, profiles, cap_kbps)

    def _ask_camera(self, feed: CameraFeed, request: EncoderRequest) -> Future[MediaProfile]:
        """Ask the camera side on a thread of its own; the future holds its answer.

        The thread only talks SOAP: it never starts a process (see the module docstring).
        """
        encoder, camera = self.encoder, feed.camera
        assert encoder is not None and camera is not None
        login = feed.login or CameraLogin("", None)
        future: Future[MediaProfile] = Future()

        def ask() -> None:
            try:
                future.set_result(encoder.set_sub_stream(camera, login, request))
            except BaseException as error:  # delivered to the loop through the future
                future.set_exception(error)
            finally:
                self.wake()  # pick the answer up now rather than at the next tick

        threading.Thread(target=ask, name=f"set-encoder-{feed.camera_id}", daemon=True).start()
        return future
