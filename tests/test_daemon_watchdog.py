"""The watchdog is honest: pings at half of WatchdogSec while every worker checks in; a
wedged worker (alive, not crashed) stops them, and systemd's restart follows.

The daemon runs under the fake service manager (testkit/fake_systemd.py) from the real
unit file, with only ExecStart (the daemon plus a worker that wedges on request, see
testkit/wedge_agent.py), WatchdogSec and RestartSec changed: the fake passes
WATCHDOG_USEC, sends SIGABRT when the pings stop and restarts as Restart= says.
"""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.sdnotify import Watchdog, systemd_watchdog
from testkit import fake_systemd
from testkit.configs import VALID
from testkit.nginx_rtmp import wait_for

REPO = Path(__file__).resolve().parents[1]
UNIT = "kitchen-agent.service"
WATCHDOG_S = 2


def test_watchdog_settings_from_the_environment() -> None:
    assert systemd_watchdog({}) is None
    assert systemd_watchdog({"WATCHDOG_USEC": "90000000"}) == Watchdog(90.0)
    assert systemd_watchdog({"WATCHDOG_USEC": "90000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert systemd_watchdog({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "7"}, pid=7) == (
        Watchdog(2.0)
    )
    assert systemd_watchdog({"WATCHDOG_USEC": "junk"}) is None
    watchdog = Watchdog(90.0)
    assert (watchdog.ping_every_s, watchdog.worker_deadline_s) == (45.0, 60.0)
    assert Watchdog(2.0).worker_deadline_s == 2.0


class Unit:
    def __init__(self, base: Path) -> None:
        self.root = base / "root"
        self.state = base / "systemd"
        self.root.mkdir()
        self.systemctl = fake_systemd.write_systemctl(base / "bin", self.root, self.state)

    def ctl(self, *args: str) -> int:
        return subprocess.run([str(self.systemctl), *args], timeout=150, check=False).returncode

    def show(self) -> dict[str, Any]:
        return fake_systemd.unit_state(self.state, UNIT)

    def journal(self) -> str:
        path = self.state / f"{UNIT}.journal"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def unit(tmp_path: Path) -> Iterator[Unit]:
    box = Unit(tmp_path)
    config = tmp_path / "agent.yaml"
    config.write_text(
        VALID.replace("mqtts://127.0.0.1:8883", "mqtts://127.0.0.1:9")
        + f"paths:\n  state_dir: {tmp_path / 'state'}\n  credentials_dir: {tmp_path}\n"
        + "cameras:\n  discovery:\n    multicast: false\n    timeout_s: 0.5\n",
        encoding="utf-8",
    )
    text = (REPO / "systemd" / UNIT).read_text(encoding="utf-8")
    command = shlex.join([sys.executable, "-m", "testkit.wedge_agent", "--config", str(config)])
    text, replaced = re.subn(r"(?m)^ExecStart=.*$", f"ExecStart={command}", text)
    assert replaced == 1
    text = re.sub(r"(?m)^WatchdogSec=.*$", f"WatchdogSec={WATCHDOG_S}", text)
    text = re.sub(r"(?m)^RestartSec=.*$", "RestartSec=0.5", text)
    units = box.root / "etc/systemd/system"
    units.mkdir(parents=True)
    (units / UNIT).write_text(text, encoding="utf-8")
    try:
        yield box
    finally:
        fake_systemd.stop_all(box.state)
        print(box.journal()[-4000:])  # shown by pytest when the test failed


def test_a_wedged_worker_stops_the_pings_and_systemd_restarts_the_agent(
    unit: Unit, tmp_path: Path
) -> None:
    assert unit.ctl("start", UNIT) == 0, unit.journal()
    first = unit.show()
    assert first["ActiveState"] == "active"

    # Healthy: a ping every WatchdogSec / 2, no faster and no slower.
    wait_for(lambda: unit.show().get("WatchdogPings", 0) >= 4, 15, what="four pings")
    times = unit.show()["WatchdogPingTimes"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps and all(0.8 <= gap <= 1.3 for gap in gaps), gaps
    assert "workers:" not in unit.show()["StatusText"]

    # One worker wedges: it stays alive but never checks in again.
    (tmp_path / "state" / "wedge").touch()
    wedged_at = time.time()
    wait_for(
        lambda: "workers: wedge wedged" in unit.show().get("StatusText", ""),
        10,
        what="STATUS= naming the wedged worker",
    )
    # The pings stop (within the worker deadline plus one ping period), and systemd's
    # watchdog fires: SIGABRT, a failure, and Restart=on-failure starts it again.
    wait_for(lambda: unit.show()["NRestarts"] == 1, 20, what="a restart by the watchdog")
    before_restart = unit.show()["WatchdogPingTimes"]
    assert max(before_restart) < wedged_at + WATCHDOG_S + WATCHDOG_S / 2 + 1.0
    assert "Watchdog timeout" in unit.journal()
    assert '"event": "watchdog_withheld"' in unit.journal()
    wait_for(lambda: unit.show()["ActiveState"] == "active", 20, what="active again")
    again = unit.show()
    assert again["MainPID"] != first["MainPID"]
    # The new agent is healthy: its pings flow again.
    pings = again["WatchdogPings"]
    wait_for(lambda: unit.show()["WatchdogPings"] >= pings + 2, 10, what="pings again")
