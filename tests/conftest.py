"""Test session setup. Every ``tests/kit/*_fixtures.py`` is loaded as a pytest plugin, so
the real parts (mosquitto, nginx-rtmp, fake cameras) are fixtures any test can ask for."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(
    f"tests.kit.{path.stem}" for path in (Path(__file__).parent / "kit").glob("*_fixtures.py")
)
