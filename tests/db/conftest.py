"""Databases for the store tests: a SQLite file, and PostgreSQL in a throwaway schema.

PostgreSQL comes from ``INTENTLY_TEST_POSTGRES_URL`` (see ``tests/pg_database.py``). Each
test gets a fresh schema, dropped afterwards; when the server is unreachable the PostgreSQL
cases are skipped with the reason (``pytest -rs`` shows it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from intently.db import Database
from pg_database import postgres_schema, postgres_unavailable

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'intently.db'}"
        return
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    with postgres_schema() as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated :class:`Database` on each backend."""
    db = Database(database_url)
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def open_database(database_url: str) -> Iterator[Callable[[], Database]]:
    """Opens more :class:`Database` objects on the same database (like other processes)."""
    opened: list[Database] = []

    def connect() -> Database:
        db = Database(database_url)
        opened.append(db)
        return db

    try:
        yield connect
    finally:
        for db in opened:
            db.dispose()
