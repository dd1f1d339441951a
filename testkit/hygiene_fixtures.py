"""Process-wide state is reset for every test module, so no module depends on what
another one left behind: the secret scrubber's registry and structlog's configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from agent.scrub import forget_secrets


@pytest.fixture(scope="module", autouse=True)
def fresh_process_globals() -> Iterator[None]:
    forget_secrets()
    structlog.reset_defaults()
    yield
    forget_secrets()
    structlog.reset_defaults()
