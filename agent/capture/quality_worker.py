"""The daemon's quality worker: judges every enrolled camera's picture, keeps alarms and
KCP coverage current.

Every ``quality.interval_s`` it takes one frame per enrolled camera by the cheapest route
(the snapshot URI, else a keyframe of the sub-stream over RTSP, both under a hard
timeout), decodes it at reduced size and runs the checks against the camera's reference
(captured from the first usable frame when the camera has none yet: enrolment; replaced
by a clearer view of the same scene when it was taken through a veil or a soft lens:
``quality/renewal.py``). Results
go into :class:`agent.state.AgentState` (``set_quality`` per camera, ``set_coverage`` for
the store); alarms with hysteresis and business hours are emitted as ``quality_alarm``
events and coverage changes as ``kcp_uncovered`` / ``kcp_covered``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import structlog

from agent.capture.alarms import AlarmBook, AlarmChange, Sample
from agent.capture.coverage import CameraView, roi_visible_fraction, store_coverage
from agent.capture.quality import (
    CHECK_CODES,
    Frame,
    FrameReport,
    analyse,
    pair_issues,
    prepare,
)
from agent.capture.quality.renewal import renewal
from agent.capture.reference import ReferenceStore, StoredReference
from agent.errors import AgentError
from agent.memory import release_free_memory
from agent.model import (
    NATURAL_VIEW,
    NO_FRAME_ALARM,
    REFERENCE_VETO,
    ROI_ALARM_PREFIX,
    AlarmState,
    Camera,
    CameraLogin,
    KcpCovered,
    KcpUncovered,
    LoginResolver,
    QualityAlarm,
    QualityIssue,
    QualityReferenceEnrolled,
    QualityReferenceRenewed,
    QualityReferenceReset,
    QualityStatus,
    Severity,
    Verdict,
    worst_verdict,
)
from agent.state import AgentState

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.daemon import Runtime
    from agent.supervisor import WorkerContext

log = structlog.get_logger(__name__)

Image = npt.NDArray[np.uint8]
# (camera, its login, timeout_s, analysis width) -> BGR image
FrameGrabber = Callable[[Camera, CameraLogin | None, float, int], Image]

NO_FRAME = NO_FRAME_ALARM  # alarm code when an online camera gives no picture at all
_ROI_PREFIX = ROI_ALARM_PREFIX


def grab_frame(camera: Camera, login: CameraLogin | None, timeout_s: float, width: int) -> Image:
    """The cheapest current picture: snapshot JPEG decoded at reduced size, else one
    keyframe of the smallest RTSP stream. Raises a CameraError subclass."""
    from agent.capture.acquire import sub_stream_frame, try_snapshot
    from agent.capture.decode import decode_camera_jpeg, ensure_judgeable
    from agent.errors import CameraError

    body = try_snapshot(camera, login, timeout_s)
    if body is not None:
        try:
            return decode_camera_jpeg(body, width)
        except CameraError as error:
            log.info("quality_snapshot_failed", camera_id=camera.id, code=error.code)
    image = sub_stream_frame(camera, login, timeout_s)
    return ensure_judgeable(np.asarray(image, dtype=np.uint8))


@dataclass
class _CameraTrack:
    """What the worker remembers of one camera between samples."""

    alarms: AlarmBook
    roi: AlarmBook  # per-KCP "ROI out of view" with the same hysteresis
    reference: StoredReference | None = None
    reference_loaded: bool = False
    reference_stamp: int | None = None  # ReferenceStore.stamp when it was loaded
    previous: Frame | None = None


class QualityWorker:
    name = "quality"

    def __init__(
        self,
        config: AgentConfig,
        state: AgentState,
        logins: LoginResolver | None,
        state_dir: Path,
        grab: FrameGrabber = grab_frame,
        local_now: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone(),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.settings = config.quality
        self.state = state
        self.logins = logins
        self.references = ReferenceStore(state_dir)
        self.grab = grab
        self.local_now = local_now
        self.wall_clock = wall_clock
        self.rounds = 0  # completed rounds (tests and diagnostics read it)
        self._tracks: dict[str, _CameraTrack] = {}
        # Views blurred or low-contrast by nature (enroll --accept-view) may be references.
        self._natural = {camera.id for camera in config.cameras.enrolled if camera.accept_view}
        self._covered: dict[str, bool] | None = None
        # Built anew whenever the enrolment changes: a camera it no longer judges loses
        # its last verdict.
        state.keep_quality_of(camera.id for camera in config.cameras.enrolled)

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> QualityWorker:
        return cls(runtime.config, runtime.state, runtime.logins, runtime.state_dir)

    # --- loop ----------------------------------------------------------------------------

    def run(self, ctx: WorkerContext) -> None:
        while not ctx.stopping.is_set():
            started = time.monotonic()
            self.sample_all(ctx.beat)
            elapsed = time.monotonic() - started
            if ctx.wait(max(1.0, self.settings.interval_s - elapsed)):
                return

    def sample_all(self, beat: Callable[[], None] = lambda: None) -> None:
        """One round: every enrolled camera once, then the store's coverage."""
        views: dict[str, CameraView] = {}
        for camera in self.config.cameras.enrolled:
            beat()
            views[camera.id] = self.sample(camera.id)
        self._update_coverage(views)
        self.rounds += 1
        release_free_memory()  # the round's frames are freed: give their pages back

    # --- one camera ------------------------------------------------------------------------

    def _track(self, camera_id: str) -> _CameraTrack:
        track = self._tracks.get(camera_id)
        if track is None:
            q = self.settings
            track = _CameraTrack(
                alarms=AlarmBook(
                    q.raise_after, q.clear_after, q.business_hours, [*q.always_alarm, NO_FRAME]
                ),
                roi=AlarmBook(q.raise_after, q.clear_after, q.business_hours),
            )
            self._tracks[camera_id] = track
        # One stat per sample: a reference reset (CLI, MQTT command) or replaced from
        # outside takes effect at the camera's next sample.
        stamp = self.references.stamp(camera_id)
        if not track.reference_loaded or stamp != track.reference_stamp:
            had_reference = track.reference is not None
            track.reference = (
                None
                if stamp is None
                else self.references.load(camera_id, self.settings.analysis_width)
            )
            track.reference_stamp = stamp
            if track.reference_loaded and had_reference and track.reference is None:
                log.info("quality_reference_reset", camera_id=camera_id)
                self.state.emit(QualityReferenceReset(camera_id=camera_id))
            track.reference_loaded = True
        return track

    def _nothing_to_judge(self, camera_id: str, track: _CameraTrack, now: float) -> None:
        """No picture this time: the verdict is unknown, the alarms stay as they are, and
        the next picture is not compared with an older one (frozen, jitter)."""
        track.previous = None
        self.state.set_quality(
            camera_id,
            QualityStatus(
                verdict=Verdict.UNKNOWN, alarms=tuple(track.alarms.active()), checked_at=now
            ),
        )

    def sample(self, camera_id: str) -> CameraView:
        """Judge one camera now; returns what coverage needs to know of it."""
        track = self._track(camera_id)
        camera = self.state.cameras().get(camera_id)
        now = self.wall_clock()
        moment = self.local_now()
        kcps = self._assignments().get(camera_id, {})
        if camera is None or not camera.online:
            # Offline is discovery's news (camera_offline); quality has nothing to judge.
            self._nothing_to_judge(camera_id, track, now)
            return CameraView(camera_id, online=False, failing=True)
        width = self.settings.analysis_width
        login = self.logins(camera_id) if self.logins is not None else None
        try:
            image = self.grab(camera, login, self.settings.frame_timeout_s, width)
        except AgentError as error:
            log.warning(
                "quality_frame_failed", camera_id=camera_id, code=error.code, error=error.message
            )
            self._feed(camera_id, track, [Sample(NO_FRAME, True, Severity.FAIL)], moment)
            self._nothing_to_judge(camera_id, track, now)
            return CameraView(camera_id, online=True, failing=True)
        frame = prepare(image, width)
        if track.reference is None:
            self._enrol(camera_id, track, image, frame)
        reference = track.reference.reference if track.reference is not None else None
        report = analyse(frame, self.settings, reference)
        if reference is not None:
            renewed = self._renew(camera_id, track, image, frame, report)
            if renewed is not None:
                report = renewed
        issues = list(report.issues)
        if track.previous is not None:
            issues.extend(pair_issues(track.previous, frame, self.settings, report.issues))
        track.previous = frame
        samples = [Sample(NO_FRAME, False), *_samples(issues)]
        self._feed(camera_id, track, samples, moment)
        fractions = self._roi_fractions(track, report, kcps)
        roi_samples = [
            Sample(
                _ROI_PREFIX + kcp,
                fraction is not None and fraction < self.settings.roi_min_visible,
                Severity.FAIL,
                fraction,
                self.settings.roi_min_visible,
            )
            for kcp, fraction in fractions.items()
        ]
        track.roi.update(roi_samples, moment)
        self.state.set_quality(
            camera_id,
            QualityStatus(
                verdict=worst_verdict(issues),
                issues=tuple(issues),
                alarms=tuple(track.alarms.active()),
                checked_at=now,
                in_view={k: round(v, 3) for k, v in fractions.items() if v is not None},
            ),
        )
        failing = any(
            state.active and state.severity is Severity.FAIL
            for state in track.alarms.states.values()
        )
        out_of_view = {code[len(_ROI_PREFIX) :] for code in track.roi.active()}
        return CameraView(
            camera_id,
            online=True,
            failing=failing,
            roi_visible={kcp: (0.0 if kcp in out_of_view else None) for kcp in kcps},
        )

    def _enrol(self, camera_id: str, track: _CameraTrack, image: Image, frame: Frame) -> None:
        """The first usable frame becomes the camera's reference (its enrolled view)."""
        plain = analyse(frame, self.settings)
        # Only a picture that is plainly unusable is refused; the no-reference occlusion
        # and cast checks are too weak to veto an installer's view (a steel wall, a
        # night sky).
        veto = REFERENCE_VETO - NATURAL_VIEW if camera_id in self._natural else REFERENCE_VETO
        if any(issue.code in veto for issue in plain.issues):
            log.info(
                "quality_reference_deferred",
                camera_id=camera_id,
                issues=[issue.code for issue in plain.issues],
            )
            return
        track.reference = self.references.save(
            camera_id, image, self.settings.analysis_width, captured_at=self.wall_clock()
        )
        track.reference_stamp = self.references.stamp(camera_id)
        self.state.emit(
            QualityReferenceEnrolled(
                camera_id=camera_id,
                features=len(track.reference.reference.view),
                source_size=track.reference.source_size,
            )
        )

    def _renew(
        self, camera_id: str, track: _CameraTrack, image: Image, frame: Frame, report: FrameReport
    ) -> FrameReport | None:
        """Replace the reference with ``frame`` when the reference, judged against it, was
        veiled or soft (``renewal.py``); the frame's report against its new reference, or
        None when the reference stays."""
        assert track.reference is not None
        reason = renewal(frame, report, track.reference.reference, self.settings)
        if not reason:
            return None
        track.reference = self.references.save(
            camera_id, image, self.settings.analysis_width, captured_at=self.wall_clock()
        )
        track.reference_stamp = self.references.stamp(camera_id)
        log.info("quality_reference_renewed", camera_id=camera_id, old_view=list(reason))
        self.state.emit(
            QualityReferenceRenewed(
                camera_id=camera_id,
                old_view=list(reason),
                features=len(track.reference.reference.view),
                source_size=track.reference.source_size,
            )
        )
        return analyse(frame, self.settings, track.reference.reference)

    def reset_reference(self, camera_id: str) -> bool:
        """Forget a camera's reference; the next usable frame is enrolled afresh (after an
        installer re-aimed the camera on purpose). True when there was one. Other
        processes do the same with ReferenceStore.delete; the worker notices either way."""
        return self.references.delete(camera_id)

    def _feed(
        self, camera_id: str, track: _CameraTrack, samples: Sequence[Sample], moment: dt.datetime
    ) -> None:
        for transition in track.alarms.update(samples, moment):
            self._emit_alarm(camera_id, transition)

    def _emit_alarm(self, camera_id: str, transition: AlarmChange) -> None:
        log.warning(
            "quality_alarm",
            camera_id=camera_id,
            code=transition.code,
            state=transition.state,
            value=transition.value,
        )
        self.state.emit(
            QualityAlarm(
                camera_id=camera_id,
                code=transition.code,
                state=transition.state,
                raised=transition.state is AlarmState.RAISED,
                severity=transition.severity,
                value=None if transition.value is None else round(transition.value, 4),
                threshold=transition.threshold,
            )
        )

    def _roi_fractions(
        self,
        track: _CameraTrack,
        report: FrameReport,
        kcps: Mapping[str, Sequence[tuple[float, float]] | None],
    ) -> dict[str, float | None]:
        fractions: dict[str, float | None] = {}
        for kcp, roi in kcps.items():
            if roi is None or track.reference is None:
                fractions[kcp] = None
                continue
            fractions[kcp] = roi_visible_fraction(
                roi, report.match, track.reference.reference.frame.size, report.blocked
            )
        return fractions

    # --- store coverage --------------------------------------------------------------------

    def _assignments(self) -> dict[str, dict[str, list[tuple[float, float]] | None]]:
        return {
            camera.id: {str(a.kcp): (list(a.roi) if a.roi else None) for a in camera.kcps}
            for camera in self.config.cameras.enrolled
        }

    def _update_coverage(self, views: Mapping[str, CameraView]) -> None:
        declared = [str(k) for k in self.config.store.kcps]
        assignments = {cam: list(kcps) for cam, kcps in self._assignments().items()}
        coverage = store_coverage(
            declared, assignments, views, self.settings.roi_min_visible, self.wall_clock()
        )
        self.state.set_coverage(coverage)
        # The first rounds only settle (discovery may not have found every camera yet and
        # alarms need raise_after samples): no news until the picture is steady. Then a
        # KCP uncovered from the start is news once; after that, every change is.
        if self.rounds + 1 < self.settings.raise_after:
            return
        previous = self._covered or {}
        self._covered = {}
        for entry in coverage.kcps:
            kcp = entry.kcp
            self._covered[kcp] = entry.covered
            before = previous.get(kcp)
            if entry.covered and before is False:
                log.info("kcp_covered", kcp=kcp, cameras=entry.cameras)
                self.state.emit(KcpCovered(kcp=kcp, camera_ids=list(entry.cameras)))
            elif not entry.covered and before is not False:
                log.warning("kcp_uncovered", kcp=kcp, reason=entry.reason)
                self.state.emit(
                    KcpUncovered(kcp=kcp, reason=entry.reason, camera_ids=list(entry.assigned))
                )


def _samples(issues: Sequence[QualityIssue]) -> list[Sample]:
    found = {issue.code: issue for issue in issues}
    samples = []
    for code in CHECK_CODES:
        issue = found.get(code)
        if issue is None:
            samples.append(Sample(code, False))
        else:
            samples.append(Sample(code, True, issue.severity, issue.value, issue.threshold))
    return samples
