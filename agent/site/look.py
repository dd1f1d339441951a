"""One look at a camera now, as the daemon would judge it at a sample.

The picture comes the daemon's way (the snapshot URI, else a sub-stream keyframe) and is
judged by the same checks, against the camera's enrolled reference when it has one; each
KCP region is located in it the same way (:func:`agent.capture.coverage.roi_visible_fraction`).
Optionally the camera's RTSP sub-stream is opened and one frame decoded, which proves the
stream a relay would push. A picture judged alone (no reference yet) that reads noisy, or
shows faint bands one picture cannot settle, is taken a second time: two pictures tell
fine texture filling the view from sensor noise, and flicker (it rolls) from the scene's
own pattern (it holds still).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config.quality import QualityConfig
from agent.errors import AgentError, CameraError
from agent.model import (
    NATURAL_VIEW,
    REFERENCE_VETO,
    Camera,
    CameraLogin,
    ErrorInfo,
    LoginResolver,
    QualityIssue,
    Severity,
    Verdict,
    worst_verdict,
)
from agent.site.pictures import Image, Polygon, decode

if TYPE_CHECKING:
    from agent.capture.quality import Undecided

PICTURE_TIMEOUT_S = 8.0
# A picture judged alone that reads noisy, or shows faint bands, is taken again this long
# after: fine texture filling the view (a granite counter, a tray of rice) is in both,
# sensor noise is drawn afresh (``quality.noise_in_time``); flicker rolls, the scene's own
# pattern does not (``quality.bands_in_time``). Apart by a second, so that neither a
# snapshot the camera caches briefly nor its temporal noise reduction makes the two alike.
SECOND_PICTURE_AFTER_S = 1.0
# How what one frame cannot settle (Look.to_check) is put to the installer, who can.
CHECK_ON_SITE = "check on site, one picture cannot tell"


@dataclass
class Look:
    """What one camera showed, and how it was judged."""

    camera_id: str
    image: Image | None = None  # the picture now (BGR, as the camera sent it)
    error: ErrorInfo | None = None  # why there is no picture
    issues: tuple[QualityIssue, ...] = ()
    roi_visible: dict[str, float | None] = field(default_factory=dict)  # kcp -> share
    reference: Image | None = None  # the enrolled view, when judged against one
    stream: tuple[bool, str] | None = None  # the RTSP sub-stream decoded: (ok, what)
    # What keeps the picture, judged alone, from being a reference (a fogged lens reads
    # fine against a fogged reference); and the same of the stored reference itself.
    vetoed: list[str] = field(default_factory=list)
    reference_vetoed: list[str] = field(default_factory=list)
    # What the picture judged alone shows but one frame cannot settle (a soft picture, a
    # featureless area, faint bands); put to the installer as ``to_check``.
    notes: tuple[Undecided, ...] = ()
    # Where the reference lies in the picture: reference pixels -> picture pixels, both at
    # the reference's analysis size (None: not matched, or no reference).
    homography: list[list[float]] | None = None
    reference_size: tuple[int, int] | None = None
    took_s: float = 0.0

    @property
    def to_check(self) -> tuple[str, ...]:
        """The notes as put to the installer, without "cannot judge without a reference":
        at enrolment a person on site can settle them, and this picture becomes the
        reference."""
        from agent.capture.quality import WITHOUT_REFERENCE

        return tuple(note.reason.removesuffix(f"; {WITHOUT_REFERENCE}") for note in self.notes)

    @property
    def verdict(self) -> Verdict:
        return Verdict.UNKNOWN if self.image is None else worst_verdict(self.issues)

    @property
    def passes(self) -> bool:
        """A picture with no fail-level issue (a warning still covers, as in the daemon)."""
        return self.image is not None and not self.failing()

    def failing(self) -> list[str]:
        """What keeps the camera from covering its KCPs: fail-level issues, and a picture
        that could not be a reference (judged against a bad reference it looks fine)."""
        failing = [i.code for i in self.issues if i.severity is Severity.FAIL]
        return list(dict.fromkeys([*failing, *self.vetoed]))

    def in_view(self, kcp: str, min_visible: float) -> bool:
        share = self.roi_visible.get(kcp)
        return share is None or share >= min_visible


def take_picture(camera: Camera, login: CameraLogin | None, timeout_s: float) -> Image:
    """The camera's picture now, the daemon's way. Raises a CameraError subclass."""
    from agent.capture.acquire import acquire_jpeg
    from agent.errors import FrameUnavailable

    body = acquire_jpeg(camera, login, timeout_s)
    try:
        return decode(body)
    except ValueError:
        raise FrameUnavailable(f"camera {camera.id} sent a picture that cannot be read") from None


def refusal(issues: Iterable[QualityIssue], accept_view: bool = False) -> list[str]:
    """The issues that keep a picture from becoming a camera's reference."""
    veto = REFERENCE_VETO - NATURAL_VIEW if accept_view else REFERENCE_VETO
    return [issue.code for issue in issues if issue.code in veto]


def judge(
    look: Look,
    image: Image,
    reference_dir: Path | None,
    rois: Mapping[str, Polygon | None],
    settings: QualityConfig,
    accept_view: bool = False,
) -> None:
    """Judge ``image`` into ``look``: against the stored reference under ``reference_dir``
    (the state directory) when there is one, and locate each KCP region."""
    from agent.capture.coverage import roi_visible_fraction
    from agent.capture.quality import analyse, prepare
    from agent.capture.reference import ReferenceStore

    width = settings.analysis_width
    stored = (
        ReferenceStore(reference_dir).load(look.camera_id, width)
        if reference_dir is not None
        else None
    )
    reference = stored.reference if stored is not None else None
    frame = prepare(image, width)
    report = analyse(frame, settings, reference)
    look.image = image
    look.issues = tuple(report.issues)
    alone = report if stored is None else analyse(frame, settings)
    look.vetoed = refusal(alone.issues, accept_view)
    look.notes = alone.undecided
    if stored is None:
        look.roi_visible = dict.fromkeys(rois)
        return
    look.reference = stored.image
    look.reference_vetoed = refusal(analyse(stored.reference.frame, settings).issues, accept_view)
    size = stored.reference.frame.size
    look.roi_visible = {
        kcp: None if not roi else roi_visible_fraction(roi, report.match, size, report.blocked)
        for kcp, roi in rois.items()
    }


def settle_over_time(look: Look, first: Image, second: Image, settings: QualityConfig) -> None:
    """``look``, judged alone on ``first``, settled by ``second``, taken a second later:
    ``noisy`` withdrawn when the two differ by too little for it to be the sensor's noise
    (``settle_noise``), and faint bands the installer was asked to check raised as
    ``stripes`` when they moved between the two (``rolling_stripes``: flicker or
    interference; the scene's own pattern holds still)."""
    from agent.capture.quality import noise_in_time, prepare, rolling_stripes, settle_noise

    width = settings.analysis_width
    frames = [prepare(first, width), prepare(second, width)]
    issues = settle_noise(look.issues, noise_in_time(frames), settings)
    if any(note.code == "stripes" for note in look.notes):
        rolling = rolling_stripes(frames, settings)
        if rolling is not None:
            issues.append(rolling)
            look.notes = tuple(note for note in look.notes if note.code != "stripes")
    look.issues = tuple(issues)


def open_stream(camera: Camera, login: CameraLogin | None, timeout_s: float) -> tuple[bool, str]:
    """Open the camera's RTSP sub-stream and decode one frame: (ok, what happened). The
    URI is followed only where the trust model allows (:mod:`agent.trust`)."""
    from agent.capture.acquire import sub_stream_frame

    if camera.sub_stream_uri is None:
        return False, "the camera lists no RTSP stream"
    started = time.monotonic()
    try:
        frame = sub_stream_frame(camera, login, timeout_s)
    except AgentError as error:
        return False, error.message
    height, width = frame.shape[:2]
    took = time.monotonic() - started
    return True, f"RTSP opened, one {width}x{height} frame decoded in {took:.1f} s"


def look_at(
    camera: Camera,
    login: CameraLogin | None,
    settings: QualityConfig,
    *,
    reference_dir: Path | None = None,
    rois: Mapping[str, Polygon | None] | None = None,
    stream: bool = False,
    timeout_s: float = PICTURE_TIMEOUT_S,
    accept_view: bool = False,
) -> Look:
    """Look at ``camera`` now: its picture judged, optionally its stream opened."""
    started = time.monotonic()
    look = Look(camera.id)
    if camera.error is not None and not camera.profiles:
        look.error = camera.error
    else:
        try:
            image = take_picture(camera, login, timeout_s)
        except CameraError as error:
            look.error = error.info()
        else:
            judge(look, image, reference_dir, rois or {}, settings, accept_view)
            if look.reference is None and (
                any(i.code == "noisy" for i in look.issues)
                or any(note.code == "stripes" for note in look.notes)
            ):
                time.sleep(SECOND_PICTURE_AFTER_S)
                try:
                    again = take_picture(camera, login, timeout_s)
                except CameraError:
                    pass  # one picture's word stands
                else:
                    settle_over_time(look, image, again, settings)
        if stream:
            look.stream = open_stream(camera, login, timeout_s)
    look.took_s = time.monotonic() - started
    return look


def look_at_all(
    cameras: Sequence[Camera],
    logins: LoginResolver,
    settings: QualityConfig,
    *,
    reference_dir: Path | None = None,
    rois: Mapping[str, Mapping[str, Polygon | None]] | None = None,
    stream: bool = False,
    workers: int = 4,
    on_done: Callable[[Look], None] | None = None,
    accept_view: frozenset[str] = frozenset(),
) -> dict[str, Look]:
    """Every camera looked at, a few at a time (each bounded by its own timeouts)."""
    from concurrent.futures import ThreadPoolExecutor

    done: dict[str, Look] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="look") as pool:
        futures = {
            camera.id: pool.submit(
                look_at,
                camera,
                logins(camera.id),
                settings,
                reference_dir=reference_dir,
                rois=(rois or {}).get(camera.id, {}),
                stream=stream,
                accept_view=camera.id in accept_view,
            )
            for camera in cameras
        }
        for camera_id, future in futures.items():
            done[camera_id] = future.result()
            if on_done is not None:
                on_done(done[camera_id])
    return done
