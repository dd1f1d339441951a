"""Video quality diagnosis (视频质量诊断): pure checks on decoded frames.

A frame is first shrunk to the analysis width (320 px by default) as grey, plus an
80 px colour thumbnail; every metric is measured there, so the cost does not depend on
the camera's resolution and what is judged is what a viewer of a small live picture sees.
What each metric catches, and what it cannot:

- ``no_signal``: share of pixels within +-4 grey levels of the commonest level. Catches
  black/blue/grey screens and "no signal" cards with a little text; not colour bars.
- ``frozen``: share of pixels that changed by more than one level between samples. A
  live camera re-encodes sensor noise, so even a still scene changes; a stuck encoder or
  a cached snapshot repeats itself exactly. A stuck sensor with a ticking OSD clock
  changes a few hundred pixels and is missed at the default threshold.
- ``too_dark`` / ``too_bright``: mean brightness.
- ``blurred``: Crete-Roffet re-blur measure (blurring a sharp picture changes it much,
  blurring a blurred one changes it little), 0 sharp .. 1 flat. Scene-dependent without a
  reference: a close-up on a smooth surface reads as soft; against the camera's reference
  the rise in blur is judged.
- ``low_contrast``: (p95-p5)/(p95+p5) of brightness: haze, steam, grease and film add a
  veil of light, which lowers it while darkness alone does not. A scene that is itself
  pale and flat (a steel counter filling the view) reads as low contrast without a
  reference; with one, the loss relative to the reference is judged.
- ``color_cast``: with a reference (the daemon's case), the shift of white balance: log
  of the largest ratio between the colour channels' gains against the reference, in
  linear light (exposure changes cancel out). Without one, only "a grey scene turned
  colour" can be told: chroma relative to lightness that is the same across the frame
  (size >= 3x its spread), in % of lightness. The equivalent-circle factor K = D/M used
  by Chinese VQD products is reported as ``cast`` for reference, but it tracks how flat a
  scene is more than its tint (a tint multiplies D and M alike), so it is not judged.
  A colourful or warm scene without a reference cannot be told from a cast. Greyscale
  (IR night) frames never fire.
- ``noisy``: Immerkaer's fast noise estimate. Without a reference, its floor: the 5th
  percentile of the estimate over 8-pixel cells that are not clipped black or white.
  Texture raises the estimate only where there is texture, while snow is everywhere,
  so a busy scene still has quiet cells that show its true noise; a scene textured
  edge to edge (fur, gravel) can read as noisy. With a reference, the rise of the
  whole-frame median form (robust to edges) over the reference's.
- ``stripes``: periodic bands (period 3..40 analysis pixels) in brightness profiles:
  flicker of fluorescent tubes beating with the shutter, interference bars. Without a
  reference, the band that each of six strips along it shows in phase and that stands
  out of the spectrum around it, as amplitude at mid-grey (flicker modulates light):
  interference crosses the whole picture with one phase, while shelving, tiles or a
  chequered floor fill part of it or change phase between strips, and a counter's
  straight edge spreads over every frequency. Regular structure spanning the whole view
  (a row of windows) can still read as stripes, and weak short-period bands are lost in
  the downscaling. With a
  reference, the band in what the reference's row and column profiles do not explain.
  Slanted interference lines average out of the profiles and are not caught.
- ``occluded``: without a reference, the largest featureless region joined to the frame
  edge (so smooth steel or sky filling half the view can fire: the threshold is high,
  and a cover over less than about half the view is missed; grease or fog thick enough
  to leave the view featureless counts as a cover too);
  with one, blocks that lost most of the detail they had, or changed brightness and
  went flat, after compensating global exposure and global blur.
- ``scene_changed``: share of the frame the enrolled view no longer fills (1 when it
  cannot be matched). A quick check first looks for the reference's thumbnail tiles
  exactly in place (the usual case, nothing moved, at a few percent of the cost of
  matching); only when it is unsure is the reference mapped onto the frame by ORB +
  RANSAC homography. A view that cannot be matched but whose block brightness still
  correlates with the reference's in place (``layout_kept``) is the enrolled view
  behind steam, grease or defocus, not a moved camera.

- ``jitter`` (across samples): how far the whole view moved since the previous sample,
  by phase correlation at half the analysis size (sub-pixel; a still camera measures
  about 0.05 px). Samples that show another view are not compared (that is a scene
  change or a cover). A shaking mount moves the view at every sample; one knock moves it
  once, so a sequence needs two moved pairs, and the daemon's alarm several in a row.

Cost: the frame is measured once at the analysis width; what only depends on the
reference (its profiles' shifted windows, its tiles, its features) is prepared at
enrolment; every per-pixel pass is one OpenCV call on uint8 where the metric allows.

When the picture is gone (``no_signal``) nothing else is reported; a frame that is too
dark or too bright reports only that (darkness and glare flatten detail, colour and
contrast and defeat matching); a frame that moved is not also called occluded (the block
comparison is meaningless then), and an unmatched frame that is mostly blank is occluded
rather than moved.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.coverage import (
    MIN_REFERENCE_FEATURES,
    ViewFeatures,
    ViewMatch,
    ViewTiles,
    features,
    match_view,
    still_in_place,
    view_tiles,
)
from agent.capture.decode import halve_towards, resize_to_width
from agent.config.quality import CheckRule, QualityConfig
from agent.model import QualityCheck, QualityIssue, Verdict, worst_verdict

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

CHECK_CODES: tuple[str, ...] = tuple(check.value for check in QualityCheck)

THUMB_WIDTH = 80
BLOCK_PX = 16  # occlusion grid cell at the analysis width
_TINT_COHERENCE = 3.0  # tint counts when its size is this many times its spread
_GREYSCALE_CHROMA = 2.5  # mean |a|+|b| below this: a greyscale (IR night) frame
_FLAT_GRADIENT = 1.6  # mean |gradient| per block below this: featureless
_DETAIL_GRADIENT = 3.0  # a reference block with at least this much gradient has detail
_COVERED_OCCLUSION = 0.3  # unmatched view this much unlike the reference is covered if...
_COVERED_UNMOVED = 2  # ...this many features are still exactly where they were, or...
_COVERED_BLANK = 0.9  # ...it is featureless almost edge to edge (the lens covered whole)
_LAYOUT_KEPT = 0.9  # an unmatched view whose block brightness still correlates this well
# with the reference's is the same view behind steam, grease or defocus, not another one


@dataclass(frozen=True, eq=False)
class Frame:
    """A frame ready for analysis: grey at the analysis width and a colour thumbnail."""

    grey: Image
    thumb: Image
    source_size: tuple[int, int]  # (width, height) as received

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.grey.shape[:2]
        return (width, height)

    @functools.cached_property
    def half_grey(self) -> npt.NDArray[np.float32]:
        """The grey picture at half size in float, for view_shift (made once per sample,
        though each sample is compared with the one before and the one after)."""
        height, width = self.grey.shape[:2]
        size = (max(1, width // 2), max(1, height // 2))
        half = cv2.resize(self.grey, size, interpolation=cv2.INTER_AREA)
        return np.asarray(half, np.float32)


@dataclass(frozen=True, eq=False)
class Reference:
    """A camera's enrolled view: its frame, metrics and features."""

    frame: Frame
    metrics: dict[str, float]
    view: ViewFeatures
    blocks: _BlockStats
    profiles: tuple[_ProfileFit, _ProfileFit]
    tiles: ViewTiles | None  # for the quick "nothing moved" check


@dataclass(frozen=True, eq=False)
class _BlockStats:
    mean: npt.NDArray[np.float32]
    gradient: npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class FrameReport:
    metrics: dict[str, float | None]
    issues: list[QualityIssue]
    match: ViewMatch | None = None
    blocked: Mask | None = None  # occlusion grid on the reference's geometry, True: blocked
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        return worst_verdict(self.issues)


# --- preparation -------------------------------------------------------------------------


def prepare(image: Image, analysis_width: int = 320) -> Frame:
    """Grey at ``analysis_width`` and a colour thumbnail from a BGR (or grey) image."""
    if image.ndim == 2:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    elif image.shape[2] == 4:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    height, width = image.shape[:2]
    # Exact halvings first (cheap); the grey is taken before the last, uneven shrink so that
    # step works on one channel instead of three.
    halved = halve_towards(image, analysis_width)
    grey = np.asarray(cv2.cvtColor(halved, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    grey = resize_to_width(grey, analysis_width)
    thumb = resize_to_width(halved, THUMB_WIDTH)
    return Frame(grey=grey, thumb=thumb, source_size=(width, height))


def fit_to(frame: Frame, size: tuple[int, int]) -> Frame:
    """The frame resampled to a reference's analysis size (frames and references from
    different streams of one camera differ in size)."""
    if frame.size == size:
        return frame
    grey = np.asarray(cv2.resize(frame.grey, size, interpolation=cv2.INTER_AREA), np.uint8)
    return Frame(grey=grey, thumb=frame.thumb, source_size=frame.source_size)


# --- metrics -----------------------------------------------------------------------------


_LEVELS = np.arange(256, dtype=np.float64)
_NINE = np.ones(9)


def _histogram_metrics(grey: Image) -> dict[str, float]:
    # Every other pixel of every other row: the same distribution at a quarter the cost.
    sample = grey[::2, ::2]
    hist = cv2.calcHist([sample], [0], None, [256], [0, 256]).reshape(-1)
    total = float(sample.shape[0] * sample.shape[1])
    p5, p95 = (float(v) for v in np.searchsorted(np.cumsum(hist), (0.05 * total, 0.95 * total)))
    window = np.convolve(hist, _NINE, mode="same")
    return {
        "brightness": float(hist @ _LEVELS) / total,
        "contrast": (p95 - p5) / max(p95 + p5, 1.0),
        "uniformity": float(window.max()) / total,
    }


def _differences(grey: Image) -> tuple[Image, Image]:
    """|vertical| and |horizontal| neighbour differences (uint8), shared by blur and
    the occlusion blocks."""
    vertical = np.asarray(cv2.absdiff(grey[1:, :], grey[:-1, :]), np.uint8)
    horizontal = np.asarray(cv2.absdiff(grey[:, 1:], grey[:, :-1]), np.uint8)
    return vertical, horizontal


_BLUR_SPAN = 9  # the re-blur: a 9-pixel box along each axis


def _blur(grey: Image, d_vertical: Image, d_horizontal: Image) -> float:
    """Crete-Roffet et al. 2007 'The blur effect' (as in scikit-image), 0 sharp .. 1.

    Per axis, 1 - sum(max(0, d - d_blurred)) / sum(d) = sum(min(d, d_blurred)) / sum(d),
    with d the neighbour differences and d_blurred those of the picture box-blurred over
    9 pixels. The latter telescope to differences 9 pixels apart divided by 9, so the
    blurred picture is never made, and min(9 d, far) is exact in saturating uint8 (far is
    at most 255). The 4 rows (columns) each side, where the box would leave the picture,
    are left out.
    """
    height, width = grey.shape[:2]
    span, half = _BLUR_SPAN, _BLUR_SPAN // 2
    if height <= span or width <= span:
        return 1.0
    results = []
    for d_image, far in (
        (d_vertical[half:-half, :], cv2.absdiff(grey[span:, :], grey[:-span, :])),
        (d_horizontal[:, half:-half], cv2.absdiff(grey[:, span:], grey[:, :-span])),
    ):
        total = float(cv2.sumElems(d_image)[0])
        if total <= 0.0:
            return 1.0
        kept = cv2.min(cv2.convertScaleAbs(d_image, alpha=float(span)), far)
        results.append(float(cv2.sumElems(kept)[0]) / span / total)
    return max(results)


_SECOND_DIFFERENCE = np.array([1, -2, 1], dtype=np.float32)


def _noise_response(grey: Image) -> Image:
    """|Immerkaer's 3x3 noise filter| (uint8, saturated) over the inner pixels. Its kernel
    is the outer product of two second differences, so it is applied separably."""
    response = cv2.sepFilter2D(grey, cv2.CV_16S, _SECOND_DIFFERENCE, _SECOND_DIFFERENCE)
    return np.asarray(cv2.convertScaleAbs(response[1:-1, 1:-1]), np.uint8)


# |response| of Gaussian noise of sigma s is half-normal with sigma 6*s.
_MEDIAN_TO_SIGMA = 1.0 / (0.6745 * 6.0)
_MEAN_TO_SIGMA = math.sqrt(math.pi / 2.0) / 6.0


def _noise(magnitude: Image) -> float:
    """Immerkaer 1996 fast noise estimate, median form (robust to edges). The median is
    taken over every other pixel of every other row: the same distribution, a quarter
    of the histogram's cost."""
    sample = magnitude[::2, ::2]
    hist = cv2.calcHist([sample], [0], None, [256], [0, 256]).reshape(-1)
    median = float(np.searchsorted(np.cumsum(hist), 0.5 * sample.shape[0] * sample.shape[1]))
    return median * _MEDIAN_TO_SIGMA


_FLOOR_PX = 8  # cell of the noise floor
_FLOOR_SHARE = 0.05  # the floor: this percentile of the cells' noise
_FLOOR_LEVELS = (16.0, 240.0)  # cells darker or brighter than this are clipped, not quiet


def _noise_floor(magnitude: Image, grey_sums: npt.NDArray[np.int32]) -> float:
    """Noise where the picture is quietest: Immerkaer's estimate (mean form) per 8-pixel
    cell, 5th percentile over the cells that are not clipped black or white.

    Texture raises the estimate only where there is texture, while sensor noise and
    snow are everywhere, so even a busy scene has cells that show its true noise. One
    frame can then tell a noisy picture from a detailed one (the median form cannot).
    ``grey_sums``: the integral image of the grey picture (``magnitude`` is its inner
    part, one pixel in from each edge)."""
    height, width = magnitude.shape[:2]
    rows, cols = height // _FLOOR_PX, width // _FLOOR_PX
    if rows * cols < 8:  # too small to have quiet parts: the whole frame's estimate
        return _noise(magnitude) if magnitude.size else 0.0
    span = _FLOOR_PX
    area = float(span * span)
    cropped = magnitude[: rows * span, : cols * span]
    response_sums = np.asarray(cv2.integral(cropped), np.int32)[::span, ::span]
    response = _cell_sums(response_sums).reshape(-1) / area
    corners = grey_sums[1 : 2 + rows * span : span, 1 : 2 + cols * span : span]
    levels = _cell_sums(corners).reshape(-1) / area
    unclipped = (levels >= _FLOOR_LEVELS[0]) & (levels <= _FLOOR_LEVELS[1])
    if int(unclipped.sum()) >= 8:
        response = response[unclipped]
    return _percentile(response, _FLOOR_SHARE) * _MEAN_TO_SIGMA


_SRGB_TO_LINEAR = np.array(
    [(v / 255 / 12.92) if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in range(256)],
    dtype=np.float32,
)


_STRIPE_PERIODS = (3.0, 40.0)  # analysis pixels
_STRIPE_TREND = 41  # box (pixels) whose mean is the scene's slow trend, removed first
_STRIPE_REACH = 8  # shifts (pixels) over which the reference profile is fitted

Profile = npt.NDArray[np.float32]


@functools.cache
def _band_operator(size: int) -> npt.NDArray[np.float32] | None:
    """The linear map from a brightness profile of ``size`` samples to its stripe-band
    spectrum: detrend (minus a 41-sample box mean, reflected at the ends), remove the
    mean, Hann window, DFT at the band's frequencies. Rows: real parts, then imaginary
    parts. One matrix product per profile then replaces filter, window and FFT."""
    if size < 32:
        return None
    frequencies = np.fft.rfftfreq(size)
    band = np.flatnonzero(
        (frequencies >= 1.0 / _STRIPE_PERIODS[1]) & (frequencies <= 1.0 / _STRIPE_PERIODS[0])
    )
    if band.size == 0:
        return None
    identity = np.eye(size, dtype=np.float64)
    # Column j of the blurred identity is the trend of the unit profile e_j.
    trend = cv2.blur(identity, (1, _STRIPE_TREND), borderType=cv2.BORDER_REFLECT)
    detrended = identity - np.asarray(trend, np.float64)
    centred = detrended - detrended.mean(axis=0, keepdims=True)
    windowed = centred * np.hanning(size)[:, None]
    phase = -2.0 * np.pi * np.outer(band, np.arange(size)) / size
    operator = np.vstack([np.cos(phase) @ windowed, np.sin(phase) @ windowed])
    operator = operator.astype(np.float32)
    operator.setflags(write=False)
    return operator


def _band_peak(profile: npt.NDArray[np.float32]) -> float:
    """Amplitude in grey levels of the strongest periodic component of a brightness
    profile with a period in _STRIPE_PERIODS, after its slow trend is removed."""
    size = int(profile.shape[0])
    operator = _band_operator(size)
    if operator is None:
        return 0.0
    parts = operator @ profile
    half = parts.shape[0] // 2
    peak = float(np.hypot(parts[:half], parts[half:]).max())
    # Hann window: a sinusoid of amplitude A gives a peak of A * N / 4.
    return peak * 4.0 / size


def _profiles(grey: Image) -> tuple[Profile, Profile]:
    """Mean brightness of each row and of each column."""
    rows = np.asarray(cv2.reduce(grey, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F), np.float32)
    cols = np.asarray(cv2.reduce(grey, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F), np.float32)
    return rows.reshape(-1), cols.reshape(-1)


_STRIPE_STRIPS = 6  # the picture is cut into this many strips along the bands
_STRIPE_PROMINENCE = 8.0  # a band must stand this far above the spectrum's median
_STRIPE_DARKEST = 8.0  # a strip's brightness is taken as at least this (no division by ~0)


@functools.cache
def _strip_edges(size: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Where the strips across ``size`` pixels start and end, and 1 / their widths."""
    edges = np.rint(np.linspace(0, size, _STRIPE_STRIPS + 1)).astype(np.intp)
    return edges, (1.0 / (edges[1:] - edges[:-1])).astype(np.float32)


@functools.cache
def _stripe_operator(height: int, width: int) -> tuple[npt.NDArray[np.float32], int] | None:
    """Both directions' band operators in one block-diagonal matrix, so that the strips'
    row profiles stacked on their column profiles give every band component in one
    product: rows are the real parts (row profiles' bands, then column profiles'), then
    the imaginary parts in the same order; each scaled so a component reads as an
    amplitude (Hann window: a sinusoid of amplitude A peaks at A * N / 4). Also how many
    bands belong to the row profiles."""
    by_rows, by_columns = _band_operator(height), _band_operator(width)
    if by_rows is None or by_columns is None:
        return None
    rows_half, columns_half = by_rows.shape[0] // 2, by_columns.shape[0] // 2
    bands = rows_half + columns_half
    operator = np.zeros((2 * bands, height + width), np.float32)
    for part in (0, 1):  # real, imaginary
        top = part * bands
        operator[top : top + rows_half, :height] = (
            by_rows[part * rows_half : (part + 1) * rows_half] * 4.0 / height
        )
        operator[top + rows_half : top + bands, height:] = (
            by_columns[part * columns_half : (part + 1) * columns_half] * 4.0 / width
        )
    operator.setflags(write=False)
    return operator, rows_half


def _stripes(grey_sums: npt.NDArray[np.int32]) -> float:
    """Bands across the whole picture (mains flicker of kitchen tubes under a rolling
    shutter, interference bars), judged on one frame: the strongest periodic component
    that every one of six strips along the bands shows, in phase.

    Flicker and interference cross the whole picture with one phase; the scene's own
    regular structure (shelving, tiles, a chequered floor) fills part of it or changes
    phase from strip to strip. Each strip's component is taken relative to the strip's
    brightness (flicker modulates light, so dark strips show it weaker) and reported as
    the amplitude in grey levels at mid-grey (128): the weakest strip's in-phase part.
    A band counts only when it stands out of the spectrum around it (_STRIPE_PROMINENCE
    times the median): a straight edge across the view, such as a counter's, is coherent
    too but spreads over every frequency. ``grey_sums``: the grey picture's integral
    image; each strip's brightness profile is a difference of its differences."""
    height, width = grey_sums.shape[0] - 1, grey_sums.shape[1] - 1
    prepared = _stripe_operator(height, width) if min(height, width) >= _STRIPE_STRIPS else None
    if prepared is None:
        return 0.0
    operator, row_bands = prepared
    across, column_share = _strip_edges(width)
    down, row_share = _strip_edges(height)
    # Column k: the row profile of vertical strip k stacked on the column profile of
    # horizontal strip k (sums up to each strip edge, differenced twice).
    upto = np.concatenate((grey_sums[:, across], grey_sums[down, :].T))
    within = upto[:, 1:] - upto[:, :-1]
    profiles = np.empty((height + width, _STRIPE_STRIPS), np.float32)
    profiles[:height] = (within[1 : height + 1] - within[:height]) * column_share
    profiles[height:] = (within[height + 2 :] - within[height + 1 : -1]) * row_share
    brightness = np.maximum(profiles[:height].sum(axis=0) / height, _STRIPE_DARKEST)
    profiles[:height] *= 128.0 / brightness
    brightness = np.maximum(profiles[height:].sum(axis=0) / width, _STRIPE_DARKEST)
    profiles[height:] *= 128.0 / brightness
    parts = operator @ profiles
    bands = parts.shape[0] // 2
    real, imaginary = parts[:bands], parts[bands:]
    common_real = real.sum(axis=1, keepdims=True)
    common_imaginary = imaginary.sum(axis=1, keepdims=True)
    in_phase = (real * common_real + imaginary * common_imaginary).min(axis=1)
    norm = np.hypot(common_real, common_imaginary).reshape(-1) + 1e-9
    weakest = in_phase / norm
    # The strips' mean component per band, and the typical one of each direction.
    common = norm / _STRIPE_STRIPS
    floor = np.empty_like(common)
    floor[:row_bands] = _percentile(common[:row_bands], 0.5)
    floor[row_bands:] = _percentile(common[row_bands:], 0.5)
    standing = weakest[weakest >= _STRIPE_PROMINENCE * floor]
    return float(standing.max()) if standing.size else 0.0


@dataclass(frozen=True, eq=False)
class _ProfileFit:
    """A reference profile prepared once for ``_unexplained``: row k of ``windows`` is the
    profile shifted by k - reach with its mean removed; ``energy`` their sums of squares."""

    profile: Profile
    windows: npt.NDArray[np.float32] | None
    energy: npt.NDArray[np.float32] | None


def _profile_fit(enrolled: Profile, reach: int = _STRIPE_REACH) -> _ProfileFit:
    size = enrolled.shape[0]
    if size <= 4 * reach:
        return _ProfileFit(enrolled, None, None)
    shifted = np.lib.stride_tricks.sliding_window_view(enrolled, size - 2 * reach)
    windows = np.ascontiguousarray(shifted - shifted.mean(axis=1, keepdims=True))
    energy = np.maximum((windows * windows).sum(axis=1), 1e-6)
    return _ProfileFit(enrolled, windows, energy)


def _unexplained(
    current: Profile, fit: _ProfileFit, reach: int = _STRIPE_REACH
) -> npt.NDArray[np.float32]:
    """What is left of ``current`` after the best fit ``a * enrolled + b`` over shifts of
    +-reach pixels: exposure, haze (affine in brightness) and a camera nudged by a few
    pixels must not turn the scene's own structure into stripes."""
    if fit.windows is None or fit.energy is None:
        return np.asarray(current - fit.profile, np.float32)
    target = current[reach : current.shape[0] - reach]
    y = target - float(target.sum()) / target.shape[0]
    slope = (fit.windows @ y) / fit.energy
    residuals = y[None, :] - slope[:, None] * fit.windows
    best = int(np.abs(residuals).sum(axis=1).argmin())
    return np.asarray(residuals[best], dtype=np.float32)


def _stripes_vs_reference(
    profiles: tuple[Profile, Profile], reference: tuple[_ProfileFit, _ProfileFit]
) -> float:
    """Periodic bands in what the reference does not explain: the scene cancels out."""
    best = 0.0
    for current, enrolled in zip(profiles, reference, strict=True):
        if current.shape != enrolled.profile.shape:
            return 0.0
        best = max(best, _band_peak(_unexplained(current, enrolled)))
    return best


# OpenCV takes a 4-element float64 array as a per-channel scalar.
_LAB_NEUTRAL = np.array([128.0, 128.0, 128.0, 0.0])  # L (unused), a, b of a grey pixel
_AB_NEUTRAL = np.array([128.0, 128.0, 0.0, 0.0])
_TINT_MIN_LIGHTNESS = 40.0  # 8-bit L at or below which chroma/lightness is too unstable


def _chroma(thumb: Image) -> tuple[dict[str, float], Image]:
    """Colour statistics of the thumbnail, and the thumbnail in Lab (for ``_tint``)."""
    linear = cv2.LUT(thumb, _SRGB_TO_LINEAR)
    lin_mean, lin_std = cv2.meanStdDev(linear)
    lin_b, lin_g, lin_r = (float(v) for v in np.asarray(lin_mean).reshape(-1)[:3])
    spread_b, spread_g, spread_r = (float(v) for v in np.asarray(lin_std).reshape(-1)[:3])
    lab = np.asarray(cv2.cvtColor(thumb, cv2.COLOR_BGR2LAB), np.uint8)
    mean, std = cv2.meanStdDev(lab)
    a = float(mean[1][0]) - 128.0
    b = float(mean[2][0]) - 128.0
    spread = math.hypot(float(std[1][0]), float(std[2][0]))
    distance = math.hypot(a, b)
    pixels = float(lab.shape[0] * lab.shape[1])
    off_grey = cv2.sumElems(cv2.absdiff(lab, _LAB_NEUTRAL))
    abs_chroma = (off_grey[1] + off_grey[2]) / pixels
    metrics = {
        "chroma_a": a,
        "chroma_b": b,
        "chroma": distance,
        "cast": distance / max(spread, 1.0),
        "colourfulness": abs_chroma,
        "lin_b": float(lin_b),
        "lin_g": float(lin_g),
        "lin_r": float(lin_r),
        "spread_b": spread_b,
        "spread_g": spread_g,
        "spread_r": spread_r,
    }
    return metrics, lab


def _tint(lab: Image) -> float:
    """A tint over the whole frame, in % of lightness (0 when there is none).

    A tint over a grey scene makes every pixel's chroma proportional to its lightness,
    in one direction: chroma/lightness is then nearly constant. Colourful scenes (and
    warm scenes with varied saturation) spread it out."""
    lightness, chroma_a, chroma_b = cv2.split(lab)
    _, lit = cv2.threshold(lightness, _TINT_MIN_LIGHTNESS, 255, cv2.THRESH_BINARY)
    if cv2.countNonZero(lit) < 50:
        return 0.0
    chroma_ab = cv2.subtract(cv2.merge((chroma_a, chroma_b)), _AB_NEUTRAL, dtype=cv2.CV_32F)
    ratio = cv2.divide(chroma_ab, cv2.merge((lightness, lightness)), scale=100.0, dtype=cv2.CV_32F)
    tint_mean, tint_std = cv2.meanStdDev(ratio, mask=lit)
    tint_spread = math.hypot(float(tint_std[0][0]), float(tint_std[1][0]))
    tint_size = math.hypot(float(tint_mean[0][0]), float(tint_mean[1][0]))
    return tint_size if tint_size >= _TINT_COHERENCE * max(tint_spread, 1.0) else 0.0


def _cast_shift(metrics: dict[str, float], reference: dict[str, float]) -> float:
    """How far the white balance moved from the reference's: log of the largest ratio
    between the channels' gains, in linear light. Each gain is the ratio of the channel's
    spread to the reference's, so a change of exposure (all gains alike) and a veil of
    haze or steam (adds light, leaves the spreads' ratios) both cancel out."""
    gains = [
        math.log(max(metrics[channel], 1e-4) / max(reference.get(channel, 0.0), 1e-4))
        for channel in ("spread_b", "spread_g", "spread_r")
    ]
    return max(gains) - min(gains)


def _cell_corners(image: Image, rows: int, cols: int) -> npt.NDArray[np.int32]:
    """The integral image at the corners of the BLOCK_PX cells."""
    integral = cv2.integral(image[: rows * BLOCK_PX, : cols * BLOCK_PX], sdepth=cv2.CV_32S)
    return np.asarray(integral, np.int32)[::BLOCK_PX, ::BLOCK_PX]


def _cell_sums(corners: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Sum of each cell from the integral image at its corners."""
    return corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]


def _block_stats(
    grey: Image,
    d_vertical: Image,
    d_horizontal: Image,
    grey_sums: npt.NDArray[np.int32] | None = None,
) -> _BlockStats:
    """Mean brightness and mean gradient (|dx| + |dy|) / 2 per BLOCK_PX cell (the
    right and bottom remainders that do not fill a cell are left out). ``grey_sums``:
    the grey picture's integral image when it is already at hand."""
    height, width = grey.shape[:2]
    cols = max(1, (width - 1) // BLOCK_PX)
    rows = max(1, (height - 1) // BLOCK_PX)
    area = float(BLOCK_PX * BLOCK_PX)
    if grey_sums is None:
        corners = _cell_corners(grey, rows, cols)
    else:
        corners = grey_sums[: rows * BLOCK_PX + 1 : BLOCK_PX, : cols * BLOCK_PX + 1 : BLOCK_PX]
    mean = _cell_sums(corners) / area
    both = _cell_corners(d_vertical, rows, cols) + _cell_corners(d_horizontal, rows, cols)
    gradient = _cell_sums(both) / (2.0 * area)
    return _BlockStats(mean=mean.astype(np.float32), gradient=gradient.astype(np.float32))


def _largest_edge_region(mask: Mask) -> float:
    """Share of the grid taken by the largest True region that touches the frame edge."""
    if not mask.any():
        return 0.0
    count, labels_raw, stats_raw, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=4
    )
    labels, stats = np.asarray(labels_raw), np.asarray(stats_raw)
    on_edge = np.zeros(count, np.bool_)
    on_edge[np.concatenate((labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]))] = True
    on_edge[0] = False  # the background
    if not on_edge.any():
        return 0.0
    return int(stats[on_edge, cv2.CC_STAT_AREA].max()) / float(mask.size)


def _largest_region(mask: Mask) -> float:
    if not mask.any():
        return 0.0
    count, _, stats_raw, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    stats = np.asarray(stats_raw)
    return int(stats[1:count, cv2.CC_STAT_AREA].max()) / float(mask.size)


@dataclass(frozen=True, eq=False)
class _Measurement:
    """A frame's own metrics and the intermediates the reference comparison reuses."""

    metrics: dict[str, float]
    blocks: _BlockStats
    profiles: tuple[Profile, Profile]
    noise_magnitude: Image
    grey_sums: npt.NDArray[np.int32]
    lab: Image  # the colour thumbnail in Lab

    def add_relative_bases(self) -> None:
        """Metrics that only mean something next to the reference's own."""
        self.metrics["noise"] = _noise(self.noise_magnitude)

    def add_single_frame_forms(self) -> None:
        """What one frame can judge on its own: noise floor, coherent stripes, a tint and
        the blank region joined to the edge (used without a reference, or when the view
        moved away from it)."""
        self.metrics["noise_floor"] = _noise_floor(self.noise_magnitude, self.grey_sums)
        self.metrics["stripes"] = _stripes(self.grey_sums)
        self.metrics["blank_edge"] = _largest_edge_region(self.blocks.gradient < _FLAT_GRADIENT)
        self.metrics["tint"] = _tint(self.lab)


def _measure(frame: Frame) -> _Measurement:
    grey = frame.grey
    metrics = _histogram_metrics(grey)
    d_vertical, d_horizontal = _differences(grey)
    metrics["blur"] = _blur(grey, d_vertical, d_horizontal)
    grey_sums = np.asarray(cv2.integral(grey), np.int32)
    colour, lab = _chroma(frame.thumb)
    metrics.update(colour)
    blocks = _block_stats(grey, d_vertical, d_horizontal, grey_sums)
    return _Measurement(metrics, blocks, _profiles(grey), _noise_response(grey), grey_sums, lab)


def make_reference(frame: Frame) -> Reference:
    measured = _measure(frame)
    measured.add_relative_bases()
    measured.add_single_frame_forms()  # not compared, but kept with the reference
    return Reference(
        frame=frame,
        metrics=measured.metrics,
        view=features(frame.grey),
        blocks=measured.blocks,
        profiles=(_profile_fit(measured.profiles[0]), _profile_fit(measured.profiles[1])),
        tiles=view_tiles(_tile_picture(frame.thumb)),
    )


def _tile_picture(thumb: Image, size: tuple[int, int] | None = None) -> Image:
    """The small grey picture of the quick view check: the colour thumbnail in grey (at
    ``size`` when the reference's differs)."""
    grey = np.asarray(cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY), np.uint8)
    if size is not None and (grey.shape[1], grey.shape[0]) != size:
        grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.uint8)
    return grey


def _locate_view(reference: Reference, frame: Frame) -> ViewMatch | None:
    """Where the enrolled view is in the frame (already at the reference's size): the
    quick tile check when it is sure nothing moved, else feature matching. None when the
    reference is too featureless to tell."""
    if len(reference.view) < MIN_REFERENCE_FEATURES:
        return None
    if reference.tiles is not None:
        quick = still_in_place(reference.tiles, _tile_picture(frame.thumb, reference.tiles.size))
        if quick is not None:
            return quick
    return match_view(reference.view, features(frame.grey))


def _percentile(values: npt.NDArray[np.floating[Any]], fraction: float) -> float:
    """``np.percentile(values, 100 * fraction)`` (linear interpolation) by partition."""
    last = int(values.shape[0]) - 1
    position = fraction * last
    low = math.floor(position)
    high = min(low + 1, last)
    pair = np.partition(values, (low, high))
    return float(pair[low]) + (position - low) * (float(pair[high]) - float(pair[low]))


def _blocked_with_gain(
    blocks: _BlockStats, reference: _BlockStats, gain: float, offset: float = 0.0
) -> Mask:
    ratio = blocks.gradient * gain / np.maximum(reference.gradient, 1e-3)
    detailed = reference.gradient >= _DETAIL_GRADIENT
    # A blurred or hazy frame loses detail everywhere; compare with the frame's own
    # best-kept detail so only local loss counts.
    kept = _percentile(ratio[detailed], 0.9) if int(detailed.sum()) >= 4 else 1.0
    kept = min(1.0, max(kept, 0.05))
    lost_detail = detailed & (ratio < 0.35 * kept)
    flat_now = blocks.gradient * gain < _FLAT_GRADIENT * 1.5
    changed = np.abs(blocks.mean * gain + offset - reference.mean) > 40.0
    return np.asarray(lost_detail | (changed & flat_now), dtype=np.bool_)


def _layout_kept(blocks: _BlockStats, reference: _BlockStats) -> float | None:
    """Correlation of the blocks' brightness with the reference's, in place. Steam, grease
    and defocus keep where the light and dark parts of the view are (a veil is affine in
    brightness, a blur barely moves 16-pixel block means) while they erase the detail that
    features need; a camera turned elsewhere keeps neither. None when either is flat."""
    current, enrolled = blocks.mean.reshape(-1), reference.mean.reshape(-1)
    if current.shape != enrolled.shape:
        return None
    current = current - current.mean()
    enrolled = enrolled - enrolled.mean()
    norm = math.sqrt(float(current @ current) * float(enrolled @ enrolled))
    return float(current @ enrolled) / norm if norm > 1e-6 else None


def _affine_fit(
    current: npt.NDArray[np.float32], enrolled: npt.NDArray[np.float32]
) -> tuple[float, float] | None:
    """``enrolled ~ slope * current + offset`` over the blocks (least squares)."""
    spread = float(current.std())
    if current.size < 8 or spread <= 1.0:
        return None
    slope = float(((current - current.mean()) * (enrolled - enrolled.mean())).mean())
    slope = min(3.5, max(0.5, slope / (spread * spread)))
    return slope, float(enrolled.mean()) - slope * float(current.mean())


def _blocked_vs_reference(
    blocks: _BlockStats,
    reference: _BlockStats,
    valid: Mask | None = None,
    veiled: bool = False,
) -> Mask:
    """Blocks that lost the detail they had, or changed brightness and went flat.

    Whether the picture's exposure changed or a veil came over it (compensate) or a
    cover darkened part of it (do not) is unknown, so a block counts only when it is
    blocked under every reading.
    ``valid`` leaves out blocks that are outside a moved view.
    """
    ref_mean = float(reference.mean.sum()) / reference.mean.size
    cur_mean = float(blocks.mean.sum()) / blocks.mean.size
    # Auto-exposure rarely moves the mean by more than a stop; a larger change is the
    # occluder itself (a bright sheet over a night view) and must not be normalised away.
    gain = min(2.0, max(0.5, ref_mean / max(cur_mean, 1.0)))
    blocked = _blocked_with_gain(blocks, reference, 1.0)
    if abs(gain - 1.0) > 0.02:
        blocked &= _blocked_with_gain(blocks, reference, gain)
    if veiled:
        # Steam or haze over the whole lens is affine (less contrast, more light): a third
        # reading, only when the contrast says there is a veil (a fit over a partly
        # covered view would bend towards the cover).
        fit = _affine_fit(blocks.mean.reshape(-1), reference.mean.reshape(-1))
        if fit is not None:
            blocked &= _blocked_with_gain(blocks, reference, *fit)
    if valid is not None:
        blocked &= valid
    return blocked


def _in_reference_geometry(grey: Image, match: ViewMatch | None) -> tuple[Image, Mask | None]:
    """The frame resampled onto the reference's pixel grid when the view moved a little
    (so blocks compare the same things), with the grid cells the frame still covers."""
    if match is None or match.homography is None or match.tiles_in_place is not None:
        return grey, None  # no match, or the quick check's identity
    homography = match.homography
    height, width = grey.shape[:2]
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    moved = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), homography).reshape(-1, 2)
    if float(np.abs(moved - corners).max()) < 1.5:
        return grey, None
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = np.asarray(
        cv2.warpPerspective(grey, homography, (width, height), flags=flags), np.uint8
    )
    inside = np.asarray(
        cv2.warpPerspective(np.full_like(grey, 255), homography, (width, height), flags=flags),
        np.uint8,
    )
    cols = max(1, (width - 1) // BLOCK_PX)
    rows = max(1, (height - 1) // BLOCK_PX)
    coverage = cv2.resize(
        np.ascontiguousarray(inside[: rows * BLOCK_PX, : cols * BLOCK_PX], np.float32),
        (cols, rows),
        interpolation=cv2.INTER_AREA,
    )
    return warped, np.asarray(coverage >= 254.0, dtype=np.bool_)


def analyse(
    frame: Frame, settings: QualityConfig | None = None, reference: Reference | None = None
) -> FrameReport:
    """Judge one frame (against the camera's reference when there is one)."""
    config = settings if settings is not None else QualityConfig()
    measured = _measure(frame)
    if reference is None:
        measured.add_single_frame_forms()
    else:
        measured.add_relative_bases()
    metrics_plain, blocks, profiles = measured.metrics, measured.blocks, measured.profiles
    metrics: dict[str, float | None] = dict(metrics_plain)
    match: ViewMatch | None = None
    blocked: Mask | None = None
    if reference is not None:
        fitted = fit_to(frame, reference.frame.size)
        if fitted is not frame:
            blocks = _block_stats(fitted.grey, *_differences(fitted.grey))
            profiles = _profiles(fitted.grey)
        ref = reference.metrics
        metrics["blur_rise"] = metrics_plain["blur"] - ref["blur"]
        metrics["contrast_kept"] = metrics_plain["contrast"] / max(ref["contrast"], 1e-3)
        # Texture read as noise scales with exposure; only noise beyond that counts.
        gain = min(2.0, max(0.5, metrics_plain["brightness"] / max(ref["brightness"], 1.0)))
        metrics["noise_rise"] = metrics_plain["noise"] - ref["noise"] * gain
        greyscale = metrics_plain["colourfulness"] < _GREYSCALE_CHROMA
        metrics["cast_shift"] = 0.0 if greyscale else _cast_shift(metrics_plain, ref)
        config_scene = config.checks.scene_changed
        if config_scene.enabled or config.checks.occluded.enabled:
            match = _locate_view(reference, fitted)
        by_features = match is not None and match.tiles_in_place is None
        metrics["view_lost"] = None if match is None else 1.0 - (match.view_kept or 0.0)
        metrics["inliers"] = float(match.inliers) if match is not None and by_features else None
        metrics["unmoved"] = float(match.unmoved) if match is not None and by_features else None
        metrics["tiles_in_place"] = (
            None if match is None or match.tiles_in_place is None else float(match.tiles_in_place)
        )
        if (metrics["view_lost"] or 0.0) > _rule_threshold(config_scene, relative=True):
            # Possibly another scene now: judge() may fall back to single-frame forms.
            measured.add_single_frame_forms()
            metrics.update(measured.metrics)
            metrics["layout_kept"] = _layout_kept(blocks, reference.blocks)
        aligned, valid = _in_reference_geometry(fitted.grey, match)
        if valid is not None:
            blocks = _block_stats(aligned, *_differences(aligned))
            profiles = _profiles(aligned)
        veil_rule = config.checks.low_contrast
        veiled = (
            metrics["contrast_kept"] is not None
            and veil_rule.enabled
            and (metrics["contrast_kept"] < _rule_threshold(veil_rule, relative=True))
        )
        blocked = _blocked_vs_reference(blocks, reference.blocks, valid, veiled)
        metrics["occlusion"] = _largest_region(blocked)
        metrics["stripes_rise"] = _stripes_vs_reference(profiles, reference.profiles)
    issues = judge(metrics, config, has_reference=reference is not None)
    return FrameReport(metrics=metrics, issues=issues, match=match, blocked=blocked)


def _rule_threshold(rule: CheckRule, relative: bool) -> float:
    if relative and rule.vs_reference is not None:
        return rule.vs_reference
    return rule.threshold


def _breaches(code: str, value: float, threshold: float) -> bool:
    return value < threshold if QualityCheck(code).lower_is_bad else value > threshold


def judge(
    metrics: dict[str, float | None], settings: QualityConfig, has_reference: bool
) -> list[QualityIssue]:
    """Turn metrics into issues (pure: metrics and settings in, issues out)."""
    checks = settings.checks
    found: dict[str, QualityIssue] = {}

    def consider(code: str, metric: str, relative: bool = False) -> None:
        rule: CheckRule = getattr(checks, code)
        value = metrics.get(metric)
        if not rule.enabled or value is None:
            return
        threshold = _rule_threshold(rule, relative)
        if value >= threshold if code == "no_signal" else _breaches(code, value, threshold):
            found[code] = QualityIssue(code, rule.severity, float(value), threshold)

    consider("no_signal", "uniformity")
    if "no_signal" in found:
        return list(found.values())
    consider("too_dark", "brightness")
    consider("too_bright", "brightness")
    moved = False
    if has_reference:
        consider("scene_changed", "view_lost")
        consider("occluded", "occlusion", relative=True)
        if "scene_changed" in found and "occluded" in found:
            # An unmatched view that is largely unlike the reference is covered, not
            # turned away, when what is left still matches the reference in place (a
            # turned camera has nothing where it was) or the lens is covered whole.
            unmatched = (metrics.get("view_lost") or 0.0) >= 1.0
            in_place = (metrics.get("unmoved") or 0.0) >= _COVERED_UNMOVED
            blank = (metrics.get("blank_edge") or 0.0) >= _COVERED_BLANK
            if (
                unmatched
                and (in_place or blank)
                and (metrics.get("occlusion") or 0.0) >= _COVERED_OCCLUSION
            ):
                del found["scene_changed"]
            else:
                del found["occluded"]  # block comparison is meaningless on a moved view
        if (
            "scene_changed" in found
            and (metrics.get("view_lost") or 0.0) >= 1.0
            and (metrics.get("layout_kept") or 0.0) >= _LAYOUT_KEPT
        ):
            # Unmatched, yet light and dark are where they were: the enrolled view behind
            # steam, grease or defocus, which the relative checks below name.
            del found["scene_changed"]
        moved = "scene_changed" in found
    # Against the reference when the view is the enrolled one; a moved view is another
    # scene, so it is judged on its own like a frame without a reference.
    relative = has_reference and not moved
    consider("blurred", "blur_rise" if relative else "blur", relative)
    consider("noisy", "noise_rise" if relative else "noise_floor", relative)
    consider("stripes", "stripes_rise" if relative else "stripes", relative)
    consider("low_contrast", "contrast_kept" if relative else "contrast", relative)
    consider("color_cast", "cast_shift" if relative else "tint", relative)
    if not has_reference:
        consider("occluded", "blank_edge")
    if "occluded" in found:
        # The cover dominates the picture's colour and brightness profile.
        found.pop("color_cast", None)
        found.pop("stripes", None)
    if "blurred" in found and has_reference and not moved:
        # Defocus erases the detail that block comparison relies on.
        found.pop("occluded", None)
    if "too_dark" in found or "too_bright" in found:
        # Darkness or glare is the root cause: it flattens detail, colour and contrast
        # everywhere and defeats view matching, so those findings would only be echoes.
        for echo in (
            "low_contrast",
            "color_cast",
            "occluded",
            "scene_changed",
            "blurred",
            "noisy",
            "stripes",
        ):
            found.pop(echo, None)
    return [found[code] for code in CHECK_CODES if code in found]


# --- sequences ---------------------------------------------------------------------------


def change_fraction(previous: Frame, current: Frame) -> float:
    """Share of pixels that changed by more than one grey level between two samples."""
    if previous.grey.shape != current.grey.shape:
        return 1.0
    diff = cv2.absdiff(previous.grey, current.grey)
    return cv2.countNonZero(cv2.threshold(diff, 1, 255, cv2.THRESH_BINARY)[1]) / float(diff.size)


_SAME_VIEW = 0.3  # phase-correlation peak at or above which two samples show one view


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
    cover, not a shake."""
    before, after = previous.half_grey, current.half_grey
    if before.shape != after.shape or min(before.shape) < 8:
        return None
    size = (after.shape[1], after.shape[0])
    (dx, dy), peak = cv2.phaseCorrelate(before, after, _shift_window(size))
    if peak < _SAME_VIEW:
        return None
    return 2.0 * math.hypot(dx, dy)


def _frozen(pairs: Sequence[tuple[Frame, Frame]], rule: CheckRule) -> QualityIssue | None:
    most = max(change_fraction(a, b) for a, b in pairs)
    return (
        QualityIssue("frozen", rule.severity, most, rule.threshold)
        if most < rule.threshold
        else None
    )


def check_sequence(
    frames: Sequence[Frame], settings: QualityConfig | None = None
) -> list[QualityIssue]:
    """Issues of consecutive samples of one camera: ``frozen`` when no pair changed,
    ``jitter`` when the view shook: at least two pairs, and half of them, moved by more
    than the threshold (one move alone is a camera knocked aside, for scene_changed)."""
    config = settings if settings is not None else QualityConfig()
    pairs = list(itertools.pairwise(frames))
    if not pairs:
        return []
    frozen = _frozen(pairs, config.checks.frozen) if config.checks.frozen.enabled else None
    if frozen is not None:
        return [frozen]
    jitter = config.checks.jitter
    if not jitter.enabled:
        return []
    shifts = [shift for a, b in pairs if (shift := view_shift(a, b)) is not None]
    shaken = sorted(shift for shift in shifts if shift > jitter.threshold)
    if len(shaken) >= 2 and 2 * len(shaken) >= len(pairs):
        return [QualityIssue("jitter", jitter.severity, shaken[len(shaken) // 2], jitter.threshold)]
    return []


def pair_issues(previous: Frame, current: Frame, settings: QualityConfig) -> list[QualityIssue]:
    """The daemon's per-sample form: ``frozen`` when nothing changed since the previous
    sample, ``jitter`` when the whole view moved (the alarm's raise_after then asks for
    several shaken samples in a row)."""
    checks = settings.checks
    frozen = _frozen([(previous, current)], checks.frozen) if checks.frozen.enabled else None
    if frozen is not None:
        return [frozen]
    shift = view_shift(previous, current) if checks.jitter.enabled else None
    if shift is not None and shift > checks.jitter.threshold:
        return [QualityIssue("jitter", checks.jitter.severity, shift, checks.jitter.threshold)]
    return []
