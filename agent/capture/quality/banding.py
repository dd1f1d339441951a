"""Bands the profile spectrum of ``stripes.py`` misses, judged against the reference.

- Mains flicker under a rolling shutter (``flicker_vs_reference``): lamps flicker at
  twice the mains frequency and the sensor's rows are exposed one after the other, so
  the light varies along the rows in a sinusoid of 2.5-10 cycles a frame (100 Hz times a
  readout of 25-100 ms): periods longer than the stripes band and than its detrending.
  The row profile divided by the reference's (fitted for exposure) is then the flicker
  itself, times one; a sinusoid that explains most of it (after a slow trend: steam
  thickening with depth, light changing across the room) is flicker. A lamp or a flame
  lit in part of the view changes a few rows, which no sinusoid explains.
- Interference bars at any slant (``interference_vs_reference``): a sinusoid added to
  the video that slants across the picture averages out of the row and column profiles.
  In the two-dimensional spectrum of what the reference does not explain it is one
  sharp peak standing hundreds of times above the spectrum's median, where sensor noise,
  compression and a nudged view's edges spread over every frequency. Judged at half the
  analysis width (periods of 6-32 analysis pixels).

On one frame (``bars_alone``) the scene is still there, so a sharp peak in its own fine
detail can be bars or a grille: said, not judged.

Both are reported as an amplitude in grey levels (flicker at mid-grey), like the other
forms of ``stripes``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.stripes import Profile

Picture = npt.NDArray[np.float32]  # a grey picture at half size, as Frame.half_grey

_FLICKER_CYCLES = (2.4, 10.0)  # bands a frame mains flicker shows
_FLICKER_STEP = 0.2  # cycles between the frequencies tried
_FLICKER_FIT = 0.85  # the sinusoid must explain this share of what the reference does not
_MID_GREY = 128.0
_DARKEST = 8.0  # a row's fitted brightness is taken as at least this


@functools.cache
def _flicker_basis(size: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """For a profile of ``size`` rows, two matrices whose products with a profile x give
    what the fit needs. The first: T'x and T+x for the slow (quadratic) trend T, so the
    energy left after the trend is x.x - T'x . T+x. The second: per frequency tried, the
    products of x with the trend-free sine and cosine, then the least-squares coefficients
    of those two (their 2x2 Gram matrix's inverse applied), all the products first."""
    if size < 32:
        return None
    position = np.linspace(-1.0, 1.0, size)
    trend = np.stack([np.ones(size), position, position * position], axis=1)
    pseudo_inverse = np.linalg.pinv(trend)
    detrend = np.eye(size) - trend @ pseudo_inverse
    cycles = np.arange(_FLICKER_CYCLES[0], _FLICKER_CYCLES[1] + 1e-9, _FLICKER_STEP)
    phase = 2.0 * np.pi * np.outer(cycles, np.arange(size)) / size
    waves = np.empty((2 * cycles.size, size))
    waves[0::2], waves[1::2] = np.sin(phase), np.cos(phase)
    # Each wave with the trend removed (detrend is a symmetric projection, so the product
    # of a trend-free wave with x equals its product with x's trend-free part).
    waves = waves @ detrend
    pairs = waves.reshape(cycles.size, 2, size)
    solve = np.linalg.inv(pairs @ pairs.transpose(0, 2, 1)) @ pairs
    trend_part = np.asarray(np.vstack([trend.T, pseudo_inverse]), np.float64)
    wave_part = np.asarray(np.vstack([waves, solve.reshape(-1, size)]), np.float64)
    trend_part.setflags(write=False)
    wave_part.setflags(write=False)
    return trend_part, wave_part


def flicker_vs_reference(current: Profile, enrolled: Profile, least: float = 0.0) -> float:
    """Mains flicker against the reference (pure): the amplitude, in grey levels at
    mid-grey, of the sinusoid of 2.4-10 cycles that best explains the row profile over the
    reference's (after exposure and a slow trend), when it explains at least
    _FLICKER_FIT of it; else 0. Flicker of ``least`` levels or more explains that share
    of an energy of at least n (least / 128)^2 / 2 over n rows, so a profile that leaves
    less is not fitted (the usual case)."""
    size = current.shape[0]
    basis = _flicker_basis(size)
    if basis is None or enrolled.shape[0] != size:
        return 0.0
    trend_part, wave_part = basis
    before = enrolled - float(enrolled.sum()) / size
    spread = float(before @ before)
    if spread <= 1e-6:
        return 0.0
    slope = float(before @ current) / spread
    fitted = np.maximum(slope * before + float(current.sum()) / size, _DARKEST)
    relative = np.asarray(current / fitted - 1.0, np.float64)
    trend = trend_part @ relative
    energy = float(relative @ relative) - float(trend[:3] @ trend[3:])
    smallest = _FLICKER_FIT * size * (least / _MID_GREY) ** 2 / 2.0
    if energy <= max(smallest, 1e-12):
        return 0.0
    product = wave_part @ relative
    half = product.shape[0] // 2
    explained = (product[:half] * product[half:]).reshape(-1, 2).sum(axis=1)
    best = int(explained.argmax())
    if explained[best] < _FLICKER_FIT * energy:
        return 0.0
    return math.hypot(product[half + 2 * best], product[half + 2 * best + 1]) * _MID_GREY


_BAR_PERIODS = (3.0, 16.0)  # at half the analysis width: 6-32 analysis pixels
_BAR_PROMINENCE = 80.0  # the peak over the band's mean magnitude
_BAR_WINDOW = (64, 128)  # the centre of the half-size picture that is transformed


@functools.cache
def _bar_band(height: int, width: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """The 2-D Hann window and the mask of the spectrum's frequencies in the band."""
    window = np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)
    vertical = np.fft.fftfreq(height)[:, None]
    horizontal = np.fft.fftfreq(width)[None, :]
    radius = np.hypot(vertical, horizontal)
    band = ((radius >= 1.0 / _BAR_PERIODS[1]) & (radius <= 1.0 / _BAR_PERIODS[0])).astype(np.uint8)
    window.setflags(write=False)
    band.setflags(write=False)
    return window, band


@dataclass(frozen=True, eq=False)
class Unexplained:
    """What the reference does not explain in the centre of the half-size picture
    (_BAR_WINDOW): the residual after fitting the reference's brightness to the frame's,
    its spread, and the frame's mean brightness there."""

    residual: Picture
    spread: float
    level: float


def _centre(picture: Picture) -> Picture:
    height, width = picture.shape[:2]
    rows, cols = min(height, _BAR_WINDOW[0]), min(width, _BAR_WINDOW[1])
    top, left = (height - rows) // 2, (width - cols) // 2
    return picture[top : top + rows, left : left + cols]


def centre_level(enrolled: Picture) -> tuple[float, float]:
    """The mean and spread of a picture's centre (_BAR_WINDOW): a reference's, taken once
    for ``unexplained_centre``."""
    mean, spread = cv2.meanStdDev(_centre(enrolled))
    return float(mean[0][0]), float(spread[0][0])


def unexplained_centre(
    current: Picture, enrolled: Picture, enrolled_level: tuple[float, float] | None = None
) -> Unexplained | None:
    """The frame's centre less the reference's, fitted (pure; both grey pictures of one
    size at half the analysis width, as ``Frame.half_grey``; ``enrolled_level``: the
    reference's ``centre_level`` when already taken). None when they differ in size or
    are too small."""
    height, width = current.shape[:2]
    if enrolled.shape[:2] != (height, width) or min(height, width) < 16:
        return None
    now = _centre(current)
    before = _centre(enrolled)
    mean_now, spread_now = cv2.meanStdDev(now)
    mean_before, spread_before = (
        centre_level(enrolled) if enrolled_level is None else enrolled_level
    )
    slope = float(spread_now[0][0]) / max(spread_before, 1e-3)
    level = float(mean_now[0][0])
    offset = level - slope * mean_before
    residual = cv2.addWeighted(now, 1.0, before, -slope, -offset, dtype=cv2.CV_32F)
    spread = float(cv2.meanStdDev(residual)[1][0][0])
    return Unexplained(np.asarray(residual, np.float32), spread, level)


def interference_in(left: Unexplained | None, least: float = 0.0) -> float:
    """Interference bars at any slant in what the reference does not explain (pure): the
    amplitude in grey levels of the sharpest sinusoid there, when it stands
    _BAR_PROMINENCE times above the band's mean; else 0. Bars of amplitude A add
    A / sqrt(2) to the spread of the residual, so when that spread is below
    ``least`` / sqrt(2) there are none of ``least`` or more and the spectrum is not taken
    (the usual case: nothing but sensor noise differs from the reference)."""
    if left is None or (least > 0.0 and left.spread < least / math.sqrt(2.0)):
        return 0.0
    return _sharpest_sinusoid(left.residual, _BAR_PROMINENCE)


def _sharpest_sinusoid(
    picture: Picture, prominence: float, weights: npt.NDArray[np.float32] | None = None
) -> float:
    """The amplitude in grey levels of the sharpest sinusoid in the band of ``picture``'s
    spectrum (under the 2-D Hann window; ``weights``: what of each frequency counts when
    finding it), when it stands ``prominence`` times above the band's mean; else 0."""
    rows, cols = picture.shape[:2]
    window, band = _bar_band(rows, cols)
    spectrum = cv2.dft(cv2.multiply(picture, window), flags=cv2.DFT_COMPLEX_OUTPUT)
    magnitude = cv2.magnitude(spectrum[..., 0], spectrum[..., 1])
    weighted = magnitude if weights is None else cv2.multiply(magnitude, weights)
    _, peak, _, (column, row) = cv2.minMaxLoc(weighted, band)
    if peak < prominence * float(cv2.mean(weighted, band)[0]):
        return 0.0
    # A sinusoid of amplitude A peaks at A * rows * cols / 8 under the 2-D Hann window (down
    # to two thirds of that between frequency bins).
    amplitude: float = float(magnitude[row, column]) * 8.0 / (rows * cols)
    return amplitude


# On one frame the scene is still in the picture. In its fine detail (its spectrum weighted
# as a 2-pixel Gaussian high-pass would, which keeps bars of every period in the band and
# drops the scene's shading) the sharpest peak stands at most 13.4 times above the band's
# mean on the tune pictures (the rendered kitchens' shelving and tiles, a building's
# windows), interference bars 16 and more on 20 of 50. A grille or a tiled wall seen square
# on can stand as far out, so on one frame this only says "cannot judge without a
# reference".
_BAR_PROMINENCE_ALONE = 16.0
_ALONE_DETAIL_SIGMA = 2.0


@functools.cache
def _fine_detail_weights(height: int, width: int) -> npt.NDArray[np.float32]:
    """What a Gaussian high-pass (the picture less its _ALONE_DETAIL_SIGMA blur) keeps of
    each frequency of the spectrum: done as one product in the spectrum, not a blur."""
    vertical = np.fft.fftfreq(height)[:, None]
    horizontal = np.fft.fftfreq(width)[None, :]
    spread = 2.0 * (math.pi * _ALONE_DETAIL_SIGMA) ** 2
    weights = (1.0 - np.exp(-spread * (vertical**2 + horizontal**2))).astype(np.float32)
    weights.setflags(write=False)
    return weights


def bars_alone(half_grey: Picture) -> float:
    """Interference bars on one frame (pure; the grey picture at half size, as
    ``Frame.half_grey``): the amplitude in grey levels of the sharpest sinusoid in the fine
    detail of the picture's centre, when it stands _BAR_PROMINENCE_ALONE times above the
    band's mean there; else 0."""
    centre = _centre(half_grey)
    rows, cols = centre.shape[:2]
    if min(rows, cols) < 16:
        return 0.0
    centred = centre - np.float32(cv2.mean(centre)[0])
    return _sharpest_sinusoid(centred, _BAR_PROMINENCE_ALONE, _fine_detail_weights(rows, cols))


def interference_vs_reference(current: Picture, enrolled: Picture, least: float = 0.0) -> float:
    """Interference bars at any slant against the reference (pure; both grey pictures of
    one size at half the analysis width, as ``Frame.half_grey``): ``interference_in``
    what the reference does not explain in the picture's centre (64x128)."""
    return interference_in(unexplained_centre(current, enrolled), least)


_FLICKER_MARGIN = 0.5  # share of the spread flicker of the least amplitude would add


def flicker_possible(left: Unexplained | None, least: float) -> bool:
    """Whether what the reference does not explain could hold flicker of ``least`` levels
    at mid-grey (pure): flicker multiplies the light by 1 + (least / 128) sin, which adds
    about least / 128 * level / sqrt(2) to the residual's spread (with a margin of
    _FLICKER_MARGIN for the fit absorbing part of it). True when unknown."""
    if left is None or least <= 0.0:
        return True
    adds = least / _MID_GREY * max(left.level, _DARKEST) / math.sqrt(2.0)
    return left.spread >= _FLICKER_MARGIN * adds
