"""Stripes: periodic bands (period 3..40 analysis pixels) in brightness profiles, the
flicker of fluorescent tubes beating with the shutter and interference bars.

Without a reference, the band that each of six strips along it shows in phase and that
stands out of the spectrum around it, as amplitude at mid-grey (flicker modulates light):
interference crosses the whole picture with one phase, while shelving, tiles or a
chequered floor fill part of it or change phase between strips, a counter's straight
edge spreads over every frequency, and slats, shelves or grout lines spanning the view
repeat with every harmonic where bands are smooth waves (told when the second harmonic
is within the band: a repeat of 6 analysis pixels or more). Regular structure spanning
the whole view with a smooth profile (a row of windows, soft in the distance), finer
than that, or rolled so that its harmonics spread can still read as stripes; flicker
that falls on a harmonic of such structure is taken for it; and weak short-period bands
are lost in the downscaling. With a reference, the band in what the reference's row and
column profiles do not explain, a light changed slowly across the view (a lamp gone off
over one side) included. Slanted interference lines average out of the profiles, and mains flicker
(2.5-10 bands a frame) is longer than the band: with a reference both are judged by
``banding.py``; on one frame they are not caught.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.cells import percentile
from agent.capture.quality.frame import Image

_STRIPE_PERIODS = (3.0, 40.0)  # analysis pixels
_STRIPE_TREND = 41  # box (pixels) whose mean is the scene's slow trend, removed first
_STRIPE_REACH = 8  # shifts (pixels) over which the reference profile is fitted

Profile = npt.NDArray[np.float32]


def _band_bins(size: int) -> npt.NDArray[np.intp]:
    """The DFT bins of a ``size``-sample profile whose periods are stripe periods."""
    frequencies = np.fft.rfftfreq(size)
    return np.flatnonzero(
        (frequencies >= 1.0 / _STRIPE_PERIODS[1]) & (frequencies <= 1.0 / _STRIPE_PERIODS[0])
    )


@functools.cache
def band_operator(size: int) -> npt.NDArray[np.float32] | None:
    """The linear map from a brightness profile of ``size`` samples to its stripe-band
    spectrum: detrend (minus a 41-sample box mean, reflected at the ends), remove the
    mean, Hann window, DFT at the band's frequencies. Rows: real parts, then imaginary
    parts. One matrix product per profile then replaces filter, window and FFT."""
    if size < 32:
        return None
    band = _band_bins(size)
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


def band_peak(profile: npt.NDArray[np.float32]) -> float:
    """Amplitude in grey levels of the strongest periodic component of a brightness
    profile with a period in _STRIPE_PERIODS, after its slow trend is removed."""
    size = int(profile.shape[0])
    operator = band_operator(size)
    if operator is None:
        return 0.0
    parts = operator @ profile
    half = parts.shape[0] // 2
    peak = float(np.hypot(parts[:half], parts[half:]).max())
    # Hann window: a sinusoid of amplitude A gives a peak of A * N / 4.
    return peak * 4.0 / size


def profiles(grey: Image) -> tuple[Profile, Profile]:
    """Mean brightness of each row and of each column."""
    rows = np.asarray(cv2.reduce(grey, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F), np.float32)
    cols = np.asarray(cv2.reduce(grey, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F), np.float32)
    return rows.reshape(-1), cols.reshape(-1)


_STRIPE_STRIPS = 6  # the picture is cut into this many strips along the bands
_STRIPE_PROMINENCE = 8.0  # a band must stand this far above the spectrum's median
_STRIPE_DARKEST = 8.0  # a strip's brightness is taken as at least this (no division by ~0)
_STRIPE_SPREAD = 0.5  # a band two frequency steps away may hold at most this share of it...
_STRIPE_SPREAD_STANDOUT = (16.0, 0.65)  # ...or this, when the band stands this far out
# A band whose second and third harmonics (root sum of squares) hold this share of it is
# the scene's own edges (slats, shelves, grout lines: steps and thin lines repeat with
# every harmonic), not flicker or interference, whose bands are smooth waves: the tune
# pictures' bands of both models hold 0.37 at most, slats, shelving and a tiled wall seen
# square on 0.52 and more.
_STRIPE_EDGES = 0.45


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
    by_rows, by_columns = band_operator(height), band_operator(width)
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


@functools.cache
def _harmonics(
    height: int, width: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Harmonic tables of ``_stripe_operator``'s band components (row profiles' bands,
    then column profiles'), each within its own direction: per component, the components
    at and next to twice its frequency, and at and next to three times it (3 x bands
    each; the Hann window spreads a harmonic over its neighbours; -1 where that multiple
    is past the band); and which components lie at or next to any whole multiple of
    which (bands x bands: row k marks the harmonics of component k)."""
    near: dict[int, list[list[int]]] = {2: [], 3: []}
    members: list[list[int]] = []
    count = 0
    for size in (height, width):
        bins = [int(b) for b in _band_bins(size)]
        position = {b: count + k for k, b in enumerate(bins)}
        for b in bins:
            for multiple, rows in near.items():
                centre = multiple * b
                rows.append(
                    [
                        position.get(centre + step, -1) if centre in position else -1
                        for step in (-1, 0, 1)
                    ]
                )
            members.append(
                [
                    position[around]
                    for multiple in range(2 * b, bins[-1] + 2, b)
                    for around in (multiple - 1, multiple, multiple + 1)
                    if around in position
                ]
            )
        count += len(bins)
    twice, thrice = (np.asarray(near[m], np.intp).T for m in (2, 3))
    family = np.zeros((count, count), np.bool_)
    for k, harmonics in enumerate(members):
        family[k, harmonics] = True
    for table in (twice, thrice, family):
        table.setflags(write=False)
    return twice, thrice, family


def single_frame_stripes(grey_sums: npt.NDArray[np.int32]) -> float:
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
    too but spreads over every frequency. Nor when its second and third harmonics hold
    _STRIPE_EDGES of it, nor when it is a harmonic of such a band: slats, shelves and
    grout lines seen square on cross the view in phase too, but as steps and thin lines,
    which repeat with every harmonic, while flicker and interference are smooth waves.
    ``grey_sums``: the grey picture's integral image; each strip's brightness profile is
    a difference of its differences."""
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
    strips = np.empty((height + width, _STRIPE_STRIPS), np.float32)
    strips[:height] = (within[1 : height + 1] - within[:height]) * column_share
    strips[height:] = (within[height + 2 :] - within[height + 1 : -1]) * row_share
    brightness = np.maximum(strips[:height].sum(axis=0) / height, _STRIPE_DARKEST)
    strips[:height] *= 128.0 / brightness
    brightness = np.maximum(strips[height:].sum(axis=0) / width, _STRIPE_DARKEST)
    strips[height:] *= 128.0 / brightness
    parts = operator @ strips
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
    floor[:row_bands] = percentile(common[:row_bands], 0.5)
    floor[row_bands:] = percentile(common[row_bands:], 0.5)
    standing = (weakest >= _STRIPE_PROMINENCE * floor) & narrow_bands(
        common, row_bands, weakest / np.maximum(floor, 1e-9)
    )
    if standing.any():
        # The scene's edges: a band with a strong second harmonic, and every harmonic of
        # it (which may stand on its own when its own harmonics are past the band).
        twice, thrice, family = _harmonics(height, width)
        second = np.where(twice >= 0, common[twice], 0.0).max(axis=0)
        third = np.where(thrice >= 0, common[thrice], 0.0).max(axis=0)
        edges = standing & (np.hypot(second, third) >= _STRIPE_EDGES * common)
        if edges.any():
            standing &= ~(edges | family[edges].any(axis=0))
    return float(weakest[standing].max()) if standing.any() else 0.0


def narrow_bands(
    spectrum: npt.NDArray[np.float32], split: int, prominence: npt.NDArray[np.float32]
) -> npt.NDArray[np.bool_]:
    """Which components stand alone in frequency (pure): the components two steps away on
    either side (within the same direction: ``spectrum[:split]`` and ``spectrum[split:]``)
    hold less than _STRIPE_SPREAD of them, or a little more for a component that stands
    far out of the spectrum (``prominence``: its size over the spectrum's median). Flicker
    and an interference bar are one frequency, which the Hann window spreads over the next
    step (and a little beyond when it falls between two steps); shelving at uneven
    spacing, tiles seen in perspective and a lamp's pool of light spread over several."""
    beside = np.zeros_like(spectrum)
    for start, stop in ((0, split), (split, spectrum.shape[0])):
        part, near = spectrum[start:stop], beside[start:stop]
        near[2:] = part[:-2]
        near[:-2] = np.maximum(near[:-2], part[2:])
    standout, wider = _STRIPE_SPREAD_STANDOUT
    allowed = np.where(prominence >= standout, wider, _STRIPE_SPREAD)
    return np.asarray(beside < allowed * spectrum, np.bool_)


# A light that changed across the view: a cubic in the position along the profile (a
# quadratic still read a lamp gone off over one side of 6 of 25 tune pictures as bands;
# a quartic began to fit a small lamp's pool of light into them).
_RELIT_DEGREE = 3


@functools.cache
def _slow_terms(size: int) -> npt.NDArray[np.float64]:
    """1, t, .. t^_RELIT_DEGREE over ``size`` samples (t from -1 to 1): a slow change
    across the view, one column per power."""
    position = np.linspace(-1.0, 1.0, size)
    terms = np.stack([position**power for power in range(_RELIT_DEGREE + 1)], axis=1)
    terms.setflags(write=False)
    return terms


@dataclass(frozen=True, eq=False)
class ProfileFit:
    """A reference profile prepared once for ``unexplained``: row k of ``windows`` is the
    profile shifted by k - reach with its mean removed; ``energy`` their sums of squares.
    For ``unexplained_relit``: row k of ``shifted`` is the profile shifted by k - reach,
    ``inverse`` row k the inverse of the normal equations of its fit at that shift."""

    profile: Profile
    windows: npt.NDArray[np.float32] | None
    energy: npt.NDArray[np.float32] | None
    shifted: npt.NDArray[np.float64] | None = None
    inverse: npt.NDArray[np.float64] | None = None


def profile_fit(enrolled: Profile, reach: int = _STRIPE_REACH) -> ProfileFit:
    size = enrolled.shape[0]
    if size <= 4 * reach:
        return ProfileFit(enrolled, None, None)
    shifted = np.lib.stride_tricks.sliding_window_view(enrolled, size - 2 * reach)
    windows = np.ascontiguousarray(shifted - shifted.mean(axis=1, keepdims=True))
    energy = np.maximum((windows * windows).sum(axis=1), 1e-6)
    raw = np.asarray(shifted, np.float64)
    slow = _slow_terms(raw.shape[1])
    # The design at a shift is [slow * shifted, slow]; its Gram matrix in four blocks.
    gain_gain = np.einsum("nk,sn,nl->skl", slow, raw * raw, slow)
    gain_offset = np.einsum("nk,sn,nl->skl", slow, raw, slow)
    offset_offset = np.broadcast_to(slow.T @ slow, gain_gain.shape)
    gram = np.concatenate(
        [
            np.concatenate([gain_gain, gain_offset], axis=2),
            np.concatenate([gain_offset.transpose(0, 2, 1), offset_offset], axis=2),
        ],
        axis=1,
    )
    # A pseudo-inverse: along a flat stretch of profile gain and offset are the same terms.
    inverse = np.linalg.pinv(gram)
    for prepared in (windows, energy, raw, inverse):
        prepared.setflags(write=False)
    return ProfileFit(enrolled, windows, energy, raw, inverse)


def unexplained(
    current: Profile, fit: ProfileFit, reach: int = _STRIPE_REACH
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


def unexplained_relit(
    current: Profile, fit: ProfileFit, reach: int = _STRIPE_REACH
) -> npt.NDArray[np.float32]:
    """What is left of ``current`` after the best fit ``g(t) * enrolled + h(t)`` over
    shifts of +-reach pixels, with g and h cubics in the position t along the profile:
    besides exposure and haze, a light that changed across the view (a lamp gone off over
    one side of the kitchen multiplies the scene's shelving and tiles by a slow ramp,
    which a single gain leaves in the residual at the scene's own period). Bands are
    faster than any cubic."""
    if fit.shifted is None or fit.inverse is None:
        return unexplained(current, fit, reach)
    target = np.asarray(current[reach : current.shape[0] - reach], np.float64)
    slow = _slow_terms(target.shape[0])
    terms = slow.shape[1]
    moments = np.empty((fit.shifted.shape[0], 2 * terms))
    moments[:, :terms] = (fit.shifted * target) @ slow
    moments[:, terms:] = target @ slow
    coefficients = np.einsum("skl,sl->sk", fit.inverse, moments)
    gain = coefficients[:, :terms] @ slow.T
    offset = coefficients[:, terms:] @ slow.T
    residuals = target[None, :] - gain * fit.shifted - offset
    best = int(np.abs(residuals).sum(axis=1).argmin())
    return np.asarray(residuals[best], dtype=np.float32)


def stripes_vs_reference(
    profiles: tuple[Profile, Profile],
    reference: tuple[ProfileFit, ProfileFit],
    least: float = 0.0,
) -> float:
    """Periodic bands in what the reference does not explain: the scene cancels out.
    Bands of ``least`` levels or more in what one gain leaves must also be in what a light
    changed across the view leaves (only then is that fit made: rarely on a clean frame)."""
    best = 0.0
    for current, enrolled in zip(profiles, reference, strict=True):
        if current.shape != enrolled.profile.shape:
            return 0.0
        peak = band_peak(unexplained(current, enrolled))
        if peak >= least:
            peak = min(peak, band_peak(unexplained_relit(current, enrolled)))
        best = max(best, peak)
    return best


# OpenCV takes a 4-element float64 array as a per-channel scalar.
