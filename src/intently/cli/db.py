"""`intently db ...`: the service database (retention of recorded answers).

Also the helper the review commands share to open the interaction store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from intently.cli._app import DEFAULT_PROJECT_FILE, ProjectOption, app, out
from intently.cli.keys import DatabaseUrlOption, database_url

if TYPE_CHECKING:
    from intently.db import InteractionStore
    from intently.registry import Registry

db_app = typer.Typer(help="The service database: retention of recorded answers.")
app.add_typer(db_app, name="db")

PERIOD = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_period(text: str) -> timedelta:
    """``90d`` / ``12h`` / ``2w`` as a timedelta; LearningConfigError otherwise."""
    from intently.errors import LearningConfigError

    match = PERIOD.match(text)
    if not match or int(match.group(1)) == 0:
        raise LearningConfigError(
            f"'{text}' is not a retention period.",
            hint="give a positive number of hours, days or weeks: 12h, 90d, 8w.",
        )
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


@contextmanager
def interaction_store(project: Path, url: str | None) -> Iterator[InteractionStore]:
    """The migrated interaction store of the project's database (``--database-url`` first)."""
    from intently.db import Database, InteractionStore

    database = Database(database_url(project, url))
    try:
        database.migrate()
        yield InteractionStore(database)
    finally:
        database.dispose()


def project_registry(project: Path) -> Registry:
    from intently.cli._app import project_from
    from intently.deploy import registry_for

    return registry_for(project_from(project))


@db_app.command("prune")
def db_prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Delete answers recorded longer ago: 90d, 12h, 8w.")
    ],
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """Delete recorded answers (and their corrections) older than the retention period.

    Example: intently db prune --older-than 90d
    """
    period = parse_period(older_than)
    with interaction_store(project, database) as store:
        deleted = store.prune(period)
    out().print(f"Deleted {deleted:,} recorded answers older than {older_than.strip()}.")
