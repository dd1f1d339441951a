"""What one frame shows, measured once at the analysis width (typed, no string keys).

Light (``brightness``, ``contrast``, what is lost to white or black, the veil) is
``exposure.py``'s, colour ``colour.py``'s, stripes ``stripes.py``'s; here the rest and the
records. What each measurement catches, and what it cannot:

- ``uniformity`` (``no_signal``): share of pixels within +-4 grey levels of the commonest
  level. Catches black/blue/grey screens and "no signal" cards with a little text; not
  colour bars.
- ``blur`` (``blurred``): Crete-Roffet re-blur measure (blurring a sharp picture changes it
  much, blurring a blurred one changes it little), 0 sharp .. 1 flat. Scene-dependent
  without a reference: a close-up on a smooth surface reads as soft; against the camera's
  reference the rise in blur is judged.
- ``soft_blocks`` (only ever "cannot judge" on one frame): the median re-blur of the lit,
  structured 32-pixel blocks. Grease strokes or fog over most of the lens leave most of
  them soft while the glass between keeps the whole-frame measure low; a soft scene does
  the same, so one frame only says so.
- ``noise_floor`` (``noisy`` without a reference): the 5th percentile of Immerkaer's fast
  noise estimate over 8-pixel cells that are not clipped black or white, a bright cell's
  estimate raised by as much as the camera's tone curve and the nearness of white squeeze
  noise there (a bright wall looks smooth at high gain). Texture raises the estimate only
  where there is texture, while snow is everywhere, so a busy scene still has quiet cells
  that show its true noise, dark or bright: herbs, granite or fur over most of the view
  with a plate or a steel pot in it read the plate. A scene textured edge to edge with no
  smooth part at all can still read as noisy. ``noise``: the whole-frame median form
  (robust to edges), compared with the reference's. ``noise_between``: the noise as what
  changed between two samples of a still view (texture is in both and cancels), which
  settles such a view when two samples are at hand (``sequence.noise_in_time``).
- ``blank_edge`` (``occluded`` without a reference): the largest featureless region joined
  to the frame edge, and how much of the frame's border it takes (``blank_border``):
  a cover comes in from a side or a corner and leaves the rest of the view reaching the
  frame's edge, while a dark, out-of-focus background runs all round the lit subject
  in front of it. Smooth steel or sky filling half the view can still read as a cover; a
  cover over less than about half the view cannot be told from a smooth surface.
- ``blur_beyond_blank`` (``blurred`` beside ``occluded`` without a reference): ``blur``
  of the view beyond that region and the ring of blocks around it (a cover's soft edge).
  A cover near the lens leaves the rest as sharp as it was; a lens out of focus or fogged
  leaves large featureless areas that read as a cover, and nothing sharp beyond them.

Cost: every per-pixel pass is one OpenCV call on uint8 where the metric allows; what only
the single-frame judgement needs (noise floor, coherent stripes, tint, blank edge and the
blur beyond a large one) is computed only when asked for.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.banding import bars_alone
from agent.capture.quality.cells import (
    FLAT_GRADIENT,
    BlockStats,
    EdgeRegion,
    beyond,
    block_pixels,
    block_stats,
    cell_corners,
    cell_sums,
    edge_region,
    percentile,
)
from agent.capture.quality.colour import Colour, chroma, tint
from agent.capture.quality.exposure import Light, histogram_metrics, light
from agent.capture.quality.frame import Frame, Image, Mask
from agent.capture.quality.spectrum import blur_zeros
from agent.capture.quality.stripes import Profile, profiles, single_frame_stripes

Metrics = dict[str, float | None]  # the wire form: check-frame's "metrics", reference.json


def differences(grey: Image) -> tuple[Image, Image]:
    """|vertical| and |horizontal| neighbour differences (uint8), shared by blur and
    the occlusion blocks."""
    vertical = np.asarray(cv2.absdiff(grey[1:, :], grey[:-1, :]), np.uint8)
    horizontal = np.asarray(cv2.absdiff(grey[:, 1:], grey[:, :-1]), np.uint8)
    return vertical, horizontal


_BLUR_SPAN = 9  # the re-blur: a 9-pixel box along each axis


def _reblur_axes(
    grey: Image, d_vertical: Image, d_horizontal: Image
) -> tuple[tuple[Image, Image], tuple[Image, Image]]:
    """Per axis (vertical, horizontal): the neighbour differences 4 pixels in from the
    edges, and the differences 9 pixels apart (9 times the box-blurred picture's)."""
    span, half = _BLUR_SPAN, _BLUR_SPAN // 2
    return (
        (d_vertical[half:-half, :], np.asarray(cv2.absdiff(grey[span:, :], grey[:-span, :]))),
        (d_horizontal[:, half:-half], np.asarray(cv2.absdiff(grey[:, span:], grey[:, :-span]))),
    )


# Per axis (vertical, horizontal): the neighbour differences d 4 pixels in from the
# edges, and min(9 d, far), far being the differences 9 pixels apart.
Reblurred = tuple[tuple[Image, Image], tuple[Image, Image]]


def reblurred(grey: Image, d_vertical: Image, d_horizontal: Image) -> Reblurred | None:
    """What the re-blur measures are summed from (None: the picture is too small)."""
    height, width = grey.shape[:2]
    if height <= _BLUR_SPAN or width <= _BLUR_SPAN:
        return None
    (d_down, far_down), (d_across, far_across) = _reblur_axes(grey, d_vertical, d_horizontal)
    nine = float(_BLUR_SPAN)
    return (
        (d_down, np.asarray(cv2.min(cv2.convertScaleAbs(d_down, alpha=nine), far_down))),
        (d_across, np.asarray(cv2.min(cv2.convertScaleAbs(d_across, alpha=nine), far_across))),
    )


def _axis_blur(d_image: Image, kept: Image) -> float | None:
    """sum(min(9 d, far)) / 9 / sum(d) over one axis, None when there is no difference."""
    total = float(cv2.sumElems(d_image)[0])
    if total <= 0.0:
        return None
    return float(cv2.sumElems(kept)[0]) / _BLUR_SPAN / total


def blur_of(axes: Reblurred | None) -> float:
    """``blur`` from what ``reblurred`` made."""
    if axes is None:
        return 1.0
    results = []
    for d_image, kept in axes:
        result = _axis_blur(d_image, kept)
        if result is None:
            return 1.0
        results.append(result)
    return max(results)


def blur(grey: Image, d_vertical: Image, d_horizontal: Image) -> float:
    """Crete-Roffet et al. 2007 'The blur effect' (as in scikit-image), 0 sharp .. 1.

    Per axis, 1 - sum(max(0, d - d_blurred)) / sum(d) = sum(min(d, d_blurred)) / sum(d),
    with d the neighbour differences and d_blurred those of the picture box-blurred over
    9 pixels. The latter telescope to differences 9 pixels apart divided by 9, so the
    blurred picture is never made, and min(9 d, far) is exact in saturating uint8 (far is
    at most 255). The 4 rows (columns) each side, where the box would leave the picture,
    are left out.
    """
    return blur_of(reblurred(grey, d_vertical, d_horizontal))


def blur_where(grey: Image, keep: Mask) -> float:
    """``blur`` over the BLOCK_PX cells of the block grid ``keep`` marks (the view a cover
    leaves). Only asked for when a cover and blur were both found."""
    return blur_within(reblurred(grey, *differences(grey)), keep, grey.shape)


def blur_within(axes: Reblurred | None, keep: Mask, shape: tuple[int, ...]) -> float:
    """``blur`` from what ``reblurred`` made of a picture of ``shape``, over the BLOCK_PX
    cells ``keep`` marks, each difference counted where it sits: outside them both
    differences are zeroed, which adds nothing to either sum."""
    if axes is None or not keep.any():
        return 1.0
    height, width = shape[:2]
    inside = block_pixels(keep, shape).astype(np.uint8)
    half = _BLUR_SPAN // 2
    where = (inside[half : height - half - 1, :], inside[:, half : width - half - 1])
    return blur_of(
        (
            (axes[0][0] * where[0], axes[0][1] * where[0]),
            (axes[1][0] * where[1], axes[1][1] * where[1]),
        )
    )


# A picture this soft (whole-picture blur) is asked for a lens blur's spectral zeros: the
# judge weighs them from 5/6 of the blur threshold, 0.40 of the default 0.48. A sharper
# picture spares the 1.6 ms they take at 320x180 (twice the rest of its analysis).
BLUR_ZEROS_FROM = 0.4
# A blank region joined to the edge this large (a share of the grid) is asked how soft the
# view beyond it is: on one frame the judge calls a cover from 0.6 of the view and notes one
# from half of that, 0.3. A smaller region spares the 0.05 ms it takes at 320x180 (a
# twentieth of the rest of the analysis).
BLUR_BEYOND_FROM = 0.3
# Less than this share of the view beyond the region and its ring is too little to say how
# soft the rest of the view is.
_LEAST_BEYOND = 0.05

# The soft view: blocks large enough for the 9-pixel re-blur to tell a soft edge from a
# sharp one (at the analysis width of 320, a 9 x 5 grid), lit enough that sensor noise
# does not pass for detail (grease and fog on the lens glow, and what is lit is what the
# view is for), with structure at the re-blur's scale (a smooth wall has none to judge).
_SOFT_BLOCK_PX = 32
_SOFT_LIT = 90.0  # a block's mean grey level
_SOFT_STRUCTURE = 12.0  # a block's standard deviation of grey levels
_SOFT_LEAST_BLOCKS = 6  # fewer such blocks: the view has too little lit detail to judge


def soft_blocks(
    axes: Reblurred | None,
    grey_sums: npt.NDArray[np.int32],
    grey_squares: npt.NDArray[np.float64],
) -> float | None:
    """The median re-blur (``blur``'s measure, 0 sharp .. 1) of the lit, structured
    32-pixel blocks; None when fewer than six are.

    The whole-frame ``blur`` is held down by whatever stayed sharp: the clear glass between
    grease strokes, the clear drops in condensation, and on a soft scene the few edges a
    defocused lens still leaves. Block by block, most of the lit view is soft then. A
    healthy kitchen camera's wide lens keeps the whole room in focus (the rendered kitchens
    read 0.33-0.48, smeared over 60 % of the lens mostly 0.55-0.7), but a photograph's soft
    background, or a soft scene, reads as soft too. ``grey_sums``, ``grey_squares``: the
    grey picture's integral images."""
    if axes is None:
        return None
    (d_down, kept_down), (d_across, kept_across) = axes
    span, half = _SOFT_BLOCK_PX, _BLUR_SPAN // 2
    rows, cols = d_down.shape[0] // span, d_across.shape[1] // span
    if rows * cols < _SOFT_LEAST_BLOCKS:
        return None

    # Both axes and the light on the same pixels: from 4 in on either axis, where the
    # re-blur's differences sit.
    def block_sums(image: Image) -> npt.NDArray[np.int32]:
        return cell_sums(cell_corners(image, rows, cols, span))

    down = block_sums(kept_down[:, half:]) / np.maximum(block_sums(d_down[:, half:]), 1)
    across = block_sums(kept_across[half:, :]) / np.maximum(block_sums(d_across[half:, :]), 1)
    block_blur = np.maximum(down, across) / _BLUR_SPAN
    pixels = float(span * span)
    on_grid = (slice(half, half + rows * span + 1, span), slice(half, half + cols * span + 1, span))
    mean = cell_sums(grey_sums[on_grid]) / pixels
    spread = np.sqrt(np.maximum(cell_sums(grey_squares[on_grid]) / pixels - mean**2, 0.0))
    judged = (mean >= _SOFT_LIT) & (spread >= _SOFT_STRUCTURE)
    if int(np.count_nonzero(judged)) < _SOFT_LEAST_BLOCKS:
        return None
    return percentile(block_blur[judged], 0.5)


_SECOND_DIFFERENCE = np.array([1, -2, 1], dtype=np.float32)


def noise_response(grey: Image) -> Image:
    """|Immerkaer's 3x3 noise filter| (uint8, saturated) over the inner pixels. Its kernel
    is the outer product of two second differences, so it is applied separably."""
    response = cv2.sepFilter2D(grey, cv2.CV_16S, _SECOND_DIFFERENCE, _SECOND_DIFFERENCE)
    return np.asarray(cv2.convertScaleAbs(response[1:-1, 1:-1]), np.uint8)


# |response| of Gaussian noise of sigma s is half-normal with sigma 6*s.
_MEDIAN_TO_SIGMA = 1.0 / (0.6745 * 6.0)
_MEAN_TO_SIGMA = math.sqrt(math.pi / 2.0) / 6.0


def noise_estimate(magnitude: Image) -> float:
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
# Sensor noise shows less in the highlights: the tone curve's shoulder compresses them and
# white clips the top of the noise. Above mid-grey a cell's estimate is divided by the
# square root of its headroom to white (as a share of mid-grey's), so a bright smooth wall
# at high gain is not the quietest part of a noisy picture, while a plate or a steel pot
# that is really smooth still is the quietest part of a textured one.
_FLOOR_MID = 128.0


def noise_floor(magnitude: Image, grey_sums: npt.NDArray[np.int32]) -> float:
    """Noise where the picture is quietest: Immerkaer's estimate (mean form) per 8-pixel
    cell, raised in the highlights by what the tone curve squeezes there, 5th percentile
    over the cells that are not clipped black or white.

    Texture raises the estimate only where there is texture, while sensor noise and
    snow are everywhere, so even a busy scene has cells that show its true noise. One
    frame can then tell a noisy picture from a detailed one (the median form cannot).
    ``grey_sums``: the integral image of the grey picture (``magnitude`` is its inner
    part, one pixel in from each edge)."""
    height, width = magnitude.shape[:2]
    rows, cols = height // _FLOOR_PX, width // _FLOOR_PX
    if rows * cols < 8:  # too small to have quiet parts: the whole frame's estimate
        return noise_estimate(magnitude) if magnitude.size else 0.0
    span = _FLOOR_PX
    area = float(span * span)
    response = cell_sums(cell_corners(magnitude, rows, cols, span)).reshape(-1) / area
    corners = grey_sums[1 : 2 + rows * span : span, 1 : 2 + cols * span : span]
    levels = cell_sums(corners).reshape(-1) / area
    unclipped = (levels >= _FLOOR_LEVELS[0]) & (levels <= _FLOOR_LEVELS[1])
    if int(np.count_nonzero(unclipped)) >= 8:
        headroom = (255.0 - levels[unclipped]) / (255.0 - _FLOOR_MID)
        response = response[unclipped] / np.sqrt(np.minimum(headroom, 1.0))
    return percentile(response, _FLOOR_SHARE) * _MEAN_TO_SIGMA


# Fewer cells that changed at all between two samples than this share of the judged ones:
# the samples do not show the sensor's noise twice over, so it is not measured. A live
# sensor's fresh noise changes some pixel of every 8-pixel cell even when it is faint
# (under a grey level: a 1080p camera's noise at the analysis width), while an encoder
# that copies still blocks from the previous frame (a low-bitrate stream's skip blocks)
# or a frozen picture leaves whole cells exactly as they were.
_CELLS_CHANGED_ENOUGH = 0.5


def noise_between(previous: Image, current: Image) -> float | None:
    """The sensor's noise (sigma in grey levels) as what changed between two grey samples
    of one still view: Immerkaer's estimate (mean form) on their difference, per 8-pixel
    cell that changed and is not clipped in either, the median over those cells, divided
    by the square root of two (each sample brings its own noise).

    Texture is in both samples and cancels; noise is drawn afresh for each and does not.
    The filter on the difference ignores a change of exposure between the two (it is
    smooth), and the median ignores what moved in a minority of the view; cells left
    exactly as they were (copied by the encoder) are not counted. None when the samples
    differ in size or fewer than half of the judged cells changed at all."""
    if previous.shape != current.shape or previous.ndim != 2:
        return None
    height, width = current.shape
    rows, cols = (height - 2) // _FLOOR_PX, (width - 2) // _FLOOR_PX
    if rows * cols < 8:
        return None
    difference = cv2.subtract(current, previous, dtype=cv2.CV_16S)
    response = np.abs(
        cv2.sepFilter2D(difference, cv2.CV_32F, _SECOND_DIFFERENCE, _SECOND_DIFFERENCE)
    )

    def per_cell(image: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        inner = image[1 : 1 + rows * _FLOOR_PX, 1 : 1 + cols * _FLOOR_PX].astype(np.float64)
        cells = inner.reshape(rows, _FLOOR_PX, cols, _FLOOR_PX).mean(axis=(1, 3))
        return np.asarray(cells, np.float64).reshape(-1)

    noise = per_cell(response) * _MEAN_TO_SIGMA / math.sqrt(2.0)
    changed = per_cell(difference != 0) > 0.0
    levels = (per_cell(previous), per_cell(current))
    judged = np.logical_and.reduce(
        [(level >= _FLOOR_LEVELS[0]) & (level <= _FLOOR_LEVELS[1]) for level in levels]
    )
    if int(np.count_nonzero(judged)) < 8:
        return None
    if np.count_nonzero(changed & judged) < _CELLS_CHANGED_ENOUGH * np.count_nonzero(judged):
        return None
    return float(np.median(noise[changed & judged]))


def _flat(record: Any) -> Metrics:
    """A record's fields by name, in order, nested records flattened into it."""
    out: Metrics = {}
    for item in fields(record):
        value = getattr(record, item.name)
        if isinstance(value, Colour | Light):
            out.update(_flat(value))
        else:
            out[item.name] = value
    return out


@dataclass(frozen=True)
class Measurements:
    """What every frame is measured for, with or without a reference."""

    brightness: float
    contrast: float
    uniformity: float
    blur: float
    colour: Colour
    light: Light


@dataclass(frozen=True)
class SingleFrameForms:
    """What one frame can judge on its own (without a reference, or when the view moved
    away from it): noise floor, coherent stripes, the blank region joined to the edge, a
    tint and, for a soft picture, the zeros a lens blur leaves in its spectrum."""

    noise_floor: float
    stripes: float
    blank_edge: float
    tint: float
    blank_border: float = 0.0  # share of the frame's border the blank region takes
    # 1 and more: a defocus disc's or a motion streak's zeros (``spectrum.blur_zeros``);
    # None when the picture is sharper than ``BLUR_ZEROS_FROM`` (not asked).
    blur_zeros: float | None = None
    # ``blur`` of the view beyond the blank region and the ring of blocks around it (a
    # cover's soft edge): a cover near the lens leaves the rest of the view as sharp as it
    # was, a lens out of focus leaves nothing sharp. None when the blank region is under
    # ``BLUR_BEYOND_FROM`` (not asked), or it and its ring leave under a twentieth of it.
    blur_beyond_blank: float | None = None


@dataclass(frozen=True)
class Comparison:
    """The frame against the camera's reference (see ``compare.py``)."""

    blur_rise: float
    contrast_kept: float
    noise_rise: float
    cast_shift: float
    view_lost: float | None  # share of the frame the enrolled view no longer fills
    inliers: float | None  # feature matches that agree (None: features were not matched)
    unmoved: float | None  # feature matches at the very same place
    tiles_in_place: float | None  # set when the quick check settled it
    occlusion: float  # largest region of blocked blocks, share of the grid
    stripes_rise: float
    clipped_rise: float  # share lost to white, over the reference's
    clarity_kept: float  # clarity as a fraction of the reference's
    lift_rise: float  # black level lifted further than the reference's
    # Only when the view may be another scene now: correlation of the block brightness
    # with the reference's in place.
    layout_kept: float | None = None
    detail_lost: float = 0.0  # share of the reference's detailed blocks that lost half of it
    # Only when blocks were blocked: the same share counting only the blocks beyond the
    # largest blocked region and the ring around it (what a cover does not explain).
    lost_beyond_cover: float | None = None
    # Only when the view may be another scene now: correlation, pixel by pixel, of the fine
    # detail of the blocks that still show some with the reference's in place.
    detail_in_place: float | None = None
    # Only when a cover was found: the brightness of the view it leaves, as a fraction of
    # the reference's there.
    uncovered_light: float | None = None
    # Only when a cover and blur were both found: the rise in blur of the view it leaves.
    uncovered_blur_rise: float | None = None


@dataclass(frozen=True)
class FrameMetrics:
    """Everything measured of one frame: its own measurements, the noise estimate that is
    compared with the reference's, the single-frame forms (when they were needed) and the
    comparison with the reference (when there is one)."""

    own: Measurements
    noise: float | None = None
    alone: SingleFrameForms | None = None
    versus: Comparison | None = None

    def as_dict(self) -> Metrics:
        """The wire form (check-frame's JSON, reference.json), in a fixed order."""
        out = _flat(self.own)
        if self.noise is not None:
            out["noise"] = self.noise
        versus = self.versus
        if versus is None:
            if self.alone is not None:
                out.update(_flat(self.alone))
            return out
        compared = _flat(versus)
        tail = {
            key: compared.pop(key)
            for key in ("layout_kept", "detail_in_place", "occlusion", "stripes_rise")
        }
        out.update(compared)
        if self.alone is not None:
            out.update(_flat(self.alone))
            out["layout_kept"] = tail["layout_kept"]
            out["detail_in_place"] = tail["detail_in_place"]
        out["occlusion"] = tail["occlusion"]
        out["stripes_rise"] = tail["stripes_rise"]
        return out


@dataclass(frozen=True, eq=False)
class Measured:
    """A frame's measurements and the intermediates the other forms and the reference
    comparison reuse; the other forms are computed once, when first asked for."""

    values: Measurements
    blocks: BlockStats
    profiles: tuple[Profile, Profile]
    noise_magnitude: Image
    grey_sums: npt.NDArray[np.int32]
    grey_squares: npt.NDArray[np.float64]  # integral image of the squared grey levels
    reblur: Reblurred | None  # what the blur was summed from, summed again block by block
    lab: Image  # the colour thumbnail in Lab
    frame: Frame  # what was measured (its half-size picture is made once, when needed)

    @functools.cached_property
    def noise(self) -> float:
        """The whole-frame noise estimate, only meaningful next to the reference's."""
        return noise_estimate(self.noise_magnitude)

    @functools.cached_property
    def single_frame(self) -> SingleFrameForms:
        blank = edge_region(self.blocks.gradient < FLAT_GRADIENT)
        return SingleFrameForms(
            noise_floor=noise_floor(self.noise_magnitude, self.grey_sums),
            stripes=single_frame_stripes(self.grey_sums),
            blank_edge=blank.share,
            tint=tint(self.lab),
            blank_border=blank.border,
            blur_zeros=(
                blur_zeros(self.frame.grey) if self.values.blur >= BLUR_ZEROS_FROM else None
            ),
            blur_beyond_blank=self._blur_beyond(blank),
        )

    def _blur_beyond(self, blank: EdgeRegion) -> float | None:
        if blank.cells is None or blank.share < BLUR_BEYOND_FROM:
            return None
        rest = beyond(blank.cells)
        if np.count_nonzero(rest) < _LEAST_BEYOND * rest.size:
            return None
        return blur_within(self.reblur, rest, self.frame.grey.shape)

    @functools.cached_property
    def bars(self) -> float:
        """A sharp periodic pattern in the picture's own fine detail (interference bars or
        the scene's: only ever "cannot judge" on one frame), read only for that note."""
        return bars_alone(self.frame.half_grey)

    @functools.cached_property
    def soft(self) -> float | None:
        """How soft the lit parts of the picture are block by block (``soft_blocks``), read
        only for the "cannot judge" note."""
        return soft_blocks(self.reblur, self.grey_sums, self.grey_squares)


def measure(frame: Frame) -> Measured:
    grey = frame.grey
    levels = histogram_metrics(grey)
    d_vertical, d_horizontal = differences(grey)
    reblur = reblurred(grey, d_vertical, d_horizontal)
    sums, squares = cv2.integral2(grey, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
    grey_sums, grey_squares = np.asarray(sums, np.int32), np.asarray(squares, np.float64)
    blocks = block_stats(grey, d_vertical, d_horizontal, grey_sums)
    colour, lab = chroma(frame.thumb)
    values = Measurements(
        levels.brightness,
        levels.contrast,
        levels.uniformity,
        blur_of(reblur),
        colour,
        light(levels, frame.thumb, blocks.mean, grey_squares),
    )
    return Measured(
        values,
        blocks,
        profiles(grey),
        noise_response(grey),
        grey_sums,
        grey_squares,
        reblur,
        lab,
        frame,
    )
