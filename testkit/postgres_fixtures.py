"""PostgreSQL as pytest fixtures (see ``testkit/postgres.py``).

- ``postgres``: one throw-away cluster for the session.
- ``postgres_url``: a fresh, empty database in it for one test (its URL).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.postgres import Postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    cluster = Postgres().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres: Postgres) -> str:
    return postgres.create_database()
