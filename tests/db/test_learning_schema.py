"""The learning-loop tables of revision 0002: upgrade from the 0001 schema with data in it,
and the constraints the stores rely on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from intently.db import ApiKeyStore, Database, Role
from intently.db.tables import AbTest, Interaction, Snapshot

LEARNING_TABLES = {"interactions", "corrections", "ab_tests", "snapshots"}


def _upgrade_to(db: Database, revision: str) -> None:
    with db.engine.begin() as connection:
        command.upgrade(db._alembic_config(connection), revision)


def test_upgrade_from_the_0001_schema_keeps_its_rows(database_url):
    db = Database(database_url)
    try:
        _upgrade_to(db, "0001")
        assert db.revision() == "0001"
        record, plaintext = ApiKeyStore(db).create(Role.ADMIN, name="before")
        db.migrate()
        assert db.revision() == "0002"
        assert ApiKeyStore(db).verify(plaintext) == Role.ADMIN
        with db.engine.connect() as connection:
            inspector = inspect(connection)
            assert set(inspector.get_table_names()) >= LEARNING_TABLES
            indexes = {index["name"] for index in inspector.get_indexes("interactions")}
            assert {
                "ix_interactions_task_review_confidence",
                "ix_interactions_task_created_at",
                "ix_interactions_model_version",
                "ix_interactions_created_at",
            } <= indexes
        with db.engine.begin() as connection:  # and back down again
            command.downgrade(db._alembic_config(connection), "0001")
        with db.engine.connect() as connection:
            assert not LEARNING_TABLES & set(inspect(connection).get_table_names())
        assert ApiKeyStore(db).get(record.id).name == "before"
    finally:
        db.dispose()


def _ab_test(test_id: str, status: str) -> AbTest:
    return AbTest(
        id=test_id,
        task="intent",
        champion_version="v1",
        challenger_version="v2",
        share=0.1,
        mode="split",
        sticky_by="user",
        status=status,
    )


def test_one_running_ab_test_per_task(database):
    with database.session() as session:
        session.add_all([_ab_test("a", "stopped"), _ab_test("b", "stopped")])
        session.add(_ab_test("c", "running"))
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(_ab_test("d", "running"))


def test_one_snapshot_per_task_period_and_start(database):
    start = datetime(2026, 12, 1, 10, tzinfo=UTC)
    with database.session() as session:
        session.add(Snapshot(task="intent", period="hour", period_start=start, metrics={}))
        session.add(Snapshot(task="intent", period="day", period_start=start, metrics={}))
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(Snapshot(task="intent", period="hour", period_start=start, metrics={"n": 1}))


def test_review_status_defaults_to_pending(database):
    with database.session() as session:
        session.add(
            Interaction(
                id="i1",
                task="intent",
                text="hello",
                label="greet",
                confidence=0.9,
                ranking=[["greet", 0.9]],
                model_version="v1",
                fallback=False,
                latency_ms=0.1,
            )
        )
    with database.connection() as connection:
        status = connection.execute(text("SELECT review_status FROM interactions")).scalar()
    assert status == "pending"
