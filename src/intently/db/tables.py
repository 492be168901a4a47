"""Declarative models of the tables; the schema itself is created by the migrations.

Timestamps are timezone-aware UTC in Python on every backend (SQLite stores them naive UTC).
Keep these models and ``migrations/versions/`` in step: ``tests/db/test_migrations.py``
fails when they drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

ACTIVE_RUN_STATUSES = ("queued", "running")
# The partial unique index that lets at most one queued-or-running run exist per task.
ACTIVE_RUN_WHERE = "status IN ('queued', 'running')"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always hands back aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    """An API key of the HTTP service; only the sha256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TrainingRun(Base):
    """One training job started through the service, from queued to succeeded or failed."""

    __tablename__ = "training_runs"
    __table_args__ = (
        Index(
            "uq_training_runs_active_task",
            "task",
            unique=True,
            sqlite_where=text(ACTIVE_RUN_WHERE),
            postgresql_where=text(ACTIVE_RUN_WHERE),
        ),
        Index("ix_training_runs_task_created_at", "task", "created_at"),
        Index("ix_training_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    passed: Mapped[bool | None] = mapped_column(Boolean(), nullable=True)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text(), nullable=True)
    log: Mapped[str] = mapped_column(Text(), default="", server_default="")
    owner: Mapped[str] = mapped_column(String(255), default="", server_default="")
