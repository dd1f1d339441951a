"""Test session setup. Every ``testkit/*_fixtures.py`` is loaded as a pytest plugin, so
the real parts (mosquitto, nginx-rtmp, fake cameras) are fixtures any test can ask for.
``testkit`` is shared with ``benchmarks/``; neither imports the other's modules."""

from __future__ import annotations

from pathlib import Path

KIT = Path(__file__).resolve().parents[1] / "testkit"

pytest_plugins = sorted(f"testkit.{path.stem}" for path in KIT.glob("*_fixtures.py"))
