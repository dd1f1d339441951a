"""Test session setup. Every ``testkit/*_fixtures.py`` is loaded as a pytest plugin, so
the real parts (mosquitto, nginx-rtmp, fake cameras) are fixtures any test can ask for.
``testkit`` is shared with ``benchmarks/``; neither imports the other's modules."""

from __future__ import annotations

from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[1] / "testkit"

pytest_plugins = sorted(f"testkit.{path.stem}" for path in KIT.glob("*_fixtures.py"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The soak's short form takes minutes: collected first, it starts on one worker at
    # once while the others share the rest, instead of lengthening the run at its end.
    items.sort(key=lambda item: "soak" not in item.keywords)
