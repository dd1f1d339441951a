"""The fleet side as pytest fixtures: consumers run as ``kitchen-agent fleet run``, the CLI
run as a user runs it, and simulated stores (``benchmarks/fleet_sim.py``).

- ``fleet_config_factory(broker, database_url, **sections) -> Path``: a fleet.yaml.
- ``fleet_consumer_factory(config_path) -> FleetConsumer``: a running consumer process,
  stopped (SIGTERM) at teardown; its log is printed for a failed test.
- ``fleet_cli(*args, config=None) -> FleetRun``: one CLI invocation (``.json()`` parses
  stdout, which must be exactly one JSON object).
- ``sim_fleet_factory(broker, count, **options) -> Fleet``: started simulated stores,
  stopped at teardown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit.fleet_sim import Fleet, make_stores
from testkit.mosquitto import Mosquitto

REPO = Path(__file__).resolve().parents[1]


def fleet_yaml(broker: Mosquitto, database_url: str, /, **sections: dict[str, Any]) -> str:
    data: dict[str, Any] = {
        "broker": {
            "url": broker.url,
            "client_id": f"fleet-test-{uuid.uuid4().hex[:6]}",
            "session_expiry_s": 0,
        },
        "database": {"url": database_url},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@dataclass
class FleetRun:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON object, got: {self.stdout[:500]}"
        return json.loads(lines[0])


def run_cli(*args: str, config: Path | None = None, timeout_s: float = 60) -> FleetRun:
    argv = [sys.executable, "-m", "agent", "fleet", *args]
    if config is not None:
        argv += ["--config", str(config)]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return FleetRun(done.returncode, done.stdout, done.stderr)


class FleetConsumer:
    def __init__(self, config: Path, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> FleetConsumer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent", "fleet", "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=REPO,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode


@pytest.fixture
def fleet_config_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(broker: Mosquitto, database_url: str, /, **sections: dict[str, Any]) -> Path:
        path = tmp_path / f"fleet-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(fleet_yaml(broker, database_url, **sections), encoding="utf-8")
        return path

    return make


@pytest.fixture
def fleet_consumer_factory(tmp_path: Path) -> Iterator[Callable[[Path], FleetConsumer]]:
    consumers: list[FleetConsumer] = []

    def make(config: Path) -> FleetConsumer:
        consumer = FleetConsumer(config, tmp_path / f"consumer-{len(consumers)}.log")
        consumers.append(consumer)
        return consumer.start()

    yield make
    for consumer in consumers:
        consumer.stop()
        print(f"--- fleet consumer log {consumer.log_path} ---\n{consumer.log_tail()}")


@pytest.fixture
def fleet_cli() -> Callable[..., FleetRun]:
    return run_cli


@pytest.fixture
def sim_fleet_factory() -> Iterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(
        broker: Mosquitto,
        count: int,
        *,
        interval_s: int = 2,
        password: str | None = None,
        **options: Any,
    ) -> Fleet:
        stores = make_stores(count, heartbeat_interval_s=interval_s, **options)
        fleet = Fleet(broker.host, broker.port, stores, keepalive_s=5, password=password)
        fleets.append(fleet)
        fleet.start()
        fleet.wait_connected(30)
        return fleet

    yield make
    for fleet in fleets:
        fleet.stop()
