"""Checks across consecutive samples of one camera.

- ``frozen``: share of pixels that changed by more than one level between samples. A
  live camera re-encodes sensor noise, so even a still scene changes; a stuck encoder or
  a cached snapshot repeats itself exactly. A stuck sensor with a ticking OSD clock
  changes a few hundred pixels and is missed at the default threshold.
- ``jitter``: how far the whole view moved since the previous sample, by phase
  correlation at half the analysis size (sub-pixel; a still camera measures about
  0.05 px). Samples that show another view are not compared (that is a scene change or
  a cover), nor are samples whose move found does not explain their difference (a fogged
  lens, where the "move" is sensor noise). A shaking mount moves the view at every
  sample; one knock moves it once, so a sequence needs two moved pairs, and the daemon's
  alarm several in a row.
- rolling bands (``stripes``, ``bands_in_time``): mains flicker and interference bars move
  between samples, while the scene's own pattern (a tiled wall, shelving, louvres) stays
  where it is. Two samples of one still view are compared as a sample and its reference
  are (``compare.stripes_between``): bands that the earlier does not explain in the later
  are raised, with or without a camera reference; bands that hold still from sample to
  sample (flicker locked to the frame rate) show nothing here.
- noise over time (``noise_in_time``): one frame cannot tell fine texture filling the view
  (fur, a heap of herbs, a granite counter) from sensor noise; two samples of a still
  view can, as texture is in both and noise is drawn afresh. Without a reference,
  ``noisy`` raised on one frame is withdrawn when the samples' noise over time is under
  the threshold (``settle_noise``). Nothing is raised from it: what moved between the
  samples (cooks at work) adds to it.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.compare import stripes_between
from agent.capture.quality.frame import Frame
from agent.capture.quality.metrics import noise_between
from agent.config.quality import CheckRule, QualityConfig
from agent.model import QualityIssue


def change_fraction(previous: Frame, current: Frame) -> float:
    """Share of pixels that changed by more than one grey level between two samples."""
    if previous.grey.shape != current.grey.shape:
        return 1.0
    diff = cv2.absdiff(previous.grey, current.grey)
    return cv2.countNonZero(cv2.threshold(diff, 1, 255, cv2.THRESH_BINARY)[1]) / float(diff.size)


_SAME_VIEW = 0.3  # phase-correlation peak at or above which two samples show one view
# A move found is checked from this size up (a still camera measures about 0.05 px)...
_CHECK_MOVES_FROM = 0.25
# ...and is real when undoing it leaves at most this share of what the opposite move
# leaves: the shakes of both evaluation models leave a median 0.11 of it, at most 0.68;
# the phantom moves sensor noise makes on a fogged lens leave 0.98-1.02.
_MOVE_EXPLAINS = 0.8


@functools.cache
def _shift_window(size: tuple[int, int]) -> npt.NDArray[np.float32]:
    window = np.asarray(cv2.createHanningWindow(size, cv2.CV_32F), np.float32)
    window.setflags(write=False)
    return window


def view_shift(previous: Frame, current: Frame) -> float | None:
    """How far the whole view moved between two samples of one camera, in analysis
    pixels: phase correlation at half the analysis size (sub-pixel, robust to exposure
    and to a few things moving in front of a still background). None when the two do
    not show the same view (the correlation peak is weak): that is a scene change or a
    cover, not a shake; None too when the move found does not explain the difference
    between them (see ``_move_explains``): they cannot show whether the view moved."""
    before, after = previous.half_grey, current.half_grey
    if before.shape != after.shape or min(before.shape) < 8:
        return None
    size = (after.shape[1], after.shape[0])
    (dx, dy), peak = cv2.phaseCorrelate(before, after, _shift_window(size))
    if peak < _SAME_VIEW:
        return None
    shift = 2.0 * math.hypot(dx, dy)
    if shift >= _CHECK_MOVES_FROM and not _move_explains(before, after, dx, dy):
        return None
    return shift


def _move_explains(
    before: npt.NDArray[np.float32], after: npt.NDArray[np.float32], dx: float, dy: float
) -> bool:
    """Whether moving ``before`` by (dx, dy) makes it agree with ``after`` clearly better
    than moving it the opposite way: true of a real move. On a picture that lost its fine
    detail (a fogged lens) the finest frequencies phase correlation weighs are the sensor's
    fresh noise, and it reads sub-pixel moves of up to a pixel on a still camera, as it
    does between a clear sample and the first fogged one; such a move explains no more
    than its opposite. (Against the opposite move rather than none, as both resample the
    picture alike: resampling alone smooths the noise and would seem to explain some.)"""
    height, width = after.shape
    margin = math.ceil(max(abs(dx), abs(dy))) + 1
    if 2 * margin >= min(height, width):
        return True  # a move of half the picture is no phantom of noise
    inner = (slice(margin, height - margin), slice(margin, width - margin))

    def left_after(move_x: float, move_y: float) -> float:
        moved = cv2.warpAffine(
            before,
            np.array([[1, 0, move_x], [0, 1, move_y]], np.float32),
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return float(cv2.norm(after[inner], moved[inner], cv2.NORM_L1))

    return left_after(dx, dy) <= _MOVE_EXPLAINS * left_after(-dx, -dy)


def _frozen(pairs: Sequence[tuple[Frame, Frame]], rule: CheckRule) -> QualityIssue | None:
    most = max(change_fraction(a, b) for a, b in pairs)
    return (
        QualityIssue("frozen", rule.severity, most, rule.threshold)
        if most < rule.threshold
        else None
    )


def _signal_lost(raised: Sequence[QualityIssue]) -> bool:
    """A sample that raised ``no_signal`` (a recorder's "no video" card, a flat screen)
    shows the same picture every time: ``frozen`` would only echo it, and send the
    technician to the wrong fix (power-cycling a stuck encoder instead of checking the
    camera's cable and power), and there is no view to have moved."""
    return any(issue.code == "no_signal" for issue in raised)


def check_sequence(
    frames: Sequence[Frame],
    settings: QualityConfig | None = None,
    raised: Sequence[Sequence[QualityIssue]] = (),
) -> list[QualityIssue]:
    """Issues of consecutive samples of one camera: ``frozen`` when no pair changed,
    ``jitter`` when the view shook: at least two pairs, and half of them, moved by more
    than the threshold (one move alone is a camera knocked aside, for scene_changed);
    else ``stripes`` when bands moved between samples of the still view (``bands_in_time``
    over the with-reference limit).
    ``raised``: what each frame raised on its own, when known; nothing when every frame
    has no signal."""
    config = settings if settings is not None else QualityConfig()
    pairs = list(itertools.pairwise(frames))
    if not pairs or (len(raised) == len(frames) and all(map(_signal_lost, raised))):
        return []
    frozen = _frozen(pairs, config.checks.frozen) if config.checks.frozen.enabled else None
    if frozen is not None:
        return [frozen]
    found = []
    jitter = config.checks.jitter
    if jitter.enabled:
        shifts = [shift for a, b in pairs if (shift := view_shift(a, b)) is not None]
        shaken = sorted(shift for shift in shifts if shift > jitter.threshold)
        if len(shaken) >= 2 and 2 * len(shaken) >= len(pairs):
            middle = shaken[len(shaken) // 2]
            found.append(QualityIssue("jitter", jitter.severity, middle, jitter.threshold))
    if not found and (rolling := rolling_stripes(frames, config)) is not None:
        found.append(rolling)
    return found


def pair_issues(
    previous: Frame,
    current: Frame,
    settings: QualityConfig,
    raised: Sequence[QualityIssue] = (),
) -> list[QualityIssue]:
    """The daemon's per-sample form: ``frozen`` when nothing changed since the previous
    sample, ``jitter`` when the whole view moved (the alarm's raise_after then asks for
    several shaken samples in a row). ``raised``: what the current sample raised on its
    own; nothing when it has no signal."""
    if _signal_lost(raised):
        return []
    checks = settings.checks
    frozen = _frozen([(previous, current)], checks.frozen) if checks.frozen.enabled else None
    if frozen is not None:
        return [frozen]
    shift = view_shift(previous, current) if checks.jitter.enabled else None
    if shift is not None and shift > checks.jitter.threshold:
        return [QualityIssue("jitter", checks.jitter.severity, shift, checks.jitter.threshold)]
    return []


def bands_in_time(frames: Sequence[Frame], settings: QualityConfig) -> float | None:
    """Bands that move between consecutive samples of one still view (grey levels, the
    ``stripes_rise`` form): the median over the pairs whose view held still (``view_shift``
    under a quarter of a pixel), each later sample judged against the earlier. None when
    no pair held still (a shaking, turned or covered view: what moved would read as
    bands)."""
    measured = [
        stripes_between(a, b, settings)
        for a, b in itertools.pairwise(frames)
        if (shift := view_shift(a, b)) is not None and shift < _CHECK_MOVES_FROM
    ]
    return float(np.median(measured)) if measured else None


def rolling_stripes(frames: Sequence[Frame], settings: QualityConfig) -> QualityIssue | None:
    """``stripes`` when bands moved between samples of a still view: ``bands_in_time`` over
    the with-reference limit (the same comparison). None when they did not, when no pair
    held still, or when the check is off."""
    rule = settings.checks.stripes
    if not rule.enabled:
        return None
    rolling = bands_in_time(frames, settings)
    least = rule.limit(with_reference=True)
    if rolling is None or rolling <= least:
        return None
    return QualityIssue("stripes", rule.severity, rolling, least)


def noise_in_time(frames: Sequence[Frame]) -> float | None:
    """The sensor's noise over consecutive samples of one camera (``noise_between``): the
    median over the pairs that changed enough to show it. A pair whose view moved, or
    shows another view, only reads higher (what moved adds to it), so it can keep
    ``noisy`` but never withdraw it. None when no pair changed enough: a frozen picture,
    or one copied block by block."""
    pairs = itertools.pairwise(frames)
    measured = [n for a, b in pairs if (n := noise_between(a.grey, b.grey)) is not None]
    return float(np.median(measured)) if measured else None


# One frame's noise is texture when the samples differ by under this share of it (and by
# under the threshold). On the tune pictures and textured views, clean samples that read
# as noisy on one frame differed by 0.05-0.32 of it (granite and rice the least, a coir
# mat under evening gain the most), noisy photographs by 0.9-1.3, noisy textured views
# by 0.37 and more (their texture adds to the frame's reading) but far over the threshold.
# A camera's temporal noise reduction makes consecutive video frames alike (to about 0.45
# of their noise at a strong setting); samples a second or more apart, as snapshots are,
# are not.
_IN_TIME_SHARE = 1 / 3


def settle_noise(
    issues: Sequence[QualityIssue], noise: float | None, settings: QualityConfig
) -> list[QualityIssue]:
    """One frame's issues, judged without a reference, once the noise over time is known
    (pure): ``noisy`` is withdrawn when ``noise`` (``noise_in_time``) is under the
    threshold and under a third of what the frame read as noise: that is then in every
    sample alike, texture. Everything else, and every issue when the noise over time is
    unknown, stays."""
    if noise is None or noise >= settings.checks.noisy.threshold:
        return list(issues)
    return [
        issue for issue in issues if issue.code != "noisy" or noise >= _IN_TIME_SHARE * issue.value
    ]
