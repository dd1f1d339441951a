"""A frame ready for analysis: grey at the analysis width and a colour thumbnail.

Every metric is measured on these, so the cost does not depend on the camera's resolution
and what is judged is what a viewer of a small live picture sees.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from agent.capture.decode import halve_towards, resize_to_width

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

THUMB_WIDTH = 80


@dataclass(frozen=True, eq=False)
class Frame:
    """A frame ready for analysis: grey at the analysis width and a colour thumbnail."""

    grey: Image
    thumb: Image
    source_size: tuple[int, int]  # (width, height) as received

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.grey.shape[:2]
        return (width, height)

    @functools.cached_property
    def half_grey(self) -> npt.NDArray[np.float32]:
        """The grey picture at half size in float, for view_shift and interference bars
        (made once per sample, though each sample is compared with the one before and the
        one after, and with the reference)."""
        return half_size(self.grey)


def half_size(grey: Image) -> npt.NDArray[np.float32]:
    """A grey picture at half size, in float."""
    height, width = grey.shape[:2]
    size = (max(1, width // 2), max(1, height // 2))
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.float32)


def prepare(image: Image, analysis_width: int = 320) -> Frame:
    """Grey at ``analysis_width`` and a colour thumbnail from a BGR (or grey) image."""
    if image.ndim == 2:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    elif image.shape[2] == 4:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    height, width = image.shape[:2]
    # Exact halvings first (cheap); the grey is taken before the last, uneven shrink so that
    # step works on one channel instead of three.
    halved = halve_towards(image, analysis_width)
    grey = np.asarray(cv2.cvtColor(halved, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    grey = resize_to_width(grey, analysis_width)
    thumb = resize_to_width(halved, THUMB_WIDTH)
    return Frame(grey=grey, thumb=thumb, source_size=(width, height))


def fit_to(frame: Frame, size: tuple[int, int]) -> Frame:
    """The frame resampled to a reference's analysis size (frames and references from
    different streams of one camera differ in size)."""
    if frame.size == size:
        return frame
    grey = np.asarray(cv2.resize(frame.grey, size, interpolation=cv2.INTER_AREA), np.uint8)
    return Frame(grey=grey, thumb=frame.thumb, source_size=frame.source_size)
