"""Shanghai's districts and their demo-store targets (annex 1 of the 2022 programme).

The table ships inside the package (``agent/data/districts.csv``, a copy of the programme's
annex 1) so that both the box (``config check`` of ``store.district``) and the fleet (the
annex-3 targets) read the same slugs and numbers. Pure: no dependency beyond the standard
library.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_COLUMNS = (
    "seq",
    "district_zh",
    "district_en",
    "slug",
    "food_court_stores",
    "other_stores",
    "total_stores",
)


class DistrictTableError(ValueError):
    """The district table is malformed (a broken package or a bad override file)."""


@dataclass(frozen=True)
class District:
    seq: int
    slug: str
    name_zh: str
    name_en: str
    food_court_stores: int
    other_stores: int
    target: int  # demo stores to build: food-court + other

    @property
    def full_name_zh(self) -> str:
        """The district's full name (浦东新区, 徐汇区), as a reporting unit writes it."""
        return f"{self.name_zh}新区" if self.slug == "pudong" else f"{self.name_zh}区"


def _parse(text: str, source: str) -> tuple[District, ...]:
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise DistrictTableError(f"{source}: expected the columns {', '.join(_COLUMNS)}")
    districts: list[District] = []
    for line, row in enumerate(reader, start=2):
        try:
            district = District(
                seq=int(row["seq"]),
                slug=row["slug"].strip(),
                name_zh=row["district_zh"].strip(),
                name_en=row["district_en"].strip(),
                food_court_stores=int(row["food_court_stores"]),
                other_stores=int(row["other_stores"]),
                target=int(row["total_stores"]),
            )
        except (TypeError, ValueError) as error:
            raise DistrictTableError(f"{source}:{line}: {error}") from None
        if district.food_court_stores + district.other_stores != district.target:
            raise DistrictTableError(f"{source}:{line}: total_stores is not the sum of its parts")
        if not district.slug or not district.name_zh:
            raise DistrictTableError(f"{source}:{line}: slug and district_zh are required")
        districts.append(district)
    slugs = [d.slug for d in districts]
    if len(set(slugs)) != len(slugs):
        raise DistrictTableError(f"{source}: a district slug appears twice")
    return tuple(sorted(districts, key=lambda d: d.seq))


@functools.cache
def _packaged() -> tuple[District, ...]:
    text = resources.files("agent").joinpath("data/districts.csv").read_text(encoding="utf-8")
    return _parse(text, "agent/data/districts.csv")


def load_districts(path: Path | None = None) -> tuple[District, ...]:
    """The district table, in the programme's order; ``path`` overrides the shipped copy."""
    if path is None:
        return _packaged()
    return _parse(path.read_text(encoding="utf-8-sig"), str(path))


def district_by_slug(slug: str, districts: tuple[District, ...] | None = None) -> District | None:
    table = districts if districts is not None else _packaged()
    return next((d for d in table if d.slug == slug), None)


def district_slugs() -> tuple[str, ...]:
    return tuple(d.slug for d in _packaged())


def _plain(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def suggest_district(text: str, districts: tuple[District, ...] | None = None) -> District | None:
    """The district someone most likely meant by ``text``: a slug with a typo (xuhiu), the
    English or Chinese name (Xu Hui, 徐汇, 徐汇区), or None when nothing is close."""
    table = districts if districts is not None else _packaged()
    plain = _plain(text)
    if not plain:
        return None
    for district in table:
        names = (district.slug, district.name_en, district.name_zh, district.full_name_zh)
        if plain in {_plain(name) for name in names}:
            return district
    by_slug = {d.slug: d for d in table}
    close = difflib.get_close_matches(plain, list(by_slug), n=1, cutoff=0.6)
    return by_slug[close[0]] if close else None


def unknown_district_message(text: str) -> str:
    """Why ``text`` is not a district, with a "did you mean" when one is close."""
    hint = suggest_district(text)
    if hint is not None:
        return f"unknown district {text!r}; did you mean {hint.slug} ({hint.full_name_zh})?"
    return f"unknown district {text!r}; the programme's districts: {', '.join(district_slugs())}"
