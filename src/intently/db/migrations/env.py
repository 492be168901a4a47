"""Alembic environment of Intently's schema.

:meth:`intently.db.Database.migrate` runs it with its own connection (passed in
``config.attributes["connection"]``); no ``alembic.ini`` is needed. To write the next
revision from a checkout, after changing ``intently.db.tables``::

    from alembic import command
    from intently.db import Database

    db = Database("sqlite:///scratch.db")
    db.migrate()
    command.revision(db._alembic_config(), message="what changed", autogenerate=True)

then review the file it writes under ``versions/`` (name it ``000N_<slug>.py``).
Keep ``intently.db.tables`` and the revisions in step.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from intently.db.tables import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as own:
        context.configure(connection=own, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
