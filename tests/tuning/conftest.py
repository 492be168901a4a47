"""Fixtures of the tuning tests: the tiny project as a file, and PostgreSQL from the db tests."""

from __future__ import annotations

from db.conftest import database_url  # noqa: F401  (SQLite and PostgreSQL schemas)
