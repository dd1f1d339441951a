"""Is each key control point still in view, and how much of the store is covered?

Two pure parts, on the view matching of ``view_match.py``:
- A KCP's region of interest (a polygon on the reference frame) is mapped through the
  match onto the current frame; the share of it still in the picture and not blocked
  (the occlusion grid of the quality analysis) is what is visible.
- Store coverage: a declared KCP is covered when at least one assigned camera is online,
  has no fail-level issue and shows enough of the ROI; coverage = covered / declared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.view_match import Points, ViewMatch, clipped_area
from agent.model import CoverageReason, KcpCoverage, StoreCoverage


def polygon_area(points: Points) -> float:
    return float(abs(cv2.contourArea(points.astype(np.float32))))


def roi_visible_fraction(
    roi: Sequence[tuple[float, float]],
    match: ViewMatch | None,
    size: tuple[int, int],
    blocked: npt.NDArray[np.bool_] | None = None,
) -> float | None:
    """Fraction of a KCP's ROI (fractions of the reference frame) still visible and not
    blocked in the current frame. ``blocked`` is the occlusion block grid (laid on the
    reference's geometry) from the quality analysis.

    None when there is no usable match information (featureless reference).
    """
    width, height = size
    polygon = np.array([[x * width, y * height] for x, y in roi], dtype=np.float32)
    if match is None:
        return None
    if match.homography is None:
        return 0.0
    warped = np.asarray(
        cv2.perspectiveTransform(polygon.reshape(-1, 1, 2), match.homography), np.float32
    ).reshape(-1, 2)
    total = polygon_area(warped)
    if total <= 0.0:
        return 0.0
    hull = np.asarray(cv2.convexHull(warped), np.float32).reshape(-1, 2)
    inside = clipped_area(hull, size) / max(polygon_area(hull), 1e-6)
    if blocked is None or not blocked.any():
        return float(min(1.0, inside))
    # The blocked grid is laid on the reference's geometry, like the ROI itself.
    rows, cols = blocked.shape
    mask = np.zeros((rows, cols), np.uint8)
    scaled = polygon * np.array([cols / width, rows / height], dtype=np.float32)
    cv2.fillPoly(mask, [np.round(scaled * 16).astype(np.int32)], 1, shift=4)
    roi_blocks = mask.astype(bool)
    if not roi_blocks.any():
        return float(min(1.0, inside))
    unblocked = 1.0 - float(blocked[roi_blocks].mean())
    return float(min(1.0, inside * unblocked))


# --- store coverage ----------------------------------------------------------------------


@dataclass(frozen=True)
class CameraView:
    """What coverage needs to know of one camera right now."""

    camera_id: str
    online: bool
    failing: bool  # has a fail-level quality issue
    roi_visible: Mapping[str, float | None] = field(default_factory=dict)  # kcp -> fraction


def store_coverage(
    declared: Iterable[str],
    assignments: Mapping[str, Iterable[str]],
    views: Mapping[str, CameraView],
    min_visible: float,
    checked_at: float | None = None,
) -> StoreCoverage:
    """Coverage of the store's declared KCPs (pure).

    ``assignments`` maps camera id -> KCP codes it is assigned; ``views`` the current
    state per camera. An ROI fraction of None (no ROI, or a featureless reference) counts
    as in view.
    """
    items: list[KcpCoverage] = []
    for kcp in dict.fromkeys(declared):
        assigned = tuple(sorted(cam for cam, kcps in assignments.items() if kcp in set(kcps)))
        covering: list[str] = []
        reasons: set[CoverageReason] = set()
        for camera_id in assigned:
            view = views.get(camera_id)
            if view is None or not view.online:
                reasons.add(CoverageReason.OFFLINE)
            elif view.failing:
                reasons.add(CoverageReason.FAILING)
            else:
                visible = view.roi_visible.get(kcp)
                if visible is not None and visible < min_visible:
                    reasons.add(CoverageReason.OUT_OF_VIEW)
                else:
                    covering.append(camera_id)
        reason = None
        if not assigned:
            reason = CoverageReason.NO_CAMERA
        elif not covering:
            # The most telling reason: a camera that is up but looking elsewhere says more
            # than one that is offline.
            reason = next(
                r
                for r in (
                    CoverageReason.OUT_OF_VIEW,
                    CoverageReason.FAILING,
                    CoverageReason.OFFLINE,
                )
                if r in reasons
            )
        items.append(KcpCoverage(kcp, bool(covering), tuple(covering), assigned, reason))
    return StoreCoverage(tuple(items), checked_at)
