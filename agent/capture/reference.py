"""The reference store: per-camera reference frames (the view enrolled at installation),
kept in the state dir.

Layout: ``<state_dir>/quality/<camera>/reference.png`` (the colour frame at analysis
size, lossless so metrics recomputed from it are exactly the enrolled ones) and
``reference.json`` (when, from what size, and the metrics for people to read). Both are
written atomically; the JSON is written last, so a reference counts only once complete.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import structlog

from agent.capture.decode import Image, resize_to_width
from agent.capture.quality import Reference, make_reference, prepare
from agent.persist import atomic_write_bytes, atomic_write_json, read_json

log = structlog.get_logger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def camera_dir_name(camera_id: str) -> str:
    """A file-system-safe folder name that stays unique per id (ids may hold ':' or '.')."""
    digest = hashlib.sha256(camera_id.encode()).hexdigest()[:8]
    return f"{_UNSAFE.sub('_', camera_id)[:48]}-{digest}"


@dataclass(frozen=True)
class StoredReference:
    reference: Reference
    captured_at: float
    source_size: tuple[int, int]
    image: Image  # colour, at analysis width


class ReferenceStore:
    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "quality"

    def _dir(self, camera_id: str) -> Path:
        return self.root / camera_dir_name(camera_id)

    def save(
        self,
        camera_id: str,
        image: Image,
        analysis_width: int,
        captured_at: float | None = None,
        source_size: tuple[int, int] | None = None,
    ) -> StoredReference:
        """Make ``image`` (BGR, any size) the camera's reference."""
        small = resize_to_width(image, analysis_width)
        ok, encoded = cv2.imencode(".png", small)
        if not ok:
            raise ValueError("reference frame could not be encoded")
        folder = self._dir(camera_id)
        when = time.time() if captured_at is None else captured_at
        size = source_size or (int(image.shape[1]), int(image.shape[0]))
        frame = prepare(small, analysis_width)
        reference = make_reference(frame)
        atomic_write_bytes(folder / "reference.png", encoded.tobytes())
        atomic_write_json(
            folder / "reference.json",
            {
                "camera_id": camera_id,
                "captured_at": when,
                "source_size": list(size),
                "analysis_width": analysis_width,
                "metrics": {
                    k: None if v is None else round(v, 4)
                    for k, v in reference.metrics.as_dict().items()
                },
                "features": len(reference.view),
            },
        )
        log.info("quality_reference_saved", camera_id=camera_id, features=len(reference.view))
        return StoredReference(reference, when, size, small)

    def load(self, camera_id: str, analysis_width: int) -> StoredReference | None:
        """The camera's reference, or None when there is none (or it is unreadable)."""
        folder = self._dir(camera_id)
        meta: Any = read_json(folder / "reference.json")
        if not isinstance(meta, dict):
            return None
        try:
            data = (folder / "reference.png").read_bytes()
        except OSError:
            return None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("quality_reference_unreadable", camera_id=camera_id)
            return None
        small = resize_to_width(np.asarray(image, np.uint8), analysis_width)
        reference = make_reference(prepare(small, analysis_width))
        size = meta.get("source_size") or [small.shape[1], small.shape[0]]
        return StoredReference(
            reference, float(meta.get("captured_at", 0.0)), (int(size[0]), int(size[1])), small
        )

    def stamp(self, camera_id: str) -> int | None:
        """When the camera's reference was last written (ns), None when it has none: how
        the daemon notices a reference reset or replaced from outside (CLI, command)."""
        try:
            return (self._dir(camera_id) / "reference.json").stat().st_mtime_ns
        except OSError:
            return None

    def delete(self, camera_id: str) -> bool:
        """Forget the camera's reference; True when there was one. The JSON goes first,
        so a reader never takes a half-deleted folder for a reference."""
        folder = self._dir(camera_id)
        try:
            (folder / "reference.json").unlink()
        except FileNotFoundError:
            existed = False
        else:
            existed = True
        shutil.rmtree(folder, ignore_errors=True)
        return existed

    def entries(self) -> list[dict[str, Any]]:
        """What is stored for every camera with a reference: its reference.json fields
        (without the metrics) and the path of its picture, oldest camera folder first."""
        found = []
        folders = sorted(self.root.iterdir()) if self.root.is_dir() else []
        for folder in folders:
            meta: Any = read_json(folder / "reference.json")
            if not isinstance(meta, dict) or not isinstance(meta.get("camera_id"), str):
                continue
            entry = {k: v for k, v in meta.items() if k != "metrics"}
            entry["image"] = str(folder / "reference.png")
            found.append(entry)
        return found
