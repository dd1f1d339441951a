"""pytest fixtures for a real mosquitto broker (see testkit/mosquitto.py).

- ``mosquitto``: one anonymous broker for the whole session; never stop it in a test.
- ``broker_factory``: ``broker_factory(options=None, start=True) -> Mosquitto``, per test,
  stopped at teardown (its log is printed, which pytest shows for a failed test); use it for
  outages (``.stop()`` / ``.start()`` on the same port), password + ACL brokers and TLS
  brokers.
- ``test_ca``: a throw-away CA (``CertAuthority``) in the test's tmp dir.
- ``subscriber_factory``: ``subscriber_factory(broker, topics=("#",), **auth) -> Subscriber``,
  started and subscribed, stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.mosquitto import BrokerOptions, CertAuthority, Mosquitto, Subscriber


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    brokers: list[Mosquitto] = []

    def make(options: BrokerOptions | None = None, start: bool = True) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"broker{len(brokers)}", options)
        brokers.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.stop()
        # Shown by pytest only when the test failed: who connected, when, and why they left.
        print(f"--- mosquitto log {broker.log_path} ---\n{broker.log_tail()}")


@pytest.fixture
def test_ca(tmp_path: Path) -> CertAuthority:
    return CertAuthority.create(tmp_path / "ca")


@pytest.fixture
def subscriber_factory() -> Iterator[Callable[..., Subscriber]]:
    subscribers: list[Subscriber] = []

    def make(broker: Mosquitto, topics: tuple[str, ...] = ("#",), **auth: Any) -> Subscriber:
        subscriber = Subscriber(broker, topics, **auth)
        subscribers.append(subscriber)
        return subscriber.start()

    yield make
    for subscriber in subscribers:
        subscriber.stop()
