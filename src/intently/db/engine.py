"""The database connection: an engine, schema migrations and transactional sessions.

SQLite is the default (``sqlite:///<project folder>/intently.db``); it runs in WAL mode with a
5 s busy timeout so several server worker processes can share the file. The file the first
connection opened is remembered (device, inode): once the path holds another file or none
(deleted, or replaced by a copy), every session and connection raises DatabaseError instead of
writing to a file nobody will read again (open connections keep writing to the unlinked
inode, new ones would create an empty file); :meth:`Database.file_problem` says why.
PostgreSQL works via ``postgresql+psycopg://`` (``postgresql://`` URLs are rewritten to that
driver). The schema is created and upgraded by Alembic migrations shipped inside the package:
call :meth:`Database.migrate` once at start-up.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from intently.errors import DatabaseError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DATABASE_FILE = "intently.db"
SQLITE_BUSY_TIMEOUT_MS = 5000
# pg_advisory_xact_lock key serialising concurrent migrations ("intently" in ASCII)
_PG_MIGRATION_LOCK = 0x696E74656E746C79
_MIGRATE_ATTEMPTS = 5
# Alembic's ``context`` and ``op`` are module-level proxies: one migration per process at a time
_ALEMBIC_LOCK = threading.Lock()

_URL_HINT = (
    "pass a reachable SQLAlchemy URL with --database-url or INTENTLY_DATABASE_URL, e.g. "
    "sqlite:////srv/intently/intently.db or postgresql://user:password@host:5432/dbname"
)


def default_database_url(project_root: Path) -> str:
    """``sqlite:///<root>/intently.db``: the database next to the project file."""
    return f"sqlite:///{Path(project_root).resolve() / DATABASE_FILE}"


def mask_url(url: str | URL) -> str:
    """``url`` with any password replaced by ``***`` (safe for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return "<unparsable database URL>"


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseError(
            f"'{mask_url(url)}' is not a database URL ({exc}).", hint=_URL_HINT
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, None for other databases, in-memory ones and URI filenames."""
    if url.get_backend_name() != "sqlite" or _is_memory_sqlite(url):
        return None
    database = str(url.database)
    if database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(database).absolute()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


class Database:
    """One engine plus its session factory; share one per process.

    >>> db = Database("sqlite://")  # in memory
    >>> db.migrate()
    >>> with db.session() as session:  # commits on success, rolls back on error
    ...     pass
    """

    def __init__(self, url: str):
        self.url = _normalise(url)
        self.backend = self.url.get_backend_name()
        options: dict[str, Any] = {"pool_pre_ping": self.backend != "sqlite"}
        if self.backend == "sqlite":
            options["connect_args"] = {"check_same_thread": False}
            if _is_memory_sqlite(self.url):
                options["poolclass"] = StaticPool  # one shared connection, or no shared data
        try:
            self.engine: Engine = create_engine(self.url, **options)
        except ModuleNotFoundError as exc:
            raise DatabaseError(
                f"the driver for {self.masked_url} is not installed ({exc}).",
                hint="pip install 'intently[postgres]' for PostgreSQL.",
            ) from exc
        except (ArgumentError, SQLAlchemyError) as exc:
            raise DatabaseError(
                f"cannot use the database URL {self.masked_url}: {exc}", hint=_URL_HINT
            ) from exc
        if self.backend == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._file = _sqlite_file(self.url)
        self._file_id: tuple[int, int] | None = None  # (st_dev, st_ino) at the first connect
        if self._file is not None:
            event.listen(self.engine, "connect", self._remember_file)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def masked_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Database({self.masked_url!r})"

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest revision (``alembic upgrade head``).

        Safe to call on every start, from several processes at once: it is a no-op when the
        schema is current, and a process that loses a race re-checks and retries.
        """
        last: Exception | None = None
        for attempt in range(_MIGRATE_ATTEMPTS):
            try:
                self._upgrade()
                return
            except DBAPIError as exc:
                if exc.connection_invalidated or self._unreachable(exc):
                    raise self._error("cannot connect to", exc) from exc
                last = exc  # most likely another process migrating at the same time
            if self.is_current():
                return
            time.sleep(0.1 * (attempt + 1))
        assert last is not None
        raise self._error("cannot migrate", last) from last

    def revision(self) -> str | None:
        """The schema revision the database is at (None before the first migration)."""
        from alembic.runtime.migration import MigrationContext

        try:
            with self.engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision()
        except DBAPIError as exc:
            raise self._error("cannot connect to", exc) from exc

    def head(self) -> str | None:
        """The newest schema revision this version of Intently ships."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def is_current(self) -> bool:
        try:
            return self.revision() == self.head()
        except DatabaseError:
            return False

    def _alembic_config(self, connection: Connection | None = None) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        # Alembic's ini interpolation treats "%" specially
        config.set_main_option(
            "sqlalchemy.url", self.url.render_as_string(hide_password=False).replace("%", "%%")
        )
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def _upgrade(self) -> None:
        from alembic import command
        from alembic.util import CommandError

        with _ALEMBIC_LOCK, self.engine.begin() as connection:
            if self.backend == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            try:
                command.upgrade(self._alembic_config(connection), "head")
            except CommandError as exc:
                raise DatabaseError(
                    f"cannot migrate the database at {self.masked_url}: {exc}",
                    hint="the database was probably written by a newer Intently; upgrade "
                    "Intently, or point --database-url / INTENTLY_DATABASE_URL elsewhere.",
                ) from exc

    # -- the SQLite file ----------------------------------------------------------------

    def _remember_file(self, _dbapi_connection: Any, _record: Any) -> None:
        if self._file_id is None and self._file is not None:
            stat = os.stat(self._file)  # exists: the pragmas of this connection wrote it
            self._file_id = (stat.st_dev, stat.st_ino)

    def file_problem(self) -> str | None:
        """Why the SQLite file opened first is no longer the file at its path (deleted, or
        replaced by another file), or None (always None for other databases)."""
        if self._file is None or self._file_id is None:
            return None
        try:
            stat = os.stat(self._file)
        except FileNotFoundError:
            change = "was deleted"
        else:
            if (stat.st_dev, stat.st_ino) == self._file_id:
                return None
            change = "was replaced by another file"
        return (
            f"the database file {self._file} {change} after this process opened it; what is "
            "written now would be lost."
        )

    def _check_file(self) -> None:
        problem = self.file_problem()
        if problem is not None:
            raise DatabaseError(
                problem,
                hint="restore the file and restart the process (`intently serve` re-opens the "
                "database at start), or point --database-url at the database to use.",
            )

    # -- sessions -----------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises.

        Database failures other than integrity violations (which callers turn into their own
        errors) surface as :class:`DatabaseError`.
        """
        self._check_file()
        session = self._sessions()
        try:
            yield session
            session.commit()
        except IntegrityError:
            session.rollback()
            raise
        except DBAPIError as exc:
            session.rollback()
            raise self._error("query failed on", exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A plain connection for quick reads (no ORM, nothing committed); errors as in session."""
        self._check_file()
        try:
            with self.engine.connect() as connection:
                yield connection
        except IntegrityError:
            raise
        except DBAPIError as exc:
            raise self._error("query failed on", exc) from exc

    def dispose(self) -> None:
        """Close every pooled connection (call at shutdown, or after forking)."""
        self.engine.dispose()

    # -- errors -------------------------------------------------------------------------

    @staticmethod
    def _unreachable(exc: DBAPIError) -> bool:
        message = str(exc.orig).lower()
        return any(
            phrase in message
            for phrase in (
                "connection refused",
                "connection failed",
                "could not connect",
                "unable to open database file",
                "could not translate host name",
                "timeout expired",
                "does not exist",
                "authentication failed",
            )
        )

    def _error(self, what: str, exc: Exception) -> DatabaseError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0:1]
        reason = detail[0] if detail else type(exc).__name__
        if self.url.password:
            reason = reason.replace(str(self.url.password), "***")
        if self.backend == "sqlite":
            hint = (
                "check that the folder of the SQLite file exists and is writable, and that no "
                f"other program holds a lock on it; or {_URL_HINT}"
            )
        else:
            hint = (
                "check that the server is running and reachable, the user and password, and "
                f"that the database exists; or {_URL_HINT}"
            )
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            hint = "run the migrations first (`Database.migrate()`; the CLI and server do this)."
        return DatabaseError(f"{what} the database at {self.masked_url}: {reason}", hint=hint)
