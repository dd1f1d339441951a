"""The soak's short form, in every test run (benchmarks/soak.py runs the long one for the
README: a warm-up cycle, then 30 minutes of faults, judging RSS growth to 5 %).

About four minutes of wall time: the store starts, every fault runs at least once over
three minutes (camera freeze, DHCP move, broker restart, ingest loss, good and bad
reload, wedged ONVIF call), and the agent must end it with nothing lost: no crash, no
worker given up, no process left behind, every event it raised at the broker, and no
gross memory growth. It is collected first (tests/conftest.py), so one worker runs it
while the other works through the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.soak import run_soak

pytestmark = [pytest.mark.soak, pytest.mark.slow, pytest.mark.timeout(600)]


def test_three_minutes_of_faults_leave_no_trace(tmp_path: Path) -> None:
    report = run_soak(tmp_path, minutes=3, cameras=4)
    print("\n".join(report.lines() + report.faults))
    assert len(report.faults) >= 6  # every fault at least once
    assert report.problems == []
    assert report.emitted > 0 and report.received == report.emitted
    kinds = report.event_types
    # What ops saw of the faults: the frozen camera's stream and the ingest loss went
    # down and came back, the bad config was rejected and the good one applied.
    assert kinds.get("stream_down", 0) >= 2 and kinds.get("stream_up", 0) >= 2
    assert kinds.get("config_rejected", 0) >= 1 and kinds.get("config_applied", 0) >= 1
