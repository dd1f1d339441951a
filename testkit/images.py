"""Pictures read for tests and benchmarks, typed as the agent's frames are (BGR, uint8)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


def maybe_read_bgr(path: str | Path) -> Image | None:
    """The picture at ``path``, or None when it is missing or not a picture."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image, dtype=np.uint8)


def read_bgr(path: str | Path) -> Image:
    """The picture at ``path``; a missing test picture is an error, not a None."""
    image = maybe_read_bgr(path)
    if image is None:
        raise FileNotFoundError(f"cannot read a picture at {path}")
    return image
