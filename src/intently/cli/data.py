"""`intently data ...`: inspect, validate, split and export training data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intently.cli._app import (
    DEFAULT_PROJECT_FILE,
    DEFAULT_TASK,
    EXIT_ERROR,
    ProjectOption,
    TaskOption,
    app,
    escape,
    out,
    project_from,
)

data_app = typer.Typer(
    help="Inspect, validate, split and export training data.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


@data_app.command("validate")
def data_validate(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    strict: Annotated[bool, typer.Option(help="Treat warnings as errors.")] = False,
) -> None:
    """Report problems in a task's training data; non-zero exit on errors.

    Example: intently data validate --strict
    """
    from rich.table import Table

    from intently.collect import validate_task

    report, _ = validate_task(project_from(project), task)
    table = Table(title=f"data validation · {task}")
    for column in ("severity", "check", "finding"):
        table.add_column(column)
    colour = {"error": "red", "warning": "yellow", "info": "blue"}
    for finding in report.findings:
        table.add_row(
            f"[{colour[finding.severity]}]{finding.severity}[/]",
            finding.code,
            escape(finding.message),
        )
    if report.findings:
        out().print(table)
    out().print(
        f"{sum(report.counts.values())} examples, {len(report.counts)} labels, imbalance "
        f"ratio {report.imbalance:.1f}; {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s)."
    )
    if not report.ok(strict=strict):
        raise typer.Exit(EXIT_ERROR)


@data_app.command("stats")
def data_stats(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
) -> None:
    """Examples per label and source, after cleaning.

    Example: intently data stats --task intent
    """
    from collections import Counter

    from rich.table import Table

    from intently.collect import validate_task

    _, examples = validate_task(project_from(project), task)
    per_label: dict[str, Counter[str]] = {}
    for example in examples:
        per_label.setdefault(example.label, Counter())[example.source.value] += 1
    sources = sorted({s for counts in per_label.values() for s in counts})
    table = Table(title=f"examples · {task}")
    table.add_column("label")
    for source in sources:
        table.add_column(source, justify="right")
    table.add_column("total", justify="right", style="bold")
    for label in sorted(per_label):
        counts = per_label[label]
        table.add_row(
            escape(label), *(str(counts.get(s, 0)) for s in sources), str(sum(counts.values()))
        )
    out().print(table)
    lengths = sorted(len(e.text.split()) for e in examples)
    if lengths:
        out().print(
            f"{len(examples)} examples · {len(per_label)} labels · words per text: median "
            f"{lengths[len(lengths) // 2]}, max {lengths[-1]}"
        )


@data_app.command("split")
def data_split(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for train/valid/test.jsonl.")],
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
) -> None:
    """Write the deterministic train/valid/test split that `train` uses.

    Example: intently data split --out data/split
    """
    from intently.collect import build_dataset
    from intently.data import write_examples

    dataset = build_dataset(project_from(project), task)
    for name in ("train", "valid", "test"):
        path = write_examples(getattr(dataset, name), out_dir / f"{name}.jsonl")
        out().print(f"{path}: {len(getattr(dataset, name))} examples")
    out().print(f"fingerprint {dataset.fingerprint}")


@data_app.command("export")
def data_export(
    out_file: Annotated[Path, typer.Option("--out", help="A .jsonl or .csv file ('-': stdout).")],
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    recorded: Annotated[
        str | None,
        typer.Option(
            "--recorded",
            help="Export the service's recorded answers instead: reviewed, pending or all.",
        ),
    ] = None,
    reviewed: Annotated[
        bool, typer.Option("--reviewed", help="Same as --recorded reviewed (training data).")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="Recorded answers: jsonl, csv or label-studio.")
    ] = "jsonl",
    database: Annotated[
        str | None,
        typer.Option("--database-url", help="Recorded answers: the service's database."),
    ] = None,
) -> None:
    """Export a task's cleaned examples (definitions, templates and datasets) to one file,
    or, with --reviewed / --recorded, the answers the service recorded.

    Example: intently data export --out all.jsonl
    Example: intently data export --reviewed --format label-studio --out reviewed.json
    """
    which = "reviewed" if reviewed else recorded
    if which is not None:
        from intently.cli.feedback import STATUSES, export_recorded

        if which not in STATUSES:
            raise typer.BadParameter(
                f"'{which}': use reviewed, pending or all.", param_hint="--recorded"
            )
        export_recorded(out_file, which, fmt, project=project, database=database, task=task)
        return
    from intently.collect import validate_task
    from intently.data import write_examples

    _, examples = validate_task(project_from(project), task)
    write_examples(examples, out_file)
    out().print(f"Wrote {len(examples)} examples to {out_file}")
