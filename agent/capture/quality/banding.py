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

Both are reported as an amplitude in grey levels (flicker at mid-grey), like the other
forms of ``stripes``.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.cells import percentile
from agent.capture.quality.frame import Image
from agent.capture.quality.stripes import Profile

_FLICKER_CYCLES = (2.4, 10.0)  # bands a frame mains flicker shows
_FLICKER_STEP = 0.2  # cycles between the frequencies tried
_FLICKER_FIT = 0.85  # the sinusoid must explain this share of what the reference does not
_MID_GREY = 128.0
_DARKEST = 8.0  # a row's fitted brightness is taken as at least this


@functools.cache
def _flicker_basis(size: int) -> tuple[npt.NDArray[np.float64], ...] | None:
    """For a profile of ``size`` rows: the projection removing a slow (quadratic) trend,
    and per frequency tried the trend-free sine and cosine (stacked, 2 rows each) with the
    inverses of their 2x2 Gram matrices, so one product gives every fit."""
    if size < 32:
        return None
    position = np.linspace(-1.0, 1.0, size)
    trend = np.stack([np.ones(size), position, position * position], axis=1)
    detrend = np.eye(size) - trend @ np.linalg.pinv(trend)
    cycles = np.arange(_FLICKER_CYCLES[0], _FLICKER_CYCLES[1] + 1e-9, _FLICKER_STEP)
    phase = 2.0 * np.pi * np.outer(cycles, np.arange(size)) / size
    waves = np.empty((2 * cycles.size, size))
    waves[0::2], waves[1::2] = np.sin(phase), np.cos(phase)
    waves = waves @ detrend  # detrend is symmetric: each wave with the trend removed
    pairs = waves.reshape(cycles.size, 2, size)
    inverses = np.asarray(np.linalg.inv(pairs @ pairs.transpose(0, 2, 1)), np.float64)
    return np.asarray(detrend, np.float64), np.asarray(waves, np.float64), inverses


def flicker_vs_reference(current: Profile, enrolled: Profile) -> float:
    """Mains flicker against the reference (pure): the amplitude, in grey levels at
    mid-grey, of the sinusoid of 2.4-10 cycles that best explains the row profile over the
    reference's (after exposure and a slow trend), when it explains at least
    _FLICKER_FIT of it; else 0."""
    size = current.shape[0]
    basis = _flicker_basis(size)
    if basis is None or enrolled.shape[0] != size:
        return 0.0
    detrend, waves, inverses = basis
    now, before = current.astype(np.float64), enrolled.astype(np.float64)
    spread = float(before.std())
    if spread <= 1e-6:
        return 0.0
    slope = float(np.mean((before - before.mean()) * (now - now.mean()))) / (spread * spread)
    fitted = slope * (before - before.mean()) + now.mean()
    relative = detrend @ (now / np.maximum(fitted, _DARKEST) - 1.0)
    energy = float(relative @ relative)
    if energy <= 1e-12:
        return 0.0
    projections = (waves @ relative).reshape(-1, 2)
    coefficients = np.einsum("kij,kj->ki", inverses, projections)
    explained = np.einsum("ki,ki->k", coefficients, projections) / energy
    best = int(explained.argmax())
    if explained[best] < _FLICKER_FIT:
        return 0.0
    return float(np.hypot(*coefficients[best])) * _MID_GREY


_BAR_PERIODS = (3.0, 16.0)  # at half the analysis width: 6-32 analysis pixels
_BAR_PROMINENCE = 100.0  # the peak over the band's median magnitude


@functools.cache
def _bar_band(height: int, width: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """The 2-D Hann window and which frequencies of the real spectrum are in the band."""
    window = np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)
    vertical = np.fft.fftfreq(height)[:, None]
    horizontal = np.fft.rfftfreq(width)[None, :]
    radius = np.hypot(vertical, horizontal)
    band = (radius >= 1.0 / _BAR_PERIODS[1]) & (radius <= 1.0 / _BAR_PERIODS[0])
    window.setflags(write=False)
    band.setflags(write=False)
    return window, band


def interference_vs_reference(current: Image, enrolled: Image) -> float:
    """Interference bars at any slant against the reference (pure; both grey pictures of
    one size, best at half the analysis width): the amplitude in grey levels of the
    sharpest sinusoid in what the reference does not explain (fitted for exposure), when
    it stands _BAR_PROMINENCE times above the band's median; else 0."""
    height, width = current.shape[:2]
    if enrolled.shape[:2] != (height, width) or min(height, width) < 16:
        return 0.0
    now = np.asarray(current, np.float32)
    before = np.asarray(enrolled, np.float32)
    mean_before, spread_before = cv2.meanStdDev(before)
    mean_now = float(cv2.mean(now)[0])
    variance = float(spread_before[0][0]) ** 2
    covariance = float(cv2.mean(cv2.multiply(now - mean_now, before))[0])
    slope = covariance / variance if variance > 1e-6 else 1.0
    window, band = _bar_band(height, width)
    residual = (now - mean_now - slope * (before - float(mean_before[0][0]))) * window
    spectrum = cv2.dft(residual, flags=cv2.DFT_COMPLEX_OUTPUT)[:, : width // 2 + 1]
    magnitude = np.asarray(cv2.magnitude(spectrum[..., 0], spectrum[..., 1]), np.float32)[band]
    peak = float(magnitude.max())
    if peak < _BAR_PROMINENCE * percentile(magnitude, 0.5):
        return 0.0
    # A sinusoid of amplitude A peaks at A * height * width / 8 under the 2-D Hann window.
    return float(peak * 8.0 / (height * width))


def half(grey: Image) -> Image:
    """A grey picture at half size (the interference check's scale)."""
    height, width = grey.shape[:2]
    size = (max(1, width // 2), max(1, height // 2))
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.uint8)
