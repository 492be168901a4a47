"""Declarative models of the tables; the schema itself is created by the migrations.

Timestamps are timezone-aware UTC in Python on every backend (SQLite stores them naive UTC).
Keep these models and ``migrations/versions/`` in step: ``tests/db/test_migrations.py``
fails when they drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
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


# -- the learning loop ----------------------------------------------------------------------

REVIEW_STATUSES = ("pending", "approved", "corrected", "skipped", "used_in_training")
# The partial unique index that lets at most one running A/B test exist per task.
RUNNING_AB_WHERE = "status = 'running'"


class Interaction(Base):
    """One classify answer of the service, recorded for review and retraining.

    ``id`` is generated when the request is answered (it is the response's
    ``interaction_id``), so replaying a spilled batch can never record an answer twice.
    """

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_task_review_confidence", "task", "review_status", "confidence"),
        Index("ix_interactions_task_created_at", "task", "created_at"),
        Index("ix_interactions_model_version", "model_version"),
        Index("ix_interactions_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text())
    label: Mapped[str] = mapped_column(String(200))
    confidence: Mapped[float] = mapped_column(Float())
    ranking: Mapped[list[Any]] = mapped_column(JSONType)
    model_version: Mapped[str] = mapped_column(String(200))
    runtime: Mapped[str] = mapped_column(String(32), default="", server_default="")
    fallback: Mapped[bool] = mapped_column(Boolean(), default=False)
    conversation_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float(), default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    review_status: Mapped[str] = mapped_column(
        String(24), default="pending", server_default="pending"
    )
    reviewed_label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    arm: Mapped[str | None] = mapped_column(String(16), nullable=True)
    ab_test_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    shadow: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class Correction(Base):
    """A reviewer's label for an interaction (the audit trail; the row keeps the latest)."""

    __tablename__ = "corrections"
    __table_args__ = (
        Index("ix_corrections_interaction_id", "interaction_id"),
        Index("ix_corrections_task_created_at", "task", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=True)
    interaction_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("interactions.id", ondelete="CASCADE")
    )
    task: Mapped[str] = mapped_column(String(200))
    old_label: Mapped[str] = mapped_column(String(200))
    new_label: Mapped[str] = mapped_column(String(200))
    is_new_label: Mapped[bool] = mapped_column(Boolean(), default=False)
    reviewer: Mapped[str] = mapped_column(String(255), default="", server_default="")
    note: Mapped[str] = mapped_column(Text(), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AbTest(Base):
    """A champion/challenger comparison of one task (split traffic or shadow mode)."""

    __tablename__ = "ab_tests"
    __table_args__ = (
        Index(
            "uq_ab_tests_running_task",
            "task",
            unique=True,
            sqlite_where=text(RUNNING_AB_WHERE),
            postgresql_where=text(RUNNING_AB_WHERE),
        ),
        Index("ix_ab_tests_task_created_at", "task", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task: Mapped[str] = mapped_column(String(200))
    champion_version: Mapped[str] = mapped_column(String(200))
    challenger_version: Mapped[str] = mapped_column(String(200))
    share: Mapped[float] = mapped_column(Float())
    mode: Mapped[str] = mapped_column(String(16))
    sticky_by: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class Snapshot(Base):
    """Monitoring metrics of one task over one hour or day."""

    __tablename__ = "snapshots"
    __table_args__ = (
        UniqueConstraint("task", "period", "period_start", name="uq_snapshots_task_period"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
