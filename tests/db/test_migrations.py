import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

import intently.db
from intently.db import Database, DatabaseError, default_database_url
from intently.db.engine import MIGRATIONS_DIR
from intently.db.tables import Base
from intently.errors import IntentlyError


def test_migrate_creates_the_tables_and_is_idempotent(database_url):
    db = Database(database_url)
    try:
        assert db.revision() is None
        assert not db.is_current()
        db.migrate()
        db.migrate()  # a second start changes nothing
        assert db.revision() == db.head() == "0002"
        assert db.is_current()
        with db.engine.connect() as connection:
            inspector = inspect(connection)
            assert {"api_keys", "training_runs", "alembic_version"} <= set(
                inspector.get_table_names()
            )
            indexes = {index["name"]: index for index in inspector.get_indexes("training_runs")}
            assert indexes["uq_training_runs_active_task"]["unique"]
            keys_indexes = {index["name"]: index for index in inspector.get_indexes("api_keys")}
            assert keys_indexes["ix_api_keys_key_hash"]["unique"]
    finally:
        db.dispose()


def test_models_match_the_migrations(database):
    """tables.py and versions/ must not drift apart (a change needs a new revision)."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_concurrent_migrations_all_succeed(open_database):
    databases = [open_database() for _ in range(4)]
    barrier = threading.Barrier(len(databases))
    failures: list[BaseException] = []

    def migrate(db: Database) -> None:
        barrier.wait()
        try:
            db.migrate()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert all(db.is_current() for db in databases)


MIGRATE_ON_GO = """
import sys
import alembic.command, alembic.config, alembic.script
from intently.db import Database
db = Database(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
db.migrate()
print(db.revision())
"""


@pytest.mark.slow
def test_concurrent_migrations_from_several_processes(database_url):
    """Server workers all migrate at start-up: each must succeed, whoever wins the race."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_ON_GO, database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:  # every interpreter has imported intently...
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
    for child in children:  # ...then all start at once
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        stdout, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr
        assert stdout.strip() == "0002"


def test_a_migration_that_loses_a_race_rechecks_and_succeeds(database_url, monkeypatch):
    db, winner = Database(database_url), Database(database_url)
    real_upgrade = Database._upgrade
    calls: list[Database] = []

    def racing_upgrade(self: Database) -> None:
        calls.append(self)
        if self is db and len(calls) == 1:
            real_upgrade(winner)  # another process got there first...
            raise OperationalError("CREATE TABLE api_keys", {}, Exception("already exists"))
        real_upgrade(self)

    monkeypatch.setattr(Database, "_upgrade", racing_upgrade)
    try:
        db.migrate()  # ...so this one re-checks, finds the schema current and returns
        assert db.is_current()
        assert calls == [db]
    finally:
        db.dispose()
        winner.dispose()


def test_session_commits_on_success_and_rolls_back_on_error(database):
    with database.session() as session:
        session.execute(
            text(
                "INSERT INTO api_keys (id, name, role, key_hash, created_at) "
                "VALUES ('key_a', '', 'predict', 'h1', CURRENT_TIMESTAMP)"
            )
        )
    with pytest.raises(RuntimeError), database.session() as session:
        session.execute(
            text(
                "INSERT INTO api_keys (id, name, role, key_hash, created_at) "
                "VALUES ('key_b', '', 'predict', 'h2', CURRENT_TIMESTAMP)"
            )
        )
        raise RuntimeError("boom")
    with database.session() as session:
        ids = session.execute(text("SELECT id FROM api_keys")).scalars().all()
    assert ids == ["key_a"]


def test_default_database_url_is_next_to_the_project(tmp_path):
    url = default_database_url(tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve()}/intently.db"
    db = Database(url)
    try:
        db.migrate()
        assert (tmp_path / "intently.db").is_file()
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        db.dispose()


def test_in_memory_sqlite_keeps_its_data_across_sessions():
    db = Database("sqlite://")
    db.migrate()
    assert db.is_current()
    db.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://intently:s3cret-pw@127.0.0.1:1/intently",
        "postgresql+psycopg://intently:s3cret-pw@127.0.0.1:1/intently",
    ],
)
def test_unreachable_database_names_the_masked_url(url):
    db = Database(url)
    assert db.url.drivername == "postgresql+psycopg"  # postgresql:// uses psycopg 3
    with pytest.raises(DatabaseError) as info:
        db.migrate()
    error = info.value
    assert isinstance(error, IntentlyError) and error.code == "E710"
    message = str(error)
    assert "s3cret-pw" not in message and "s3cret-pw" not in repr(db)
    assert "intently:***@127.0.0.1:1/intently" in message
    assert "Fix:" in message and "INTENTLY_DATABASE_URL" in message
    db.dispose()


def test_unopenable_sqlite_file_is_a_database_error(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'missing-folder' / 'intently.db'}")
    with pytest.raises(DatabaseError, match=r"missing-folder.*Fix: check that the folder"):
        db.migrate()
    db.dispose()


def test_unmigrated_database_query_is_a_database_error(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'intently.db'}")
    with pytest.raises(DatabaseError, match="migrat"):
        intently.db.ApiKeyStore(db).list()
    db.dispose()


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y"])
def test_malformed_urls(url):
    with pytest.raises(DatabaseError, match="E710"):
        Database(url)


def test_migrations_ship_inside_the_package():
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert "db/migrations/*" in pyproject and "db/migrations/versions/*" in pyproject


def test_public_names_are_sorted_and_importable():
    exported = list(intently.db.__all__)
    classes = [name for name in exported if name[0].isupper()]
    functions = [name for name in exported if not name[0].isupper()]
    assert exported == sorted(classes) + sorted(functions)
    for name in exported:
        assert getattr(intently.db, name) is not None
    codes = {
        intently.db.DatabaseError.code,
        intently.db.RunConflict.code,
        intently.db.RunNotFound.code,
        intently.db.InvalidRole.code,
    }
    assert len(codes) == 4
