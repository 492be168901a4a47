"""`intently predict`: classify texts given on the command line, or every text of a file."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from intently.cli._app import (
    DEFAULT_PROJECT_FILE,
    DEFAULT_TASK,
    ProjectOption,
    TaskOption,
    app,
    err,
    escape,
    out,
    project_from,
)

if TYPE_CHECKING:
    from intently.predict_file import BadRecord, FileProgress
    from intently.runtime import Classifier
    from intently.spec import Project

# The choices below copy the library's (a test keeps them equal): typer needs them when the app
# is built, and importing the runtime or predict_file would cost `intently --help` NumPy.
BATCH_SIZE = 256
SHOWN_BAD_LINES = 20
"""Bad lines printed one by one; beyond that they are only counted."""


class Runtime(StrEnum):
    AUTO = "auto"
    NATIVE = "native"
    ONNX = "onnx"


class Precision(StrEnum):
    AUTO = "auto"
    FP32 = "fp32"
    INT8 = "int8"


class InputFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    LINES = "lines"


class OutputFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@app.command()
def predict(
    texts: Annotated[
        list[str] | None,
        typer.Argument(
            help="Text(s) to classify (or --file).", metavar="TEXTS", show_default=False
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            metavar="PATH",
            help='Classify every text of a file: .jsonl ({"text": ...} per line; other fields '
            "are passed through), .csv with a text column, anything else one text per line; "
            "- reads stdin.",
            show_default=False,
        ),
    ] = None,
    out_path: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            metavar="PATH",
            help="With --file: a .jsonl or .csv file for the predictions; - is stdout.",
        ),
    ] = "-",
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format", help="Output format (default: by the --out suffix; JSONL on stdout)."
        ),
    ] = None,
    input_format: Annotated[
        InputFormat | None,
        typer.Option(
            "--input-format", help="Input format (default: by the --file suffix; lines on stdin)."
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Stop at the first bad line (exit 1) instead of skipping it."
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per model call.")] = BATCH_SIZE,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    model: Annotated[
        Path | None,
        typer.Option(help="A model version directory (default: the task's newest usable one)."),
    ] = None,
    runtime: Annotated[
        Runtime,
        typer.Option(help="auto: the exported graph when there is one, else the native model."),
    ] = Runtime.AUTO,
    precision: Annotated[
        Precision,
        typer.Option(help="Which exported graph; auto: the fastest that passed parity."),
    ] = Precision.AUTO,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Classify texts: label, confidence, top-5 ranking and fallback flag.

    With --file, every text of a JSONL, CSV or plain-text file is classified in batches,
    streaming (constant memory), into JSONL or CSV rows: text, label, confidence, intent,
    fallback, model_version (and ranking in JSONL). Bad lines are reported with their line
    number on stderr and skipped, or stop the run with --strict.

    Example: intently predict "where is my card?"

    Example: intently predict --file tickets.csv --out predicted.jsonl
    """
    if file is None:
        if not texts:
            raise typer.BadParameter("give text(s) to classify, or --file PATH.")
        if out_path != "-" or output_format or input_format or strict:
            raise typer.BadParameter("--out, --format, --input-format and --strict need --file.")
    elif texts:
        raise typer.BadParameter("give either text arguments or --file, not both.")

    from intently.runtime import Classifier

    classifier = Classifier.load(
        model or _newest_model(project_from(project, task), task),
        runtime=runtime.value,
        precision=precision.value,
    )
    if file is None:
        _print_predictions(classifier, texts or [], as_json=as_json)
        return
    try:
        _predict_file(
            classifier,
            file,
            out_path,
            input_format=input_format.value if input_format else None,
            output_format=output_format.value if output_format else None,
            strict=strict,
            batch_size=batch_size,
        )
    except BrokenPipeError:
        # The reader of stdout went away (`... | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(1) from None


def _predict_file(
    classifier: Classifier,
    file: str,
    out_path: str,
    *,
    input_format: str | None,
    output_format: str | None,
    strict: bool,
    batch_size: int,
) -> None:
    from intently.predict_file import predict_file

    shown = 0

    def report(bad: BadRecord) -> None:
        nonlocal shown
        shown += 1
        if shown <= SHOWN_BAD_LINES:
            err().print(f"[yellow]skipped[/] {escape(str(bad))}", highlight=False, soft_wrap=True)

    with _file_progress(f"classifying {Path(file).name if file != '-' else 'stdin'}") as progress:
        result = predict_file(
            classifier,
            file,
            out_path,
            input_format=input_format,
            output_format=output_format,
            strict=strict,
            batch_size=batch_size,
            on_bad=report,
            progress=progress,
        )
    skipped = f"; {result.skipped:,} bad line(s) skipped" if result.skipped else ""
    if result.skipped > SHOWN_BAD_LINES:
        skipped += f" (the first {SHOWN_BAD_LINES} are listed above)"
    target = "stdout" if out_path == "-" else escape(out_path)
    served = " ".join(
        filter(None, (classifier.version.id, classifier.runtime, classifier.precision))
    )
    err().print(
        f"classified {result.predicted:,} texts → {target}{skipped}, in {result.seconds:.1f}s "
        f"({result.texts_per_second:,.0f} texts/s; model {served})",
        highlight=False,
        soft_wrap=True,
    )


@contextmanager
def _file_progress(description: str) -> Iterator[Callable[[FileProgress], None]]:
    """A progress bar on stderr: bytes read of the file's size when known, else a count."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = err()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        handle = bar.add_task(description, total=None, detail="")

        def update(progress: FileProgress) -> None:
            detail = f"{progress.records:,} texts"
            if progress.total_bytes is not None and progress.bytes_read is not None:
                detail = (
                    f"{progress.bytes_read / 1e6:,.1f}/{progress.total_bytes / 1e6:,.1f} MB · "
                    + detail
                )
                bar.update(
                    handle,
                    total=progress.total_bytes,
                    completed=progress.bytes_read,
                    detail=detail,
                )
            else:
                bar.update(handle, detail=detail)

        yield update


def _print_predictions(classifier: Classifier, texts: list[str], *, as_json: bool) -> None:
    predictions = classifier.predict_batch(texts)
    if as_json:
        for prediction in predictions:
            typer.echo(json.dumps(prediction.to_dict()))  # one object per line
        return
    from rich.table import Table

    for text, prediction in zip(texts, predictions, strict=True):
        # User texts and labels may hold "[...]", which rich would read as markup: escape them.
        table = Table(title=f"“{escape(text)}”", title_justify="left", show_edge=False)
        table.add_column("rank", justify="right")
        table.add_column("label")
        table.add_column("confidence", justify="right")
        for rank, (label, p) in enumerate(prediction.ranking, start=1):
            table.add_row(str(rank), escape(label), f"{p:.3f}")
        verdict = (
            f"[yellow]fallback → {escape(prediction.label)}[/]"
            if prediction.fallback
            else f"[green]{escape(prediction.label)}[/]"
        )
        out().print(table)
        out().print(
            f"  → {verdict} (confidence {prediction.confidence:.3f}, model "
            f"{prediction.model_version})\n"
        )


def _newest_model(spec: Project, task: str) -> Path:
    """The task's active version; before any deploy, its newest usable version."""
    from intently.errors import ModelError
    from intently.registry import Registry, latest_version

    active = Registry(spec.model_root()).active_path(task)
    if active is not None:
        return active
    found = latest_version(spec.model_root() / task)
    if found is None:
        raise ModelError(
            f"no usable model for task '{task}' under {spec.model_root() / task}.",
            hint=f"run `intently train --task {task}` first.",
        )
    err().print(f"[yellow]no active version of '{task}'; using the newest, {found.name}[/]")
    return found
