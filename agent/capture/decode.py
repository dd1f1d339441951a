"""Decode camera frames no larger than the analysis needs.

libjpeg can decode at 1/2, 1/4 or 1/8 scale by skipping most of the inverse DCT, so a
1920x1080 snapshot judged at 320 px is decoded at 480x270 and only then resized.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from agent.errors import FrameUnavailable
from agent.images import FORMATS, check_image, jpeg_size

Image = npt.NDArray[np.uint8]

# Frames are judged at a few hundred pixels: a thread per core would cost each its own
# heap and stack for no gain, and compete with the ffmpeg relays for the box's cores.
cv2.setNumThreads(1)

_REDUCED_COLOR = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def reduction_factor(source_width: int, target_width: int) -> int:
    """The largest of 1, 2, 4, 8 that still decodes at least ``target_width`` wide."""
    factor = 1
    for candidate in (2, 4, 8):
        if source_width // candidate >= target_width:
            factor = candidate
    return factor


MIN_SIDE = 32  # pixels: below this a picture has too little in it to judge


def ensure_judgeable(image: Image, source_size: tuple[int, int] | None = None) -> Image:
    """The image itself, or FrameUnavailable when it is too small to judge (a camera
    that answers with a 1x1 placeholder instead of a picture). ``source_size``: the
    (width, height) as sent, when the image was decoded at reduced scale."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        width, height = source_size or (width, height)
        raise FrameUnavailable(
            f"picture is {width}x{height}, too small to judge (at least {MIN_SIDE}x{MIN_SIDE})"
        )
    return image


def decode_for_analysis(
    data: bytes, target_width: int, formats: tuple[str, ...] = FORMATS
) -> Image:
    """Decode image bytes (JPEG at reduced scale when possible) to BGR at least
    ``target_width`` wide (or the source width if smaller). The header is checked first
    (:func:`agent.images.check_image`): a picture not in ``formats`` or over 16 Mpx is
    refused before any decoder sees it. Raises FrameUnavailable (ImageTooLarge)."""
    check_image(data, formats)
    size = jpeg_size(data)
    # Reduced, but never below the smallest picture that can be judged.
    factor = reduction_factor(size[0], target_width) if size is not None else 1
    while factor > 1 and size is not None and min(size) // factor < MIN_SIDE:
        factor //= 2
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, _REDUCED_COLOR[factor]) if buffer.size else None
    if image is None:
        raise FrameUnavailable("not a readable image")
    return ensure_judgeable(np.ascontiguousarray(image, dtype=np.uint8), size)


def decode_camera_jpeg(data: bytes, target_width: int) -> Image:
    """A camera snapshot: JPEG only (what cameras make; no other decoder is exposed to
    what a device on the LAN sends), at most 16 Mpx."""
    return decode_for_analysis(data, target_width, formats=("jpeg",))


def halve_towards(image: Image, width: int) -> Image:
    """Halve (2x2 area averaging) while the result stays at least ``width`` wide and the
    sides are even: OpenCV's 2x area path is vectorised, its other area paths are not
    (a single 4x area shrink costs about five times two halvings)."""
    height, current = image.shape[:2]
    while current >= 2 * width and current % 2 == 0 and height % 2 == 0:
        current, height = current // 2, height // 2
        image = np.asarray(
            cv2.resize(image, (current, height), interpolation=cv2.INTER_AREA), np.uint8
        )
    return image


def resize_to_width(image: Image, width: int) -> Image:
    """Shrink (area averaging) to ``width`` keeping the aspect ratio; never enlarges."""
    height, current = image.shape[:2]
    if current <= width:
        return image
    new_height = max(1, round(height * width / current))
    image = halve_towards(image, width)
    if image.shape[1] == width and image.shape[0] == new_height:
        return image
    return np.asarray(
        cv2.resize(image, (width, new_height), interpolation=cv2.INTER_AREA), dtype=np.uint8
    )


def read_image_file(path: str | Path, target_width: int) -> Image:
    """Read an image file for analysis; raises FrameUnavailable when unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise FrameUnavailable(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return decode_for_analysis(data, target_width)
    except FrameUnavailable as error:
        raise type(error)(f"{path}: {error.message}") from None
