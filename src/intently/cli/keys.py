"""`intently keys ...`: create, list and revoke API keys of the HTTP service."""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from intently.cli._app import (
    DEFAULT_PROJECT_FILE,
    EXIT_ERROR,
    ProjectOption,
    app,
    err,
    escape,
    out,
    project_from,
)

if TYPE_CHECKING:
    from intently.db import ApiKeyStore, Database

DATABASE_URL_ENV = "INTENTLY_DATABASE_URL"


class RoleChoice(StrEnum):
    """The values of intently.db.Role (a test keeps them equal), without importing SQLAlchemy."""

    PREDICT = "predict"
    ADMIN = "admin"
    REVIEWER = "reviewer"


keys_app = typer.Typer(
    help="Create, list and revoke API keys of the HTTP service (stored hashed in the database).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help=f"SQLAlchemy URL; default ${DATABASE_URL_ENV}, else sqlite:///<project folder>/"
        "intently.db.",
        show_default=False,
    ),
]


def database_url(project: Path, url: str | None) -> str:
    """``--database-url``, else ``$INTENTLY_DATABASE_URL``, else the project's SQLite file."""
    if url:
        return url
    if os.environ.get(DATABASE_URL_ENV):
        return os.environ[DATABASE_URL_ENV]
    from intently.db import default_database_url

    return default_database_url(project_from(project).root)


def _store(project: Path, url: str | None) -> tuple[Database, ApiKeyStore]:
    from intently.db import ApiKeyStore, Database

    db = Database(database_url(project, url))
    try:
        db.migrate()
    except BaseException:
        db.dispose()
        raise
    return db, ApiKeyStore(db)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


@keys_app.command("create")
def keys_create(
    role: Annotated[
        RoleChoice,
        typer.Option(
            "--role",
            case_sensitive=False,
            help="predict: predictions only; reviewer: predictions and the review queue; "
            "admin: everything.",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="A label to recognise the key by.")] = "",
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """Create a key and print it once: only its hash is stored, so copy it now.

    The key alone goes to stdout, so `KEY=$(intently keys create --role predict)` works.

    Example: intently keys create --role predict --name web-frontend
    """
    from intently.db import Role

    db, store = _store(project, database)
    try:
        record, plaintext = store.create(Role(role.value), name=name)
    finally:
        db.dispose()
    label = f" '{escape(record.name)}'" if record.name else ""
    err().print(f"Created {record.role.value} key {record.id}{label}.", highlight=False)
    out().print(plaintext, markup=False, highlight=False, soft_wrap=True)
    err().print(
        "[bold yellow]Copy this key now: it will not be shown again[/] (only its hash is stored).",
        highlight=False,
    )


@keys_app.command("list")
def keys_list(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """List the keys (ids, names, roles, dates); the keys themselves are never shown.

    Example: intently keys list --database-url postgresql://intently@db/intently
    """
    from rich.table import Table

    db, store = _store(project, database)
    try:
        records = store.list()
    finally:
        db.dispose()
    if not records:
        out().print("No API keys yet; create one with `intently keys create --role predict`.")
        return
    table = Table(title="API keys")
    for column in ("id", "name", "role", "created", "last used", "status"):
        table.add_column(column)
    for record in records:
        table.add_row(
            record.id,
            escape(record.name) or "-",
            record.role.value,
            _when(record.created_at),
            _when(record.last_used_at),
            "active" if record.active else f"[red]revoked {_when(record.revoked_at)}[/]",
        )
    out().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Id of the key, as `intently keys list` shows.")],
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """Revoke a key: requests using it are refused from now on (servers may cache for seconds).

    Example: intently keys revoke key_3f9a1c2b7d4e
    """
    db, store = _store(project, database)
    try:
        revoked = store.revoke(key_id)
        known = revoked or store.get(key_id) is not None
    finally:
        db.dispose()
    if revoked:
        out().print(f"Revoked key {escape(key_id)}.", highlight=False)
    elif known:
        out().print(f"Key {escape(key_id)} was already revoked.", highlight=False)
    else:
        err().print(
            f"[bold red]error[/] there is no key {escape(key_id)}; `intently keys list` shows the "
            "keys.",
            highlight=False,
        )
        raise typer.Exit(EXIT_ERROR)
