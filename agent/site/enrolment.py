"""Enrolment: which camera covers which key control point, as the installer asks for it.

Pure parts: the flags (``--assign CAMERA=KCP[,KCP...]``, ``--roi CAMERA=KCP:x1,y1,...``,
``--name CAMERA=TEXT``, ``--remove CAMERA``) read into a :class:`Request`, and the request
applied to ``cameras.enrolled``. Then :func:`write_config` writes the result through the
same models and commented rendering as ``config init``, atomically, keeping the file's
mode and owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.errors import UsageError
from agent.kcp import CATALOGUE, CODES, Kcp

Polygon = list[tuple[float, float]]


def split_pair(text: str, flag: str) -> tuple[str, str]:
    """``CAMERA=VALUE`` (camera ids never contain '=')."""
    camera, sep, value = text.partition("=")
    if not sep or not camera.strip() or not value.strip():
        raise UsageError(f"{flag} {text}: expected CAMERA=VALUE")
    return camera.strip(), value.strip()


def parse_kcps(text: str, declared: Sequence[str], flag: str = "--assign") -> list[str]:
    """``cooking,prep`` (codes or their numbers in the declared list) to KCP codes."""
    found: list[str] = []
    for raw in text.replace("，", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        if item.isdigit() and 1 <= int(item) <= len(declared):
            item = declared[int(item) - 1]
        if item not in CODES:
            raise UsageError(
                f"{flag}: unknown key control point {item!r}; one of: {', '.join(CODES)}"
            )
        if item not in declared:
            raise UsageError(
                f"{flag}: {item} is not a key control point of this store "
                f"(store.kcps: {', '.join(declared)})"
            )
        if item not in found:
            found.append(item)
    if not found:
        raise UsageError(f"{flag}: name at least one key control point")
    return found


def parse_roi(text: str) -> tuple[str, Polygon]:
    """``KCP:x1,y1,x2,y2,x3,y3[,...]``: a polygon in fractions of width and height."""
    kcp, sep, numbers = text.partition(":")
    if not sep or kcp.strip() not in CODES:
        raise UsageError(
            f"--roi ...={text}: expected KCP:x1,y1,x2,y2,x3,y3 (KCP one of {', '.join(CODES)})"
        )
    try:
        values = [float(v) for v in numbers.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--roi ...={text}: the corners must be numbers") from None
    if len(values) < 6 or len(values) % 2:
        raise UsageError(f"--roi ...={text}: give at least three x,y corners")
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise UsageError(f"--roi ...={text}: corners are fractions of the picture, between 0 and 1")
    polygon = [(values[i], values[i + 1]) for i in range(0, len(values), 2)]
    if polygon_area(polygon) < 0.005:
        raise UsageError(f"--roi ...={text}: the region is (almost) empty")
    return kcp.strip(), polygon


def polygon_area(polygon: Sequence[tuple[float, float]]) -> float:
    """Shoelace area, in fractions of the picture."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


@dataclass
class Request:
    """What the installer asked for, by camera id."""

    assign: dict[str, list[str]] = field(default_factory=dict)
    rois: dict[str, dict[str, Polygon]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    accept_view: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not (self.assign or self.rois or self.names or self.remove)

    def cameras(self) -> list[str]:
        return list(
            dict.fromkeys([*self.assign, *self.rois, *self.names, *self.remove, *self.accept_view])
        )


def apply(enrolled: Sequence[Mapping[str, Any]], request: Request) -> list[dict[str, Any]]:
    """``cameras.enrolled`` (as plain data) with the request applied (pure).

    ``--assign`` gives a camera its whole list of KCPs (regions already drawn for a KCP it
    keeps are kept); ``--roi`` needs the KCP assigned to that camera; ``--remove`` wins over
    everything else for that camera.
    """
    result = [dict(entry) for entry in enrolled if entry["id"] not in request.remove]
    by_id = {entry["id"]: entry for entry in result}
    for camera_id, kcps in request.assign.items():
        if camera_id in request.remove:
            continue
        entry = by_id.get(camera_id)
        if entry is None:
            entry = by_id[camera_id] = {"id": camera_id, "kcps": []}
            result.append(entry)
        old = {item["kcp"]: item.get("roi") for item in entry.get("kcps", [])}
        entry["kcps"] = [{"kcp": kcp, "roi": old.get(kcp)} for kcp in kcps]
    for camera_id, regions in request.rois.items():
        entry = by_id.get(camera_id)
        if entry is None or camera_id in request.remove:
            raise UsageError(f"--roi {camera_id}: the camera is not enrolled; --assign it first")
        assigned = {item["kcp"]: item for item in entry["kcps"]}
        for kcp, polygon in regions.items():
            if kcp not in assigned:
                raise UsageError(
                    f"--roi {camera_id}={kcp}: {kcp} is not assigned to this camera "
                    f"(it has {', '.join(assigned) or 'none'}); --assign it first"
                )
            assigned[kcp]["roi"] = [list(point) for point in polygon]
    for camera_id in request.accept_view:
        if camera_id in by_id and camera_id not in request.remove:
            by_id[camera_id]["accept_view"] = True
    for camera_id, name in request.names.items():
        entry = by_id.get(camera_id)
        if entry is None or camera_id in request.remove:
            raise UsageError(f"--name {camera_id}: the camera is not enrolled; --assign it first")
        entry["name"] = name
    return result


def uncovered(declared: Iterable[str], enrolled: Iterable[Mapping[str, Any]]) -> list[str]:
    """Declared KCPs no enrolled camera is assigned to."""
    assigned = {item["kcp"] for entry in enrolled for item in entry.get("kcps", [])}
    return [kcp for kcp in declared if kcp not in assigned]


def kcp_label(kcp: str) -> str:
    info = CATALOGUE.get(Kcp(kcp)) if kcp in CODES else None
    return f"{kcp} {info.name_zh}" if info else kcp


def rois_of(entry: Mapping[str, Any]) -> dict[str, Polygon | None]:
    return {
        item["kcp"]: [tuple(p) for p in item["roi"]] if item.get("roi") else None
        for item in entry.get("kcps", [])
    }


def with_enrolled(config: AgentConfig, enrolled: list[dict[str, Any]]) -> AgentConfig:
    """``config`` with another ``cameras.enrolled``, validated by the same models."""
    from agent.config.loader import LineMap, validate_data

    data = config.model_dump(mode="json")
    data["cameras"]["enrolled"] = enrolled
    return validate_data(data, LineMap(None), "enrolment")


def write_config(path: Path, config: AgentConfig) -> None:
    """Write ``config`` to ``path`` as ``config init`` does (every key, commented),
    atomically, with the mode and owner the file had."""
    from agent.config.render import full_data, render_yaml
    from agent.persist import atomic_write_text

    try:
        info = path.stat()
    except FileNotFoundError:
        mode, owner = 0o640, None
    else:
        mode, owner = info.st_mode & 0o777, (info.st_uid, info.st_gid)
    try:
        atomic_write_text(path, render_yaml(full_data(config)), mode=mode, owner=owner)
    except PermissionError:
        raise UsageError(f"cannot write {path}: run enroll as root") from None
