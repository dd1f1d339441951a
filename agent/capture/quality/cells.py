"""Grid arithmetic shared by the measurements and the reference comparison: sums over
cells from integral images, per-block statistics, connected regions of a block mask, and
a percentile by partition."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.quality.frame import Image, Mask

BLOCK_PX = 16  # occlusion grid cell at the analysis width
DETAIL_GRADIENT = 3.0  # a block with at least this much gradient has detail
FLAT_GRADIENT = 1.6  # mean |gradient| per block below this: featureless

_Number = TypeVar("_Number", np.int32, np.float64)


@dataclass(frozen=True, eq=False)
class BlockStats:
    """Mean brightness and mean gradient of each BLOCK_PX cell."""

    mean: npt.NDArray[np.float32]
    gradient: npt.NDArray[np.float32]

    # What a frame is compared against, made once for a reference's blocks (every frame
    # of the camera is compared with them).

    @functools.cached_property
    def level(self) -> float:
        """The blocks' mean brightness."""
        return float(self.mean.sum()) / self.mean.size

    @functools.cached_property
    def detailed(self) -> npt.NDArray[np.bool_]:
        """The blocks with detail (DETAIL_GRADIENT)."""
        detailed = np.asarray(self.gradient >= DETAIL_GRADIENT, np.bool_)
        detailed.setflags(write=False)
        return detailed

    @functools.cached_property
    def featureless(self) -> npt.NDArray[np.bool_]:
        """The blocks without detail."""
        featureless = np.asarray(~self.detailed, np.bool_)
        featureless.setflags(write=False)
        return featureless

    @functools.cached_property
    def faint(self) -> npt.NDArray[np.bool_]:
        """The blocks without detail that still show some texture (FLAT_GRADIENT up)."""
        faint = np.asarray(self.featureless & (self.gradient >= FLAT_GRADIENT), np.bool_)
        faint.setflags(write=False)
        return faint

    @functools.cached_property
    def detailed_count(self) -> int:
        return int(np.count_nonzero(self.detailed))

    @functools.cached_property
    def faint_count(self) -> int:
        return int(np.count_nonzero(self.faint))

    @functools.cached_property
    def gradient_floor(self) -> npt.NDArray[np.float32]:
        """The gradient, at least 1e-3 (a divisor)."""
        floor = np.asarray(np.maximum(self.gradient, 1e-3), np.float32)
        floor.setflags(write=False)
        return floor


def cell_corners(image: Image, rows: int, cols: int, span: int = BLOCK_PX) -> npt.NDArray[np.int32]:
    """The integral image at the corners of ``rows`` x ``cols`` cells of ``span`` pixels
    (the BLOCK_PX cells unless told)."""
    integral = cv2.integral(image[: rows * span, : cols * span], sdepth=cv2.CV_32S)
    return np.asarray(integral, np.int32)[::span, ::span]


def cell_sums(corners: npt.NDArray[_Number]) -> npt.NDArray[_Number]:
    """Sum of each cell from the integral image at its corners."""
    sums: npt.NDArray[_Number] = (
        corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]
    )
    return sums


def block_stats(
    grey: Image,
    d_vertical: Image,
    d_horizontal: Image,
    grey_sums: npt.NDArray[np.int32] | None = None,
) -> BlockStats:
    """Mean brightness and mean gradient (|dx| + |dy|) / 2 per BLOCK_PX cell (the
    right and bottom remainders that do not fill a cell are left out). ``grey_sums``:
    the grey picture's integral image when it is already at hand."""
    height, width = grey.shape[:2]
    cols = max(1, (width - 1) // BLOCK_PX)
    rows = max(1, (height - 1) // BLOCK_PX)
    area = float(BLOCK_PX * BLOCK_PX)
    if grey_sums is None:
        corners = cell_corners(grey, rows, cols)
    else:
        corners = grey_sums[: rows * BLOCK_PX + 1 : BLOCK_PX, : cols * BLOCK_PX + 1 : BLOCK_PX]
    mean = cell_sums(corners) / area
    both = cell_corners(d_vertical, rows, cols) + cell_corners(d_horizontal, rows, cols)
    gradient = cell_sums(both) / (2.0 * area)
    return BlockStats(mean=mean.astype(np.float32), gradient=gradient.astype(np.float32))


def block_pixels(blocks: Mask, shape: tuple[int, ...]) -> Mask:
    """A mask on the block grid as a mask of a picture of ``shape``: each BLOCK_PX cell's
    pixels take its value; the remainders beyond the grid are False."""
    rows, cols = blocks.shape[:2]
    pixels = np.zeros(shape[:2], np.bool_)
    pixels[: rows * BLOCK_PX, : cols * BLOCK_PX] = np.repeat(
        np.repeat(blocks, BLOCK_PX, axis=0), BLOCK_PX, axis=1
    )
    return pixels


class EdgeRegion(NamedTuple):
    """The largest True region of a block mask that touches the frame edge."""

    share: float  # of the grid
    border: float  # share of the grid's border cells it takes (1: it runs all round)
    cells: Mask | None  # its cells (None: no True cell touches the edge)


def edge_region(mask: Mask) -> EdgeRegion:
    """The largest True region that touches the frame edge."""
    if not mask.any():
        return EdgeRegion(0.0, 0.0, None)
    count, labels_raw, stats_raw, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=4
    )
    labels, stats = np.asarray(labels_raw), np.asarray(stats_raw)
    border = np.concatenate((labels[0, :], labels[-1, :], labels[1:-1, 0], labels[1:-1, -1]))
    on_border = np.bincount(border, minlength=count)
    on_border[0] = 0  # the background
    if not on_border.any():
        return EdgeRegion(0.0, 0.0, None)
    areas = np.where(on_border > 0, stats[:, cv2.CC_STAT_AREA], 0)
    largest = int(areas.argmax())
    return EdgeRegion(
        int(areas[largest]) / float(mask.size),
        int(on_border[largest]) / float(border.size),
        np.asarray(labels == largest, np.bool_),
    )


def beyond(region: Mask) -> Mask:
    """The blocks beyond a region and the ring of blocks around it: what a cover and its
    soft, out-of-focus edge (which takes detail there too) leave of the view."""
    near = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8))
    return np.asarray(near == 0, np.bool_)


def joined_region(mask: Mask, bridges: Mask) -> tuple[float, Mask | None]:
    """The region that holds the most True cells of ``mask``, where regions connect
    through ``mask`` cells and ``bridges`` cells alike: how many ``mask`` cells it holds,
    as a share of the grid (bridges themselves are not counted), and its cells (bridges
    included; None when ``mask`` has none)."""
    if not mask.any():
        return 0.0, None
    count, labels = cv2.connectedComponents((mask | bridges).astype(np.uint8), connectivity=4)
    held = np.bincount(np.asarray(labels)[mask], minlength=count)
    held[0] = 0
    largest = int(held.argmax())
    return int(held[largest]) / float(mask.size), np.asarray(labels == largest, np.bool_)


def percentile(values: npt.NDArray[np.floating[Any] | np.integer[Any]], fraction: float) -> float:
    """``np.percentile(values, 100 * fraction)`` (linear interpolation) by partition."""
    last = int(values.shape[0]) - 1
    position = fraction * last
    low = math.floor(position)
    high = min(low + 1, last)
    pair = np.partition(values, (low, high))
    return float(pair[low]) + (position - low) * (float(pair[high]) - float(pair[low]))
