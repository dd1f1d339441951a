"""The frame against the camera's reference (its enrolled view), using view matching.

- ``blur_rise``, ``contrast_kept``, ``noise_rise``: the frame's own measurements next to
  the reference's (noise beyond what exposure explains).
- ``cast_shift``: the shift of white balance: log of the largest ratio between the colour
  channels' gains against the reference, in linear light, the median over regions of the
  view (exposure changes cancel out; a flame or a lamp in part of the view is outvoted).
- ``view_lost`` (``scene_changed``): share of the frame the enrolled view no longer fills
  (1 when it cannot be matched). A quick check first looks for the reference's thumbnail
  tiles exactly in place (the usual case, nothing moved, at a few percent of the cost of
  matching); only when it is unsure is the reference mapped onto the frame by ORB +
  RANSAC homography (``view_match.py``). A view that cannot be matched but whose block
  brightness still correlates with the reference's in place (``layout_kept``) is the
  enrolled view behind steam, grease or defocus, not a moved camera. One whose fine
  detail, where it still shows any, is where the reference's was, pixel for pixel
  (``detail_in_place``), is the enrolled view with most of it covered.
- ``occlusion``: blocks that lost most of the detail they had, or the faint texture of a
  plain surface, or changed brightness and went flat, after compensating global exposure
  and global blur, on the reference's geometry when the view moved a little; the largest
  region of them, joined through blocks that were featureless and still are (what a
  cover hides on a plain wall).
  When it is a cover's size: ``uncovered_light``, the brightness of the view it leaves
  against the reference's there, and, when blur rose too, ``uncovered_blur_rise``, the
  blur of the view it leaves (the cover's or the lens's).
- ``stripes_rise``: periodic bands in what the reference's profiles do not explain, and
  the mains flicker and slanted interference bars those profiles miss (``banding.py``).
- ``detail_lost``: the share of the reference's detailed blocks that lost more than half
  their detail (after compensating exposure). A clean view, however nudged, noisy or
  striped, loses little (a quarter at most, under heavy JPEG); defocus, motion blur and
  a veil lose it nearly everywhere, and grease smeared over most of the lens loses it
  under the strokes while the clear glass between them keeps the frame's best-kept
  detail (which ``occlusion`` and ``clarity`` compare against) as it was. Where blocks
  were blocked, ``lost_beyond_cover`` counts only the blocks beyond the largest region
  and the ring around it: what a cover and its soft edge do not explain.

What only depends on the reference (its profiles' shifted windows, its tiles, its
features) is prepared once, at enrolment (``make_reference``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.banding import (
    Unexplained,
    centre_level,
    flicker_possible,
    flicker_vs_reference,
    interference_in,
    unexplained_centre,
)
from agent.capture.quality.cells import (
    BLOCK_PX,
    FLAT_GRADIENT,
    BlockStats,
    beyond,
    block_pixels,
    block_stats,
    joined_region,
    percentile,
)
from agent.capture.quality.colour import Colour, cast_shift, region_spreads
from agent.capture.quality.frame import Frame, Image, Mask, fit_to, half_size
from agent.capture.quality.metrics import (
    Comparison,
    FrameMetrics,
    Measured,
    blur_where,
    differences,
    measure,
)
from agent.capture.quality.stripes import (
    Profile,
    ProfileFit,
    profile_fit,
    profiles,
    stripes_vs_reference,
)
from agent.capture.view_match import (
    ViewFeatures,
    ViewMatch,
    ViewTiles,
    features,
    locate_view,
    tile_picture,
    view_tiles,
)
from agent.config.quality import QualityConfig

_GREYSCALE_CHROMA = 2.5  # mean |a|+|b| below this: a greyscale (IR night) frame


@dataclass(frozen=True, eq=False)
class Reference:
    """A camera's enrolled view: its frame, metrics and features."""

    frame: Frame
    metrics: FrameMetrics  # its own measurements, noise and single-frame forms
    view: ViewFeatures
    blocks: BlockStats
    profiles: tuple[ProfileFit, ProfileFit]
    tiles: ViewTiles | None  # for the quick "nothing moved" check
    colour_regions: npt.NDArray[np.float32]  # the white balance, region by region
    centre_level: tuple[float, float]  # mean and spread of half_grey's centre (banding.py)

    @functools.cached_property
    def fine(self) -> npt.NDArray[np.float32]:
        """The enrolled view's fine detail (only needed when a view may be gone: made then,
        once)."""
        return fine_detail(self.frame.grey)


def _bands_unexplained(
    shape: tuple[Profile, Profile],
    enrolled: tuple[ProfileFit, ProfileFit],
    left: Unexplained | None,
    least: float,
) -> float:
    """``stripes_rise``: the strongest of the bands in what the enrolled profiles do not
    explain, the mains flicker they miss, and interference bars in what the enrolled
    centre does not explain (``left``)."""
    return max(
        stripes_vs_reference(shape, enrolled, least),
        flicker_vs_reference(shape[0], enrolled[0].profile, least)
        if flicker_possible(left, least)
        else 0.0,
        interference_in(left, least),
    )


def stripes_between(previous: Frame, current: Frame, settings: QualityConfig) -> float:
    """Bands in ``current`` that ``previous``, a sample of the same still view, does not
    explain: the reference comparison's ``stripes_rise`` with the earlier sample for the
    reference. Flicker and interference bars roll between samples, while the scene's own
    pattern (tiles, shelving, louvres) is in both alike. 0 when the samples differ in
    size."""
    if previous.grey.shape != current.grey.shape:
        return 0.0
    least = settings.checks.stripes.limit(with_reference=True)
    enrolled = profiles(previous.grey)
    fits = (profile_fit(enrolled[0]), profile_fit(enrolled[1]))
    left = unexplained_centre(current.half_grey, previous.half_grey)
    return _bands_unexplained(profiles(current.grey), fits, left, least)


def make_reference(frame: Frame) -> Reference:
    measured = measure(frame)
    # The single-frame forms are not compared, but kept with the reference.
    metrics = FrameMetrics(measured.values, measured.noise, measured.single_frame)
    return Reference(
        frame=frame,
        metrics=metrics,
        view=features(frame.grey),
        blocks=measured.blocks,
        profiles=(profile_fit(measured.profiles[0]), profile_fit(measured.profiles[1])),
        tiles=view_tiles(tile_picture(frame.thumb)),
        colour_regions=region_spreads(frame.thumb),
        centre_level=centre_level(frame.half_grey),
    )


@dataclass(frozen=True, eq=False)
class ReferenceCheck:
    """The comparison, where the enrolled view is in the frame, and the occlusion grid on
    the reference's geometry (True: blocked)."""

    comparison: Comparison
    match: ViewMatch | None
    blocked: Mask
    view_gone: bool  # the view may be another scene now: judge on one frame's forms too


def compare(
    frame: Frame, measured: Measured, reference: Reference, settings: QualityConfig
) -> ReferenceCheck:
    """Compare a measured frame with the camera's reference."""
    checks = settings.checks
    own, enrolled = measured.values, reference.metrics
    blocks, shape = measured.blocks, measured.profiles
    fitted = fit_to(frame, reference.frame.size)
    if fitted is not frame:
        blocks = block_stats(fitted.grey, *differences(fitted.grey))
        shape = profiles(fitted.grey)
    contrast_kept = own.contrast / max(enrolled.own.contrast, 1e-3)
    # Texture read as noise scales with exposure; only noise beyond that counts.
    gain = min(2.0, max(0.5, own.brightness / max(enrolled.own.brightness, 1.0)))
    greyscale = own.colour.colourfulness < _GREYSCALE_CHROMA
    match: ViewMatch | None = None
    if checks.scene_changed.enabled or checks.occluded.enabled:
        match = locate_view(reference.view, reference.tiles, fitted.grey, fitted.thumb)
    by_features = match is not None and match.tiles_in_place is None
    view_lost = None if match is None else 1.0 - (match.view_kept or 0.0)
    # Possibly another scene now: the judgement may fall back to single-frame forms.
    view_gone = (view_lost or 0.0) > checks.scene_changed.limit(with_reference=True)
    layout = _layout_kept(blocks, reference.blocks) if view_gone else None
    in_place = _detail_in_place(fitted.grey, reference) if view_gone else None
    aligned, valid = _in_reference_geometry(fitted.grey, match)
    if valid is not None:
        blocks = block_stats(aligned, *differences(aligned))
        shape = profiles(aligned)
    veil_rule = checks.low_contrast
    clarity_kept = own.light.clarity / max(enrolled.own.light.clarity, 1e-3)
    veiled = veil_rule.enabled and (
        contrast_kept < veil_rule.limit(with_reference=True)
        or clarity_kept < veil_rule.clarity_vs_reference
    )
    exposure = _exposure_gain(blocks, reference.blocks)
    blocked = _blocked_vs_reference(blocks, reference.blocks, valid, veiled, exposure)
    stripes_least = checks.stripes.limit(with_reference=True)
    # What the reference does not explain in the centre: interference bars are looked for
    # in it, and flicker only when it could hold some.
    left = unexplained_centre(
        frame.half_grey if aligned is frame.grey else half_size(aligned),
        reference.frame.half_grey,
        reference.centre_level,
    )
    # A cover's region is what it hides: the blocks that lost their detail or light, joined
    # through blocks that were featureless and still are (a cover over a smooth wall shows
    # nothing there to lose), so one hand over a counter and the tiles behind it is one
    # region. Only blocked blocks count towards its size.
    occlusion, region = 0.0, None
    if blocked.any():
        unchanged_flat = reference.blocks.featureless & (blocks.gradient < FLAT_GRADIENT * 1.5)
        if valid is not None:
            unchanged_flat &= valid
        occlusion, region = joined_region(blocked, unchanged_flat)
    blur_rise = own.blur - enrolled.own.blur
    # Beside a cover's size only: the light and (when blur rose) the blur of what it leaves.
    uncovered_light: float | None = None
    uncovered_blur_rise: float | None = None
    if occlusion >= checks.occluded.limit(with_reference=True):
        uncovered = _left_by_cover(blocked, valid)
        uncovered_light = _uncovered_light(blocks, reference.blocks, uncovered)
        if uncovered is not None and blur_rise > checks.blurred.limit(with_reference=True):
            uncovered_blur_rise = blur_where(aligned, uncovered) - blur_where(
                reference.frame.grey, uncovered
            )
    comparison = Comparison(
        blur_rise=blur_rise,
        contrast_kept=contrast_kept,
        noise_rise=measured.noise - (enrolled.noise or 0.0) * gain,
        cast_shift=0.0 if greyscale else _cast_shift(frame, own.colour, reference, settings),
        view_lost=view_lost,
        inliers=float(match.inliers) if match is not None and by_features else None,
        unmoved=float(match.unmoved) if match is not None and by_features else None,
        tiles_in_place=(
            None if match is None or match.tiles_in_place is None else float(match.tiles_in_place)
        ),
        occlusion=occlusion,
        stripes_rise=_bands_unexplained(shape, reference.profiles, left, stripes_least),
        clipped_rise=own.light.clipped - enrolled.own.light.clipped,
        clarity_kept=clarity_kept,
        lift_rise=own.light.black_lift - enrolled.own.light.black_lift,
        layout_kept=layout,
        detail_lost=_detail_lost(blocks, reference.blocks, valid, exposure),
        lost_beyond_cover=None
        if region is None
        else _detail_lost(blocks, reference.blocks, valid, exposure, beyond(region)),
        detail_in_place=in_place,
        uncovered_light=uncovered_light,
        uncovered_blur_rise=uncovered_blur_rise,
    )
    return ReferenceCheck(comparison, match, blocked, view_gone)


_WHOLE_VIEW_FIRST = 0.5  # share of the colour cast threshold the whole view must shift


def _cast_shift(
    frame: Frame, colour: Colour, reference: Reference, settings: QualityConfig
) -> float:
    """The shift of white balance: the whole view's first (each channel's spread in linear
    light against the reference's, already measured), and region by region only when that
    shows one: a lit lamp or flame shifts the whole view's, and the regions outvote it,
    while a white balance that moved shifts both alike."""
    enrolled = reference.metrics.own.colour
    gains = [
        math.log(max(current, 1e-4) / max(before, 1e-4))
        for current, before in (
            (colour.spread_b, enrolled.spread_b),
            (colour.spread_g, enrolled.spread_g),
            (colour.spread_r, enrolled.spread_r),
        )
    ]
    whole = max(gains) - min(gains)
    if whole < _WHOLE_VIEW_FIRST * settings.checks.color_cast.limit(with_reference=True):
        return whole
    return cast_shift(region_spreads(frame.thumb), reference.colour_regions)


def _blocked_with_gain(
    blocks: BlockStats, reference: BlockStats, gain: float, offset: float = 0.0
) -> Mask:
    # At gain 1 and no offset (the usual reading) the products are the values themselves.
    unit = gain == 1.0 and offset == 0.0
    gradient = blocks.gradient if unit else blocks.gradient * gain
    ratio = gradient / reference.gradient_floor
    detailed = reference.detailed
    # A blurred or hazy frame loses detail everywhere; compare with the frame's own
    # best-kept detail so only local loss counts.
    kept = percentile(ratio[detailed], 0.9) if reference.detailed_count >= 4 else 1.0
    kept = min(1.0, max(kept, 0.05))
    lost_detail = detailed & (ratio < 0.35 * kept)
    lost_faint = _faint_gone_flat(ratio, kept, reference)
    flat_now = gradient < FLAT_GRADIENT * 1.5
    level = blocks.mean if unit else blocks.mean * gain + offset
    return np.asarray(
        lost_detail | lost_faint | (_level_changed(level, reference.mean) & flat_now),
        dtype=np.bool_,
    )


# A block's brightness changed when it moved by _CHANGED_MOST grey levels either way, or
# when it grew brighter by _CHANGED_LEAST levels and by this share of its new level. A
# pale cover close to the lens (a hand, a glove, a cloth, paper) catches the kitchen's
# light and lifts a dim counter by a third and more while flattening it. Darker is kept at
# the flat 40 levels: black tape over a dim part is, block by block, what the lights going
# off over that part of the kitchen look like (both fall to sensor noise), and lights go
# off every evening. On the tune pictures the share brings 10 more of 2,250 covers (also
# the reference set's pale cover over a night sky); taking it both ways brought 15, but
# read a view whose lights went down to 30-40 % over the counter as covered.
_CHANGED_SHARE = 0.3
_CHANGED_LEAST = 20.0
_CHANGED_MOST = 40.0


def _level_changed(level: npt.NDArray[np.float32], before: npt.NDArray[np.float32]) -> Mask:
    """Blocks whose mean brightness changed (pure): by _CHANGED_MOST levels either way, or
    brighter by _CHANGED_LEAST levels and _CHANGED_SHARE of ``level``."""
    moved = level - before
    lifted = moved > _CHANGED_LEAST
    if not lifted.any():  # the usual reading: only darker by _CHANGED_MOST can be left
        return np.asarray(moved < -_CHANGED_MOST, np.bool_)
    return np.asarray(
        (np.abs(moved) > _CHANGED_MOST) | (lifted & (moved > _CHANGED_SHARE * level)), np.bool_
    )


_HALF_LOST = 0.5  # a block that kept less than this of its detail lost it
# A faint block (FLAT_GRADIENT to DETAIL_GRADIENT) that kept less than this of its texture,
# against the frame's best-kept detail and its typical (median) faint block, went
# flat. On the tune pictures: under a cover 81 % of them keep less (median 0.4: sensor
# noise on a smooth face); a clean view keeps more in 98 % of them, three quarters and more
# in 95 %.
_FAINT_KEPT = 0.5
_FAINT_LEAST = 8  # fewer faint blocks than this have no typical one
# The typical faint block keeping less than this: faint texture went flat all over the
# view (JPEG at quality 10 over a plain wall: up to half of it read as covered against the
# best-kept detail alone, a quarter against the typical faint block). A cover that hides
# most of a view's faint blocks is left to the other signs (none of 2,250 tune covers is
# lost to this).
_FAINT_FLAT_ALL_OVER = 0.6


def _faint_gone_flat(ratio: npt.NDArray[np.float32], kept: float, reference: BlockStats) -> Mask:
    """Faint blocks whose texture went flat (tile joints, brushed steel, a dim counter's
    edges): a cover over a plain part of the view hides little detail, but its smooth face
    takes what texture there was, which a clean view keeps, nudged, noisy or re-exposed.
    ``ratio``: each block's gradient against the reference's; ``kept``: the frame's
    best-kept detail. Heavy compression and blur flatten faint texture all over the view:
    only loss against the typical faint block counts, and none when that one went flat
    too."""
    faint = reference.faint
    flat = faint & (ratio < _FAINT_KEPT * kept)
    if reference.faint_count < _FAINT_LEAST or not flat.any():
        return flat
    typical = min(1.0, percentile(ratio[faint], 0.5))
    if typical < _FAINT_FLAT_ALL_OVER:
        return np.zeros_like(flat)
    return np.asarray(flat & (ratio < _FAINT_KEPT * typical), np.bool_)


def _exposure_gain(blocks: BlockStats, reference: BlockStats) -> float:
    """The gain that brings the frame's mean brightness to the reference's, within a stop:
    auto-exposure rarely moves the mean further; a larger change is the fault itself (a
    bright sheet over a night view) and must not be normalised away."""
    # The frame's level straight (its blocks are met once); the reference's kept.
    level = float(blocks.mean.sum()) / blocks.mean.size
    return min(2.0, max(0.5, reference.level / max(level, 1.0)))


def _detail_lost(
    blocks: BlockStats,
    reference: BlockStats,
    valid: Mask | None,
    gain: float | None = None,
    outside: Mask | None = None,
) -> float:
    """The share of the reference's detailed blocks (inside the frame when the view moved a
    little) that kept less than half their detail, after compensating exposure (``gain``,
    when already known); only those in ``outside`` counted, when given."""
    detailed = reference.detailed
    if valid is None:
        count = reference.detailed_count
    else:
        detailed = detailed & valid
        count = int(np.count_nonzero(detailed))
    if count < 4 or blocks.gradient.shape != reference.gradient.shape:
        return 0.0
    if gain is None:
        gain = _exposure_gain(blocks, reference)
    lost = (blocks.gradient * gain < _HALF_LOST * reference.gradient) & detailed
    if outside is not None:
        lost &= outside
    return int(np.count_nonzero(lost)) / count


_FINE_SIGMA = 2.0  # fine detail: what a blur of this radius (analysis pixels) removes
_LIVE_FINE = 1.6  # a block whose fine detail averages this much still shows some
_LIVE_BLOCKS = 4  # fewer live blocks than this tell nothing


def fine_detail(grey: Image) -> npt.NDArray[np.float32]:
    """The picture's fine detail: itself less a blur of it (edges and texture, without the
    light and shade a cover or auto-exposure moves)."""
    picture = grey.astype(np.float32)
    return np.asarray(picture - cv2.GaussianBlur(picture, (0, 0), _FINE_SIGMA), np.float32)


def _detail_in_place(grey: Image, reference: Reference) -> float | None:
    """Correlation, pixel by pixel, of the fine detail of the blocks that still show some
    with the reference's in place. A cover over most of the lens leaves the rest of the
    enrolled view exactly where it was (0.57 and more on the tune pictures, covers up to
    nine tenths of the view), too little of it for features to match; a camera turned
    elsewhere shows other detail in other places (0.08 at most; 0.2 turned along a wall
    of tiles, whose joints repeat). None when too few blocks still show detail or the
    sizes differ."""
    enrolled = reference.fine
    if grey.shape != enrolled.shape:
        return None
    fine = fine_detail(grey)
    rows, columns = grey.shape[0] // BLOCK_PX, grey.shape[1] // BLOCK_PX
    cells = (
        np.abs(fine[: rows * BLOCK_PX, : columns * BLOCK_PX])
        .reshape(rows, BLOCK_PX, columns, BLOCK_PX)
        .mean(axis=(1, 3))
    )
    live = cells >= _LIVE_FINE
    if int(np.count_nonzero(live)) < _LIVE_BLOCKS:
        return None
    pixels = block_pixels(live, enrolled.shape)
    return _correlation(fine[pixels], enrolled[pixels])


_UNCOVERED_LEAST = 0.15  # share of the grid a cover must leave for its light to tell


def _left_by_cover(blocked: Mask, valid: Mask | None) -> Mask | None:
    """The blocks no cover hides (inside the frame when the view moved a little), or None
    when too few are left to tell anything by."""
    left = ~blocked if valid is None else ~blocked & valid
    if int(np.count_nonzero(left)) < _UNCOVERED_LEAST * blocked.size:
        return None
    return np.asarray(left, np.bool_)


def _uncovered_light(blocks: BlockStats, reference: BlockStats, left: Mask | None) -> float | None:
    """The brightness of the blocks no cover hides (``left``), as a fraction of the
    reference's there: a cover that darkens or brightens the picture leaves the rest of
    the view as lit as it was, while a light switched off or a blown exposure changes it
    too. None when too little is left or the grids differ."""
    if left is None or blocks.mean.shape != reference.mean.shape:
        return None
    count = int(np.count_nonzero(left))
    return float(blocks.mean[left].sum()) / max(float(reference.mean[left].sum()), count)


def _layout_kept(blocks: BlockStats, reference: BlockStats) -> float | None:
    """Correlation of the blocks' brightness with the reference's, in place. Steam, grease
    and defocus keep where the light and dark parts of the view are (a veil is affine in
    brightness, a blur barely moves 16-pixel block means) while they erase the detail that
    features need; a camera turned elsewhere keeps neither. None when either is flat."""
    current, enrolled = blocks.mean.reshape(-1), reference.mean.reshape(-1)
    if current.shape != enrolled.shape:
        return None
    return _correlation(current, enrolled)


def _correlation(
    current: npt.NDArray[np.float32], enrolled: npt.NDArray[np.float32]
) -> float | None:
    """Pearson correlation of two block measures in place (None when either is flat)."""
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
    blocks: BlockStats,
    reference: BlockStats,
    valid: Mask | None = None,
    veiled: bool = False,
    gain: float | None = None,
) -> Mask:
    """Blocks that lost the detail they had, or changed brightness and went flat.

    Whether the picture's exposure changed or a veil came over it (compensate) or a
    cover darkened part of it (do not) is unknown, so a block counts only when it is
    blocked under every reading.
    ``valid`` leaves out blocks that are outside a moved view; ``gain``: the exposure
    compensation, when already known.
    """
    if gain is None:
        gain = _exposure_gain(blocks, reference)
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
