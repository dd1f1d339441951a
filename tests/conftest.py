"""Test session setup. Every ``testkit/*_fixtures.py`` is loaded as a pytest plugin, so
the real parts (mosquitto, nginx-rtmp, fake cameras) are fixtures any test can ask for.
``testkit`` is shared with ``benchmarks/``; neither imports the other's modules."""

from __future__ import annotations

from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[1] / "testkit"

pytest_plugins = sorted(f"testkit.{path.stem}" for path in KIT.glob("*_fixtures.py"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-soak",
        action="store_true",
        help="also run the tests marked soak (minutes long; not in the default run)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-soak"):
        return
    skip = pytest.mark.skip(reason="a soak: minutes long, run with --run-soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
