"""Colour: statistics of the colour thumbnail, and a tint over the whole frame.

- ``tint`` (``color_cast`` without a reference): only "a grey scene turned colour" can be
  told: chroma relative to lightness that is the same across the frame (size >= 3x its
  spread), in % of lightness. The equivalent-circle factor K = D/M used by Chinese VQD
  products is reported as ``cast`` for reference, but it tracks how flat a scene is more
  than its tint (a tint multiplies D and M alike), so it is not judged. A colourful or
  warm scene without a reference cannot be told from a cast. Greyscale (IR night) frames
  never fire.
- With a reference, the white balance is compared (``compare.py``): each channel's spread
  in linear light against the reference's, region by region (``region_spreads``, a 3x3
  grid), and the median over the regions taken: a white balance that moved shifts every
  region alike, while a lit stove flame or a lamp in the view (warm, bright, a region or
  two) is outvoted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.frame import Image

_TINT_COHERENCE = 3.0  # tint counts when its size is this many times its spread
_SRGB_TO_LINEAR = np.array(
    [(v / 255 / 12.92) if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in range(256)],
    dtype=np.float32,
)


_LAB_NEUTRAL = np.array([128.0, 128.0, 128.0, 0.0])  # L (unused), a, b of a grey pixel
_AB_NEUTRAL = np.array([128.0, 128.0, 0.0, 0.0])
_TINT_MIN_LIGHTNESS = 40.0  # 8-bit L at or below which chroma/lightness is too unstable


@dataclass(frozen=True)
class Colour:
    """Colour statistics of the thumbnail: mean chroma (Lab a, b, their distance from
    grey, that distance over the chroma's spread: the equivalent-circle factor K of
    Chinese VQD products), mean |a|+|b| (colourfulness), and each channel's mean and
    spread in linear light (the white balance against a reference)."""

    chroma_a: float
    chroma_b: float
    chroma: float
    cast: float
    colourfulness: float
    lin_b: float
    lin_g: float
    lin_r: float
    spread_b: float
    spread_g: float
    spread_r: float


def chroma(thumb: Image) -> tuple[Colour, Image]:
    """Colour statistics of the thumbnail, and the thumbnail in Lab (for ``tint``)."""
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
    colour = Colour(
        chroma_a=a,
        chroma_b=b,
        chroma=distance,
        cast=distance / max(spread, 1.0),
        colourfulness=(off_grey[1] + off_grey[2]) / pixels,
        lin_b=lin_b,
        lin_g=lin_g,
        lin_r=lin_r,
        spread_b=spread_b,
        spread_g=spread_g,
        spread_r=spread_r,
    )
    return colour, lab


def tint(lab: Image) -> float:
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


_REGIONS = 3  # the thumbnail is cut into this many regions along each side


def region_spreads(thumb: Image) -> npt.NDArray[np.float32]:
    """Each channel's spread (B, G, R) in linear light in each region of a 3x3 grid over
    the colour thumbnail (the right and bottom remainders left out): one row per region."""
    linear = cv2.LUT(thumb, _SRGB_TO_LINEAR)
    height, width = linear.shape[:2]
    rows, cols = height // _REGIONS, width // _REGIONS
    if rows < 1 or cols < 1:
        rows, cols, grid = height, width, 1
    else:
        grid = _REGIONS
    cropped = np.ascontiguousarray(linear[: rows * grid, : cols * grid])
    size = (grid, grid)
    means = cv2.resize(cropped, size, interpolation=cv2.INTER_AREA)
    squares = cv2.resize(cv2.multiply(cropped, cropped), size, interpolation=cv2.INTER_AREA)
    spread = np.sqrt(np.maximum(squares - means * means, 0.0))
    return np.asarray(spread, np.float32).reshape(-1, 3)


_FLAT_REGION = 0.01  # a region whose channels spread less than this has no colour to judge


def cast_shift(current: npt.NDArray[np.float32], enrolled: npt.NDArray[np.float32]) -> float:
    """How far the white balance moved from the reference's (pure): per region, each
    channel's gain is the ratio of its spread to the reference's there, taken against
    the region's green gain; per channel the median over the regions; the log of the
    largest ratio between two channels' gains. A change of exposure (all gains alike) and
    a veil of haze or steam (adds light, leaves the spreads' ratios) cancel out, in the
    whole view and region by region (a lamp gone off over part of the kitchen: medians
    of the channels' own gains could each fall on a different side of it); a light
    source in a region or two (a flame, a lamp) is outvoted by the rest of the view.
    Regions the reference shows flat are left out (their spreads are noise), unless too
    few are left."""
    if current.shape != enrolled.shape:
        current = current.mean(axis=0, keepdims=True)
        enrolled = enrolled.mean(axis=0, keepdims=True)
    coloured = enrolled.min(axis=1) > _FLAT_REGION
    if int(coloured.sum()) < 3:
        coloured[:] = True
    gains = np.log(np.maximum(current[coloured], 1e-4) / np.maximum(enrolled[coloured], 1e-4))
    gains = np.sort(gains - gains[:, 1:2], axis=0)
    middle = gains.shape[0] // 2
    channel = gains[middle] if gains.shape[0] % 2 else (gains[middle - 1] + gains[middle]) / 2
    return float(channel.max() - channel.min())


# --- the records ---------------------------------------------------------------------------
