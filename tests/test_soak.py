"""The soak's 3-minute form (benchmarks/soak.py runs the long one for the README).

About five minutes of wall time: not in the default run (``--run-soak`` runs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.soak import run_soak

pytestmark = [pytest.mark.soak, pytest.mark.slow, pytest.mark.timeout(900)]


def test_three_minutes_of_faults_leave_no_trace(tmp_path: Path) -> None:
    report = run_soak(tmp_path, minutes=3, cameras=4)
    print("\n".join(report.lines() + report.faults))
    assert len(report.faults) == 6
    assert report.problems == []
    assert report.emitted > 0 and report.received == report.emitted
