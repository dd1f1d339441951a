"""A district's selected-store list (CSV, as Excel saves it), read and checked row by row."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.districts import District

STORE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

_COLUMNS = {
    "store_id": ("store_id", "门店编号", "门店id", "id"),
    "name": ("name", "单位名称", "门店名称"),
    "address": ("address", "地址"),
    "licence_number": ("licence_number", "license_number", "许可证号"),
    "district": ("district", "区", "行政区", "所属区"),
    "expected_completion": ("expected_completion", "预计完成时间"),
}
_MAX_IMPORT_BYTES = 16 * 1024 * 1024


def read_selected_csv(path: Path, districts: tuple[District, ...]) -> list[Any]:
    """The rows of a selected-store list, or ConfigError-like UsageError listing every bad
    row as FILE:LINE: column: message."""
    from agent.fleet.contract import UsageError
    from agent.fleet.db import SelectedStore

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror}") from None
    if len(raw) > _MAX_IMPORT_BYTES:
        raise UsageError(f"{path}: larger than {_MAX_IMPORT_BYTES // 1048576} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # what Excel saves as "CSV" on a Chinese Windows
        except UnicodeDecodeError:
            raise UsageError(f"{path}: neither UTF-8 nor GB18030 text") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise UsageError(f"{path}: the file is empty") from None
    index: dict[str, int] = {}
    for position, heading in enumerate(header):
        key = heading.strip().lower()
        for field, names in _COLUMNS.items():
            if key in names:
                index[field] = position
    missing = [f for f in _COLUMNS if f not in index and f != "expected_completion"]
    if missing:
        raise UsageError(
            f"{path}:1: missing column(s) {', '.join(missing)} (found: {', '.join(header)})"
        )
    by_name = {d.slug: d.slug for d in districts}
    for d in districts:
        by_name[d.name_zh] = d.slug
        by_name[d.name_zh + "区"] = d.slug
        by_name[d.name_en.lower()] = d.slug
    problems: list[str] = []
    rows: list[SelectedStore] = []
    seen: dict[str, int] = {}
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue

        def cell(field: str, values: list[str] = values) -> str:
            position = index.get(field)
            return (
                values[position].strip() if position is not None and position < len(values) else ""
            )

        bad = []
        store_id = cell("store_id")
        if not STORE_ID.match(store_id):
            bad.append(f"store_id: {store_id!r} is not a lower-case slug (e.g. sh-xh-0001)")
        elif store_id in seen:
            bad.append(f"store_id: {store_id} already on line {seen[store_id]}")
        seen.setdefault(store_id, line)
        name, address, licence = cell("name"), cell("address"), cell("licence_number")
        for field, value, limit in (
            ("name", name, 200),
            ("address", address, 300),
            ("licence_number", licence, 64),
        ):
            if not value:
                bad.append(f"{field}: must not be empty")
            elif len(value) > limit:
                bad.append(f"{field}: longer than {limit} characters")
        district_text = cell("district")
        district = by_name.get(district_text) or by_name.get(district_text.lower())
        if district is None:
            bad.append(f"district: unknown district {district_text!r}")
        expected = cell("expected_completion").replace("/", "-").replace(".", "-") or None
        if expected is not None:
            match = re.fullmatch(r"(\d{4})-(\d{1,2})", expected)
            if match and 1 <= int(match.group(2)) <= 12:
                expected = f"{match.group(1)}-{int(match.group(2)):02d}"
            else:
                bad.append(f"expected_completion: {expected!r} is not YYYY-MM")
        problems += [f"{path}:{line}: {b}" for b in bad]
        if not bad and district is not None:
            rows.append(SelectedStore(store_id, district, name, address, licence, expected))
    if problems:
        refusal = UsageError(problems[0])
        refusal.message = "\n".join(problems)
        raise refusal
    if not rows:
        raise UsageError(f"{path}: no stores in the file")
    return rows
