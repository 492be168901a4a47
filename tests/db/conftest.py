"""Databases for the store tests: a SQLite file, and PostgreSQL in a throwaway schema.

PostgreSQL comes from ``INTENTLY_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://root@127.0.0.1:5432/test``). Each test gets a fresh schema through
``search_path``, dropped afterwards; when the server is unreachable the PostgreSQL cases are
skipped with the reason (``pytest -rs`` shows it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from intently.db import Database

DEFAULT_POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str:
    url = make_url(os.environ.get("INTENTLY_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can (checked once per session)."""
    url = postgres_url()
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        masked = make_url(url).render_as_string(hide_password=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL unreachable at {masked} ({first}); set INTENTLY_TEST_POSTGRES_URL"
    return None


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'intently.db'}"
        return
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(postgres_url())
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(postgres_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


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
