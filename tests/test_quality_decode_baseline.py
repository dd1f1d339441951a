"""Reduced-size JPEG decoding and the per-camera reference store."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.capture.decode import (
    decode_for_analysis,
    read_image_file,
    reduction_factor,
    resize_to_width,
)
from agent.capture.reference import ReferenceStore, camera_dir_name
from agent.errors import FrameUnavailable
from agent.images import jpeg_size
from testkit.images import read_bgr

PHOTOS = Path(__file__).parent / "data" / "quality"


def jpeg(width: int, height: int) -> bytes:
    image = cv2.resize(read_bgr(PHOTOS / "coffee.jpg"), (width, height))
    return bytes(cv2.imencode(".jpg", image)[1])


@pytest.mark.parametrize(
    ("source", "target", "factor"),
    [
        (1920, 320, 4),
        (2560, 320, 8),
        (1280, 320, 4),
        (640, 320, 2),
        (639, 320, 1),
        (320, 320, 1),
        (160, 320, 1),
        (3840, 480, 8),
    ],
)
def test_reduction_factor(source: int, target: int, factor: int) -> None:
    assert reduction_factor(source, target) == factor


def test_jpeg_size_reads_the_header() -> None:
    assert jpeg_size(jpeg(1920, 1080)) == (1920, 1080)
    assert jpeg_size(b"\x89PNG\r\n") is None
    assert jpeg_size(b"\xff\xd8\xff") is None


@pytest.mark.parametrize(
    ("size", "shape"),
    [((1920, 1080), (270, 480, 3)), ((640, 360), (180, 320, 3)), ((352, 288), (288, 352, 3))],
)
def test_decode_at_reduced_size(size: tuple[int, int], shape: tuple[int, int, int]) -> None:
    assert decode_for_analysis(jpeg(*size), 320).shape == shape


def test_png_and_garbage() -> None:
    png = bytes(cv2.imencode(".png", np.zeros((90, 160, 3), np.uint8))[1])
    assert decode_for_analysis(png, 320).shape == (90, 160, 3)
    for bad in (b"", b"\xff\xd8garbage", b"hello"):
        with pytest.raises(FrameUnavailable):
            decode_for_analysis(bad, 320)


def test_read_image_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FrameUnavailable, match=r"nope\.jpg: cannot read"):
        read_image_file(tmp_path / "nope.jpg", 320)
    (tmp_path / "x.jpg").write_text("text")
    with pytest.raises(FrameUnavailable, match=r"x\.jpg: not a readable image"):
        read_image_file(tmp_path / "x.jpg", 320)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 2000, 3), (31, 640, 3)])
def test_a_placeholder_picture_is_refused_not_judged(
    tmp_path: Path, shape: tuple[int, ...]
) -> None:
    """Some cameras answer a snapshot request with a 1x1 image; it is no picture."""
    path = tmp_path / "tiny.jpg"
    cv2.imwrite(str(path), np.full(shape, 128, np.uint8))
    with pytest.raises(
        FrameUnavailable, match=rf"tiny\.jpg: picture is {shape[1]}x{shape[0]}, too small"
    ):
        read_image_file(path, 320)


def test_resize_never_enlarges() -> None:
    small = np.zeros((90, 160, 3), np.uint8)
    assert resize_to_width(small, 320) is small
    assert resize_to_width(np.zeros((1080, 1920), np.uint8), 320).shape == (180, 320)


def test_baseline_round_trip(tmp_path: Path) -> None:
    store = ReferenceStore(tmp_path)
    image = cv2.resize(read_bgr(PHOTOS / "astronaut.jpg"), (1920, 1080))
    saved = store.save("cam-1", image, 320, captured_at=1_700_000_000.0)
    loaded = store.load("cam-1", 320)
    assert loaded is not None
    assert loaded.captured_at == 1_700_000_000.0
    assert loaded.source_size == (1920, 1080)
    assert loaded.image.shape == (180, 320, 3)
    # Lossless: the reloaded reference measures exactly as enrolled.
    assert loaded.reference.metrics == saved.reference.metrics
    meta = json.loads(
        (tmp_path / "quality" / camera_dir_name("cam-1") / "reference.json").read_text()
    )
    assert meta["camera_id"] == "cam-1" and meta["features"] == len(saved.reference.view)
    assert not list((tmp_path / "quality").rglob("*.tmp"))  # atomic writes leave no litter


def test_missing_or_broken_baseline_is_none(tmp_path: Path) -> None:
    store = ReferenceStore(tmp_path)
    assert store.load("cam-x", 320) is None
    store.save("cam-x", np.full((180, 320, 3), 90, np.uint8), 320)
    folder = tmp_path / "quality" / camera_dir_name("cam-x")
    (folder / "reference.png").write_bytes(b"broken")
    assert store.load("cam-x", 320) is None
    (folder / "reference.json").write_text("{not json")
    assert store.load("cam-x", 320) is None
    store.delete("cam-x")
    assert not folder.exists()


@pytest.mark.parametrize("camera_id", ["..", "a/b", "00:11:22:33:44:55", "cam.1"])
def test_camera_folder_names_are_safe_and_distinct(camera_id: str) -> None:
    name = camera_dir_name(camera_id)
    assert "/" not in name and not name.startswith(".")
    assert camera_dir_name(camera_id) != camera_dir_name(camera_id + "x")
