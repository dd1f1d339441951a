"""Pictures for people on site: snapshots with the KCP regions drawn, ASCII thumbnails.

An installer on plain SSH cannot open an image on the box; the thumbnail in the terminal
says roughly what the camera sees and where each region is, the JPEG beside the config
says it exactly (``scp`` it, or open the technician's HTML report).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from agent.persist import atomic_write_bytes

Image = npt.NDArray[np.uint8]
Polygon = Sequence[tuple[float, float]]

SNAPSHOT_DIR = "snapshots"
# Colours per KCP (BGR), so a region keeps its colour from picture to picture.
_COLOURS = {
    "cooking": (40, 60, 230),
    "cold_room": (230, 160, 40),
    "prep": (60, 200, 60),
    "dishwashing": (200, 80, 200),
    "packing": (40, 200, 230),
    "storage": (160, 160, 160),
}
_RAMP = " .:-=+*#%@"


def snapshot_dir(config_path: Path) -> Path:
    """Where enrolment keeps each camera's picture: beside the config."""
    return config_path.parent / SNAPSHOT_DIR


def file_name(camera_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in camera_id)


def decode(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a picture")
    return np.asarray(image, np.uint8)


def encode_jpeg(image: Image, quality: int = 85) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the picture could not be encoded")
    return bytes(encoded)


def fit_width(image: Image, width: int) -> Image:
    height, current = image.shape[:2]
    if current <= width:
        return image
    size = (width, max(1, round(height * width / current)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def draw(
    image: Image,
    rois: Mapping[str, Polygon | None],
    notes: Sequence[str] = (),
    bad: Sequence[str] = (),
    width: int = 960,
) -> Image:
    """``image`` at most ``width`` wide with each KCP's region outlined and labelled, and
    ``notes`` (quality issues) written across the top; ``bad`` KCPs are drawn dashed red."""
    canvas = fit_width(image, width).copy()
    height, wide = canvas.shape[:2]
    # Text and lines in proportion to the picture: it is read shrunk on a phone.
    scale = max(0.5, wide / 420)
    thickness = max(2, round(scale * 2))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for kcp, polygon in rois.items():
        if not polygon:
            continue
        colour = (0, 0, 255) if kcp in bad else _COLOURS.get(kcp, (255, 255, 255))
        points = np.array([[x * wide, y * height] for x, y in polygon], np.int32)
        cv2.polylines(canvas, [points], True, colour, thickness, cv2.LINE_AA)
        anchor = (int(points[:, 0].min()) + 4, int(points[:, 1].min()) + round(24 * scale))
        cv2.putText(canvas, kcp, anchor, font, 0.7 * scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(canvas, kcp, anchor, font, 0.7 * scale, colour, thickness, cv2.LINE_AA)
    line = round(30 * scale)
    for row, note in enumerate(notes):
        (text_w, text_h), _ = cv2.getTextSize(note, font, 0.7 * scale, thickness)
        y = line * (row + 1)
        cv2.rectangle(canvas, (0, y - text_h - 8), (text_w + 16, y + 8), (0, 0, 0), -1)
        cv2.putText(canvas, note, (8, y), font, 0.7 * scale, (0, 0, 255), thickness, cv2.LINE_AA)
    return canvas


def save_picture(path: Path, image: Image, owner_of: Path | None = None) -> Path:
    """Write ``image`` as a JPEG atomically (0640), owned like ``owner_of`` when root."""
    atomic_write_bytes(path, encode_jpeg(image), mode=0o640)
    if owner_of is not None:
        give_to_owner_of(path, owner_of)
    return path


def give_to_owner_of(path: Path, model: Path) -> None:
    """As root, hand ``path`` to the owner of ``model`` (the config's group, the service
    user's state directory): the daemon must read, and may replace, what root wrote."""
    if os.geteuid() != 0:
        return
    try:
        info = model.stat()
        os.chown(path, info.st_uid, info.st_gid)
    except OSError:
        return


def ascii_thumbnail(
    image: Image, columns: int = 48, rois: Mapping[str, Polygon | None] | None = None
) -> str:
    """The picture in characters (brighter = denser, for a terminal's dark background), one
    character twice as high as wide; the
    outline of each KCP region in its code's first letter."""
    height, width = image.shape[:2]
    rows = max(4, round(columns * height / width / 2))
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (columns, rows), interpolation=cv2.INTER_AREA)
    levels = (small.astype(np.float32) / 256.0 * len(_RAMP)).astype(int)
    cells = [[_RAMP[level] for level in row] for row in levels]
    for kcp, polygon in (rois or {}).items():
        if not polygon:
            continue
        mask = np.zeros((rows * 4, columns * 4), np.uint8)
        points = np.array([[x * columns * 4, y * rows * 4] for x, y in polygon], np.int32)
        cv2.polylines(mask, [points], True, 255, 2)
        outline = cv2.resize(mask, (columns, rows), interpolation=cv2.INTER_AREA) > 40
        for y, x in zip(*np.nonzero(outline), strict=True):
            cells[y][x] = kcp[0].upper()
    border = "+" + "-" * columns + "+"
    return "\n".join([border, *("|" + "".join(row) + "|" for row in cells), border])
