"""The learning loop: recorded interactions, corrections, A/B tests and monitoring snapshots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNNING_AB_WHERE = "status = 'running'"


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("ranking", _json(), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("runtime", sa.String(32), nullable=False, server_default=""),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("conversation_id", sa.String(200), nullable=True),
        sa.Column("user_id", sa.String(200), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_status", sa.String(24), nullable=False, server_default="pending"),
        sa.Column("reviewed_label", sa.String(200), nullable=True),
        sa.Column("reviewer", sa.String(255), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arm", sa.String(16), nullable=True),
        sa.Column("ab_test_id", sa.String(32), nullable=True),
        sa.Column("shadow", _json(), nullable=True),
    )
    # the review queue (lowest confidence of a task's pending rows), time windows of the
    # monitoring and retention, and per-version reports
    op.create_index(
        "ix_interactions_task_review_confidence",
        "interactions",
        ["task", "review_status", "confidence"],
    )
    op.create_index("ix_interactions_task_created_at", "interactions", ["task", "created_at"])
    op.create_index("ix_interactions_model_version", "interactions", ["model_version"])
    op.create_index("ix_interactions_created_at", "interactions", ["created_at"])

    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "interaction_id",
            sa.String(32),
            sa.ForeignKey("interactions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("old_label", sa.String(200), nullable=False),
        sa.Column("new_label", sa.String(200), nullable=False),
        sa.Column("is_new_label", sa.Boolean(), nullable=False),
        sa.Column("reviewer", sa.String(255), nullable=False, server_default=""),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_corrections_interaction_id", "corrections", ["interaction_id"])
    op.create_index("ix_corrections_task_created_at", "corrections", ["task", "created_at"])

    op.create_table(
        "ab_tests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("champion_version", sa.String(200), nullable=False),
        sa.Column("challenger_version", sa.String(200), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("sticky_by", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", _json(), nullable=True),
    )
    # at most one running test per task, on SQLite and PostgreSQL alike
    op.create_index(
        "uq_ab_tests_running_task",
        "ab_tests",
        ["task"],
        unique=True,
        sqlite_where=sa.text(RUNNING_AB_WHERE),
        postgresql_where=sa.text(RUNNING_AB_WHERE),
    )
    op.create_index("ix_ab_tests_task_created_at", "ab_tests", ["task", "created_at"])

    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("task", "period", "period_start", name="uq_snapshots_task_period"),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
    op.drop_table("ab_tests")
    op.drop_table("corrections")
    op.drop_table("interactions")
