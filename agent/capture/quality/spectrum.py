"""The zeros a lens blur leaves in a picture's spectrum.

A soft scene and a blurred one can be equally soft: the whole-picture blur measure cannot
tell a close-up of dough or a smooth steel hood from a lens out of focus. Their spectra
differ. A scene's detail fades smoothly with frequency; a defocus disc multiplies the
spectrum by a function with rings of zeros (about every half of 1/radius), and motion blur
by one with parallel lines of zeros (every 1/length, along the motion). The log of the
spectrum then carries a periodic pattern of narrow dips, which its Fourier transform (the
cepstrum, Rom 1975; Cannon 1976) gathers into a negative peak at the blur's own size: a
ring at twice the disc's radius, a pair of points at the streak's length in its
direction. Welch's average over overlapping tiles keeps the scene's own detail from
standing out.

A scene's own regular structure can leave such dips too: drawer fronts of one width are a
box along the row, as a streak is; a tiled wall's lattice leaves dips on its diagonals. So
the judge asks only of a picture already near the blur threshold (``judge.py``), and a
streak counts only where the picture's detail along it is a small share of the detail
across it and where the upper and the lower rows of tiles (no pixel in both) each show it:
motion moves the whole picture, while structure is where it is.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from agent.capture.quality.frame import Image

TILE = 64  # analysis pixels a side: room for a streak of 16 and a disc of radius 8
_STEP = TILE // 2
_WINDOW = np.outer(np.hanning(TILE), np.hanning(TILE)).astype(np.float32)
# Cepstral coordinates (quefrency, analysis pixels), zero at [0, 0] as the transform has it.
_QUEFRENCY = np.fft.fftfreq(TILE, 1 / TILE)
_QY, _QX = np.meshgrid(_QUEFRENCY, _QUEFRENCY, indexing="ij")
_QR = np.hypot(_QY, _QX)
_FR = _QR / TILE  # the spectrum's frequencies (cycles a pixel) on the same grid
_FANGLE = np.arctan2(_QY, _QX)
# The cepstrum's spread is read over these quefrencies (short of the scene's own slope near
# the origin); a disc's ring is looked for at 6-16 (radius 3-8), a streak at 6.5-17.
_SPREAD = (_QR >= 4) & (_QR <= 24)
_RINGS = tuple(np.abs(_QR - q) < 0.5 for q in range(6, 17))
_STREAK = (_QR >= 6.5) & (_QR <= 17) & (_QY >= 0)  # half: the cepstrum is symmetric
_STREAK_CANDIDATES = 12  # the deepest points tried as a streak
# Detail (0.1-0.3 cycles a pixel: past a streak of 8 pixels' first zero, short of where
# sensor noise fills a smooth kitchen's spectrum both ways alike) along a streak's
# direction is under this share of the detail across it when motion made it. A margin
# against a scene's own edges: on the tune pictures the clean views' deepest dips in both
# halves (below) reach 5.6 of the 8 without it, none with it; the blurs caught are the same.
_STREAK_ALONG = 0.35
_WEDGE = np.radians(20)
_DETAIL = (_FR >= 0.1) & (_FR <= 0.3)
# How deep a zero must be (in robust spreads of the cepstrum) to count, so that the score
# reads 1 at the threshold. A disc's ring at its 75th percentile (most of the ring dips,
# not a few points of a pattern): the physical model's clean tune pictures reach 0.03, the
# defocus blurs the whole-picture measure misses 0.85-4.1 (3 of 6; the others show none).
# A streak's deepest point: clean tune pictures reach 6.5 (none in both halves, below), the
# motion blurs the whole-picture measure misses 6.3-49 (14 of 17 over 8).
DISC_DEPTH = 0.8
STREAK_DEPTH = 8.0
# Motion moves the whole picture: the streak's zeros are in the upper and in the lower
# rows of tiles, each at least this deep (the motion blurs caught on the tune pictures keep
# 0.6 of the whole's depth in their weaker half, 8 and more). A scene's own structure is
# where it is: a tiled wall above a counter (a held-out rendered cooking line, which the
# first form of this rule read as blurred) leaves dips as deep as a streak's, none below.
_STREAK_IN_EACH_HALF = 4.0


def _row_spectra(grey: Image) -> npt.NDArray[np.float32] | None:
    """Welch's power spectrum of each row of tiles (``TILE`` a side, zero frequency at
    [0, 0]), None for a picture smaller than one tile."""
    height, width = grey.shape[:2]
    if height < TILE or width < TILE:
        return None
    tiles = sliding_window_view(grey, (TILE, TILE))[::_STEP, ::_STEP]
    rows, columns = tiles.shape[:2]
    levels = tiles.reshape(-1, TILE, TILE).astype(np.float32)
    windowed = (levels - levels.mean(axis=(1, 2), keepdims=True)) * _WINDOW
    power = np.zeros((rows, TILE, TILE), np.float32)
    for index, tile in enumerate(windowed):  # OpenCV's transform: a third of numpy's time
        transform = cv2.dft(tile, flags=cv2.DFT_COMPLEX_OUTPUT)
        power[index // columns] += cv2.magnitude(transform[..., 0], transform[..., 1]) ** 2
    power /= columns
    power[:, 0, 0] = power[:, 0, 1]  # the tiles' means were taken out
    return power


def _depth(spectrum: npt.NDArray[np.float32]) -> npt.NDArray[np.float64] | None:
    """The cepstrum below its median, in robust spreads (deep where the spectrum has
    regular zeros), None for a spectrum with no detail."""
    if not spectrum.any():
        return None
    floor = 1e-3 * float(spectrum.mean())
    cepstrum = np.fft.ifft2(np.log(spectrum + floor)).real
    centre = float(np.median(cepstrum[_SPREAD]))
    spread = 1.4826 * float(np.median(np.abs(cepstrum[_SPREAD] - centre)))
    if spread <= 0.0:
        return None
    depth: npt.NDArray[np.float64] = (centre - cepstrum) / spread
    return depth


def _wedge(angle: float) -> npt.NDArray[np.intp]:
    """Where the detail band lies within ``_WEDGE`` of ``angle`` (either way round)."""
    apart = np.abs((_FANGLE - angle + np.pi / 2) % np.pi - np.pi / 2)
    return np.flatnonzero(_DETAIL & (apart <= _WEDGE))


# Each point a streak is looked for at, and the detail band along it and across it: fixed
# by the grid, so worked out once.
_STREAK_YS, _STREAK_XS = np.nonzero(_STREAK)
_STREAK_WEDGES = tuple(
    (_wedge(angle), _wedge(angle + np.pi / 2))
    for angle in np.arctan2(_QY[_STREAK], _QX[_STREAK]).tolist()
)


def _halves(rows: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float64] | None]:
    """The depth in the upper and in the lower rows of tiles, apart by a row so that no
    pixel is in both (tiles overlap by half); none for a picture under three rows."""
    count = len(rows)
    if count < 3:
        return [None]
    return [_depth(rows[: count // 2].mean(axis=0)), _depth(rows[count // 2 + 1 :].mean(axis=0))]


def blur_zeros(grey: Image) -> float | None:
    """How deep the zeros of a defocus disc or a motion streak are in the picture's
    spectrum: 1 at what counts as a lens blur (the deeper of the two, each in its own
    ``*_DEPTH``), under it for a scene's smooth fading; None for a picture smaller than a
    tile or with no detail at all."""
    rows = _row_spectra(grey)
    if rows is None:
        return None
    spectrum = rows.mean(axis=0)
    depth = _depth(spectrum)
    if depth is None:
        return None
    disc = max(float(np.percentile(depth[ring], 25)) for ring in _RINGS)
    streak = 0.0
    halves: list[npt.NDArray[np.float64] | None] | None = None
    detail = spectrum.ravel()
    for index in np.argsort(-depth[_STREAK_YS, _STREAK_XS])[:_STREAK_CANDIDATES].tolist():
        y, x = _STREAK_YS[index], _STREAK_XS[index]
        if depth[y, x] <= streak:
            continue
        along, across = _STREAK_WEDGES[index]
        if detail[along].mean() >= _STREAK_ALONG * detail[across].mean():
            continue
        if halves is None:
            halves = _halves(rows)
        if all(half is not None and half[y, x] >= _STREAK_IN_EACH_HALF for half in halves):
            streak = float(depth[y, x])
    return max(disc / DISC_DEPTH, streak / STREAK_DEPTH)
