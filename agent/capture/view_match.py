"""View matching: where a camera's enrolled view is in the current frame.

Beneath both the quality checks (scene change, occlusion, the block comparison on the
reference's geometry) and KCP coverage (where each ROI polygon now is):
- ORB features of the enrolled reference frame are matched to the current frame and a
  homography (RANSAC) maps the reference onto it; it tells how much of the enrolled view
  is still in the picture.
- Most samples of a fixed camera show the enrolled view unmoved; a quick check settles
  that case first (``still_in_place``: a 3x3 grid of tiles of a small grey picture, each
  found by normalised cross-correlation exactly where it was and not one pixel aside) and
  only when it is unsure are features detected and matched (``locate_view`` does both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float64]

# Below this many reference keypoints a view is too featureless to match (a bare wall):
# the matching verdict is then "unknown", never "moved".
MIN_REFERENCE_FEATURES = 20
MIN_INLIERS = 10
_RATIO_TEST = 0.8
_RANSAC_PX = 3.0


@dataclass(frozen=True, eq=False)
class ViewFeatures:
    """ORB keypoints (x, y in analysis pixels) and descriptors of one frame."""

    points: Points
    descriptors: Image
    size: tuple[int, int]  # (width, height) of the frame they were found on

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True, eq=False)
class ViewMatch:
    """How the reference view maps onto the current frame."""

    homography: Matrix | None  # reference pixels -> frame pixels; None: no match
    inliers: int
    matches: int
    view_kept: float | None  # fraction of the frame the enrolled view still fills
    unmoved: int = 0  # matches found at the very same place as in the reference
    # Set when the quick check found the view in place (no features were matched): how
    # many reference tiles were found exactly where they were.
    tiles_in_place: int | None = None


_orb: Any = None


def _detector() -> Any:
    global _orb  # noqa: PLW0603 - one detector per process; creation costs more than use
    if _orb is None:
        _orb = cv2.ORB.create(
            nfeatures=250,
            scaleFactor=1.3,
            nlevels=4,
            edgeThreshold=15,
            patchSize=15,
            fastThreshold=12,
        )
    return _orb


def features(grey: Image) -> ViewFeatures:
    keypoints, descriptors = _detector().detectAndCompute(grey, None)
    height, width = grey.shape[:2]
    if descriptors is None or not keypoints:
        return ViewFeatures(
            np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), (width, height)
        )
    points = np.asarray(cv2.KeyPoint.convert(keypoints), dtype=np.float32).reshape(-1, 2)
    return ViewFeatures(points, np.asarray(descriptors, dtype=np.uint8), (width, height))


def _plausible(homography: Matrix, size: tuple[int, int]) -> bool:
    """Reject degenerate fits (mirrored, collapsed or exploded views)."""
    affine = homography[:2, :2] / homography[2, 2]
    det = float(np.linalg.det(affine))
    if not 0.25 < det < 4.0:
        return False
    width, height = size
    frame = corners(size)
    warped = cv2.perspectiveTransform(frame.reshape(-1, 1, 2), homography).reshape(-1, 2)
    if not np.all(np.isfinite(warped)):
        return False
    limit = 4.0 * max(width, height)
    return bool(np.all(np.abs(warped) < limit)) and cv2.isContourConvex(warped.astype(np.float32))


def corners(size: tuple[int, int]) -> Points:
    """The frame rectangle's corners, clockwise from the top left."""
    width, height = size
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)


def clipped_area(polygon: Points, size: tuple[int, int]) -> float:
    """Area of a convex polygon inside the frame rectangle."""
    area, _ = cv2.intersectConvexConvex(polygon.astype(np.float32), corners(size))
    return float(area)


def match_view(reference: ViewFeatures, frame: ViewFeatures) -> ViewMatch | None:
    """Match the reference view onto a frame; None when the reference is too featureless
    to say anything."""
    if len(reference) < MIN_REFERENCE_FEATURES:
        return None
    if len(frame) < 2:
        return ViewMatch(None, 0, 0, 0.0)
    # The two nearest frame descriptors of each reference descriptor (what a brute-force
    # knnMatch computes) as arrays, without a DMatch object per pair.
    distances, nearest = cv2.batchDistance(
        reference.descriptors, frame.descriptors, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=2
    )
    distances, nearest = np.asarray(distances), np.asarray(nearest)
    good = np.flatnonzero(distances[:, 0] < _RATIO_TEST * distances[:, 1])
    src = reference.points[good].reshape(-1, 1, 2)
    dst = frame.points[nearest[good, 0]].reshape(-1, 1, 2)
    still = np.linalg.norm((dst - src).reshape(-1, 2), axis=1) < _RANSAC_PX
    unmoved = int(still.sum())
    if len(good) < MIN_INLIERS:
        return ViewMatch(None, 0, len(good), 0.0, unmoved)
    # Frames judged against a reference are scaled to the reference's size first.
    found, mask = cv2.findHomography(src, dst, cv2.RANSAC, _RANSAC_PX)
    homography = None if found is None else np.asarray(found, np.float64)
    inliers = int(np.asarray(mask).sum()) if mask is not None else 0
    # Repetitive structure (tiles, shelving, window rows) lets RANSAC lock onto a shifted
    # copy of the pattern; when the unmoved view explains the matches about as well, the
    # camera has not moved.
    if unmoved >= MIN_INLIERS and unmoved >= 0.5 * inliers:
        homography, inliers = np.eye(3), unmoved
    if homography is None or inliers < MIN_INLIERS or not _plausible(homography, reference.size):
        return ViewMatch(None, inliers, len(good), 0.0, unmoved)
    warped = np.asarray(
        cv2.perspectiveTransform(corners(reference.size).reshape(-1, 1, 2), homography),
        np.float32,
    ).reshape(-1, 2)
    kept = clipped_area(warped, frame.size) / float(frame.size[0] * frame.size[1])
    return ViewMatch(homography, inliers, len(good), min(1.0, kept), unmoved)


# --- quick check: has anything moved? ---------------------------------------------------

_TILE_GRID = 3  # tiles per side
_TILE_TEXTURE = 3.0  # grey-level spread below which a reference tile cannot be recognised
_TILE_FOUND = 0.7  # normalised cross-correlation at which a tile is recognised
_TILES_NEEDED = 6  # tiles found in place (and none found aside) to call the view unmoved
# The nine one-pixel shifts, row-major; index 4 is no shift.
_SHIFTS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
_NO_SHIFT = 4


@dataclass(frozen=True, eq=False)
class ViewTiles:
    """The enrolled view as a grid of tiles of a small grey picture, prepared once: each
    tile's pixels at the nine one-pixel shifts, mean removed and scaled to unit length,
    so one batched matrix product gives every tile's correlation at every shift."""

    size: tuple[int, int]  # (width, height) of the small picture
    tile: tuple[int, int]  # (height, width) of one tile
    shifted: npt.NDArray[np.float64]  # (tiles, shifts, pixels)
    textured: npt.NDArray[np.bool_]  # (tiles,) enough detail to be recognised


def _tile_rows(
    small: npt.NDArray[np.float64], tile: tuple[int, int], dy: int, dx: int
) -> npt.NDArray[np.float64]:
    """The tiles (one row of pixels each) of the picture's interior shifted by (dy, dx)."""
    height, width = tile
    grid = _TILE_GRID
    window = small[1 + dy : 1 + dy + grid * height, 1 + dx : 1 + dx + grid * width]
    return window.reshape(grid, height, grid, width).swapaxes(1, 2).reshape(grid * grid, -1)


def view_tiles(small: Image) -> ViewTiles | None:
    """Prepare the reference's small grey picture; None when it is too small to tile."""
    height, width = small.shape[:2]
    tile = ((height - 2) // _TILE_GRID, (width - 2) // _TILE_GRID)
    if min(tile) < 4:
        return None
    picture = small.astype(np.float64)
    units = []
    for dy, dx in _SHIFTS:
        rows = _tile_rows(picture, tile, dy, dx)
        centred = rows - rows.mean(axis=1, keepdims=True)
        length = np.sqrt(np.einsum("ij,ij->i", centred, centred))
        units.append(centred / np.maximum(length, 1e-6)[:, None])
    rows = _tile_rows(picture, tile, 0, 0)
    textured = rows.std(axis=1) >= _TILE_TEXTURE
    return ViewTiles((width, height), tile, np.stack(units, axis=1), textured)


def tiles_in_place(reference: ViewTiles, small: Image) -> tuple[int, int]:
    """(tiles found exactly in place, tiles found one pixel aside) among the reference's
    textured tiles. A tile is found where its correlation peaks over the nine shifts, if
    the peak reaches _TILE_FOUND; in place only when that peak is at no shift, which
    bounds any motion of that tile to about half a pixel of the small picture."""
    rows = _tile_rows(small.astype(np.float64), reference.tile, 0, 0)
    # The reference's rows have zero mean, so the frame's need not be centred for the
    # dot product; only their spread is needed, from the sums.
    sums = rows.sum(axis=1)
    spread = np.einsum("ij,ij->i", rows, rows) - sums * sums / rows.shape[1]
    dots = np.matmul(reference.shifted, rows[:, :, None])[:, :, 0]
    correlation = dots / np.sqrt(np.maximum(spread, 1e-6))[:, None]
    peak = correlation.max(axis=1)
    found = reference.textured & (peak >= _TILE_FOUND)
    at_rest = correlation[:, _NO_SHIFT] >= peak
    return int(np.count_nonzero(found & at_rest)), int(np.count_nonzero(found & ~at_rest))


def still_in_place(reference: ViewTiles | None, small: Image) -> ViewMatch | None:
    """The identity match when the view has certainly not moved: most of the reference's
    tiles are found exactly in place and none beside it. None when unsure (moved, covered,
    dark, featureless or too different): then features must be matched."""
    if reference is None or (small.shape[1], small.shape[0]) != reference.size:
        return None
    in_place, aside = tiles_in_place(reference, small)
    if in_place < _TILES_NEEDED or aside:
        return None
    return ViewMatch(np.eye(3), 0, 0, 1.0, 0, tiles_in_place=in_place)


def tile_picture(thumb: Image, size: tuple[int, int] | None = None) -> Image:
    """The small grey picture of the quick view check: a colour thumbnail in grey (at
    ``size`` when the reference's differs)."""
    grey = np.asarray(cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY), np.uint8)
    if size is not None and (grey.shape[1], grey.shape[0]) != size:
        grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.uint8)
    return grey


def locate_view(
    view: ViewFeatures, tiles: ViewTiles | None, grey: Image, thumb: Image
) -> ViewMatch | None:
    """Where the enrolled view (its features and tiles) is in a frame (``grey`` at the
    reference's size, ``thumb`` its colour thumbnail): the quick tile check when it is
    sure nothing moved, else feature matching. None when the reference is too featureless
    to tell."""
    if len(view) < MIN_REFERENCE_FEATURES:
        return None
    if tiles is not None:
        quick = still_in_place(tiles, tile_picture(thumb, tiles.size))
        if quick is not None:
            return quick
    return match_view(view, features(grey))
