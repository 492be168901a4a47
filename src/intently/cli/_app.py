"""Shared pieces of the ``intently`` command line: the app, consoles, options, progress, main.

Exit codes (each failure class its own, for scripts and cron):

    0    success
    1    an Intently error not listed below (project file, data, model, training, input)
    2    usage error (unknown option, missing argument)
    3    a trained model failed its quality gates (it is kept with status ``rejected``)
    4    storage: the disk is full, a permission is missing, the filesystem is read-only
    5    the service cannot start (invalid settings, port already in use)
    6    the database is unreachable or cannot be migrated
    130  interrupted (Ctrl-C)

Start-up budget: ``intently --help`` must stay under 0.4 s, so importing the CLI loads typer
and nothing heavier. rich (~80 ms), pydantic/spec, SQLAlchemy, NumPy and the training stack are
imported inside the commands that use them; option types in signatures are stdlib or typer
types, because typer reads them when the app is built. A test keeps this honest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from intently.errors import IntentlyError

if TYPE_CHECKING:
    from rich.console import Console

    from intently.spec import Project

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_GATES_FAILED = 3
EXIT_STORAGE = 4
EXIT_SERVER_START = 5
EXIT_DATABASE = 6
EXIT_INTERRUPTED = 130


def exit_code_for(error: IntentlyError) -> int:
    """The documented exit code of an Intently error (see the module docstring)."""
    from intently.errors import DatabaseError, GateFailure, ServerConfigError, StorageError

    for kind, code in (
        (GateFailure, EXIT_GATES_FAILED),
        (StorageError, EXIT_STORAGE),
        (ServerConfigError, EXIT_SERVER_START),
        (DatabaseError, EXIT_DATABASE),
    ):
        if isinstance(error, kind):
            return code
    return EXIT_ERROR


# Copies of intently.spec's defaults (a test keeps them equal): importing spec loads pydantic.
DEFAULT_PROJECT_FILE = "intently.yaml"
DEFAULT_TASK = "intent"

app = typer.Typer(
    help="Intently: definitions in, fast evaluated intent classifiers out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: typer's rich help imports rich, markdown-it and pygments, which
    # doubles the cost of `intently --help` (see the module docstring).
    rich_markup_mode=None,
)

ProjectOption = Annotated[
    Path, typer.Option("--project", "-p", help="Project file.", show_default=True)
]
TaskOption = Annotated[str, typer.Option("--task", "-t", help="Which classifier of the project.")]


@cache
def out() -> Console:
    """The stdout console, created on first use (it writes to whatever sys.stdout is then)."""
    from rich.console import Console

    return Console()


@cache
def err() -> Console:
    """The stderr console, created on first use."""
    from rich.console import Console

    return Console(stderr=True)


def escape(text: str) -> str:
    """``text`` with rich markup escaped: user texts and labels may hold "[...]"."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def project_from(path: Path, task: str | None = None) -> Project:
    """The project at ``path``; with ``task`` (a --task value), refuse a task it does not
    define or an unsafe name, with a did-you-mean (the check the HTTP service runs too)."""
    from intently.spec import load_project

    project = load_project(path)
    if task is not None:
        project.check_task(task)
    return project


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err(),
        transient=True,
    ) as bar:
        handle = bar.add_task(description, total=1.0)

        def update(step: str, done: float) -> None:
            bar.update(handle, completed=done, description=f"{description}: {step}")

        yield update


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: Intently errors become one clean paragraph and their exit code."""
    try:
        code = app(args=argv, standalone_mode=False)
    except IntentlyError as error:
        err().print(f"[bold red]error[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(exit_code_for(error))
    except BrokenPipeError:  # the reader went away (`intently predict ... | head`)
        sys.exit(EXIT_ERROR)
    except OSError as error:  # a disk or permission failure outside the guarded write paths
        from intently.errors import storage_error

        failure = storage_error(error, "reading or writing a file")
        err().print(f"[bold red]error[/] {escape(str(failure))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_STORAGE)
    except KeyboardInterrupt:
        err().print("interrupted; nothing was saved by the interrupted step.")
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        # Usage errors: click's ClickException, or typer's vendored copy (typer >= 0.2x ships
        # without click), so match by behaviour rather than by importing click.
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
    return code
