"""The district table shipped in the package is the programme's annex 1, and loads alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.districts import DistrictTableError, district_by_slug, load_districts

REPO = Path(__file__).resolve().parents[1]
# CI lays shared/ beside the clone; a helper's worktree sits one level deeper.
SHARED = next(
    (
        base / "shared" / "domain" / "districts.csv"
        for base in (REPO.parent, REPO.parent.parent)
        if (base / "shared" / "domain" / "districts.csv").exists()
    ),
    REPO.parent / "shared" / "domain" / "districts.csv",
)


def test_sixteen_districts_and_the_programme_totals() -> None:
    districts = load_districts()
    assert len(districts) == 16
    assert sum(d.target for d in districts) == 1000
    assert sum(d.food_court_stores for d in districts) == 232
    assert [d.slug for d in districts][:3] == ["pudong", "putuo", "xuhui"]
    xuhui = district_by_slug("xuhui")
    assert xuhui is not None and (xuhui.name_zh, xuhui.target) == ("徐汇", 80)
    assert district_by_slug("atlantis") is None


def test_loader_has_no_dependencies_beyond_the_standard_library() -> None:
    code = (
        "import sys; import agent.districts as d; d.load_districts(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'yaml', 'cv2', 'numpy', 'sqlalchemy', 'paho')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_table_whose_totals_do_not_add_up_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "districts.csv"
    bad.write_text(
        "seq,district_zh,district_en,slug,food_court_stores,other_stores,total_stores\n"
        "1,浦东,Pudong,pudong,15,85,99\n",
        encoding="utf-8",
    )
    with pytest.raises(DistrictTableError, match=r"districts.csv:2: total_stores"):
        load_districts(bad)


@pytest.mark.skipif(not SHARED.exists(), reason="no shared/ beside this checkout")
def test_shipped_copy_equals_the_programme_table() -> None:
    assert load_districts(SHARED) == load_districts()
