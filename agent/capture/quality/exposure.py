"""Light: how bright the picture is, what of it is lost to white or black, and a veil.

- ``brightness``, ``contrast``, ``uniformity``: mean level, (p95-p5)/(p95+p5) and the share
  within +-4 levels of the commonest level, from one histogram of every other pixel.
- ``clipped`` (``too_bright``): the share of the picture lost to white. A pixel at 250 or
  above counts whole, one from 230 up in proportion (the highlights a camera's knee has
  already squeezed together). It is a share of the whole view, so a small very bright
  region (a stove flame, a lamp, a window: a few per cent) weighs little, while a view
  half blown out weighs half, whatever the mean. ``crushed`` (``too_dark``) is the same
  towards black (5 and below whole, up to 25 in proportion); a dim view of a lit
  subject against a dark background has up to half its picture near black, and a black
  cover is black too, so it is judged only when almost everything is.
- The veil (``low_contrast``): steam, a greasy film or condensation lays scattered light
  over the view. It lifts the black level (``black_lift``: the darkest tenth of the
  view's 16-pixel blocks, taken on the colour thumbnail's darkest channel as in the dark
  channel prior of He et al., relative to the white level) and compresses local contrast
  everywhere (``local_contrast``: RMS contrast, std / mean, of the block that shows the
  most of it, the 95th percentile over 16-pixel blocks). A large smooth surface or a
  cover is flat where it is, but the rest of the view keeps its contrast and its blacks;
  a soft close-up keeps its blacks. ``clarity`` combines both: local contrast scaled by
  the square root of the share of the range that is not veiled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.cells import BLOCK_PX, cell_sums, percentile
from agent.capture.quality.frame import Image

_LEVELS = np.arange(256, dtype=np.float64)
_NINE = np.ones(9)
# Per grey level: the level itself, and its weight in the shares lost to white and black
# (one product with the histogram gives the three sums).
_WEIGHTS = np.stack(
    (
        _LEVELS,
        np.clip((_LEVELS - 230.0) / 20.0, 0.0, 1.0),
        np.clip((25.0 - _LEVELS) / 20.0, 0.0, 1.0),
    )
)
_DARK_BLOCK = 4  # thumbnail pixels per block side (16 analysis pixels at the defaults)
_DARK_SHARE = 0.1  # the black level: this percentile of the blocks' darkest channel
_DARK_KERNEL = np.ones((_DARK_BLOCK, _DARK_BLOCK), np.uint8)
_CONTRAST_SHARE = 0.95  # local contrast: this percentile of the blocks' RMS contrast
_DARKEST_MEAN = 8.0  # a block's mean is taken as at least this (no division by ~0)


@dataclass(frozen=True)
class Histogram:
    brightness: float
    contrast: float
    uniformity: float
    clipped: float
    crushed: float
    white: float  # the 99th percentile level: the picture's white


def histogram_metrics(grey: Image) -> Histogram:
    """The grey picture's level statistics from one histogram."""
    # Every other pixel of every other row: the same distribution at a quarter the cost.
    sample = grey[::2, ::2]
    hist = cv2.calcHist([sample], [0], None, [256], [0, 256]).reshape(-1)
    total = float(sample.shape[0] * sample.shape[1])
    cumulative = hist.cumsum()
    p5, p95, p99 = (
        float(v) for v in cumulative.searchsorted((0.05 * total, 0.95 * total, 0.99 * total))
    )
    window = np.convolve(hist, _NINE, mode="same")
    level_sum, to_white, to_black = (v / total for v in (_WEIGHTS @ hist).tolist())
    return Histogram(
        brightness=level_sum,
        contrast=(p95 - p5) / max(p95 + p5, 1.0),
        uniformity=float(window.max()) / total,
        clipped=to_white,
        crushed=to_black,
        white=p99,
    )


@dataclass(frozen=True)
class Light:
    """What of the picture is lost to white or black, and the veil over it."""

    clipped: float
    crushed: float
    local_contrast: float
    black_lift: float
    clarity: float


def local_contrast(
    block_means: npt.NDArray[np.float32], square_sums: npt.NDArray[np.float64]
) -> float:
    """RMS contrast (std / mean) of the block that shows the most of it: the 95th
    percentile over the BLOCK_PX cells (``block_means``, right and bottom remainders left
    out), with the grey picture's integral image of squares."""
    rows, cols = block_means.shape[:2]
    step = BLOCK_PX
    corners = square_sums[: rows * step + 1 : step, : cols * step + 1 : step]
    spread = cell_sums(corners) / float(step * step) - np.square(block_means, dtype=np.float64)
    rms = np.sqrt(np.maximum(spread, 0.0)) / np.maximum(block_means, _DARKEST_MEAN)
    return percentile(rms.reshape(-1), _CONTRAST_SHARE)


def black_lift(thumb: Image, white: float) -> float:
    """How far the view's black level is lifted towards its white: the darkest tenth of
    the thumbnail's blocks, each block's darkest pixel in its darkest channel, over the
    white level. Shadows, dark objects and saturated colours keep it near 0 in a clear
    view; scattered light adds to every pixel and channel alike."""
    size = _DARK_BLOCK
    # Each channel's minimum over the block to the right and below, read at block corners.
    eroded = cv2.erode(thumb, _DARK_KERNEL, anchor=(0, 0))
    height, width = thumb.shape[:2]
    corners = eroded[: height - size + 1 : size, : width - size + 1 : size]
    if corners.size == 0:
        return 0.0
    darkest = np.minimum(np.minimum(corners[..., 0], corners[..., 1]), corners[..., 2])
    # Whole levels: the order statistics are taken on them as they are (interpolated in
    # Python floats by percentile).
    return min(1.0, percentile(darkest.reshape(-1), _DARK_SHARE) / max(white, 1.0))


def clarity(contrast_at_best: float, lift: float) -> float:
    """Local contrast discounted by the veiled share of the range."""
    return contrast_at_best * math.sqrt(max(0.0, 1.0 - lift))


def light(
    histogram: Histogram,
    thumb: Image,
    block_means: npt.NDArray[np.float32],
    square_sums: npt.NDArray[np.float64],
) -> Light:
    best = local_contrast(block_means, square_sums)
    lift = black_lift(thumb, histogram.white)
    return Light(histogram.clipped, histogram.crushed, best, lift, clarity(best, lift))
