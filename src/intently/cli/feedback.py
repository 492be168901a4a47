"""`intently data import` and the recorded-answer side of `intently data export`.

Recorded answers (the service's interactions) go out as JSONL, CSV or Label Studio tasks
(Intently's answer as a pre-annotation), and reviews come back in from a Label Studio export
or JSON lines of ``{"interaction_id", "label"}``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from intently.cli._app import DEFAULT_PROJECT_FILE, ProjectOption, err, out
from intently.cli.data import data_app
from intently.cli.db import interaction_store, project_registry
from intently.cli.keys import DatabaseUrlOption

RECORDED_FORMATS = ("jsonl", "csv", "label-studio")
STATUSES = {
    "reviewed": ("approved", "corrected", "used_in_training"),
    "pending": ("pending",),
    "all": None,
}


def export_recorded(
    out_file: Path,
    which: str,
    fmt: str,
    *,
    project: Path,
    database: str | None,
    task: str | None,
) -> None:
    """Write recorded answers (``which``: reviewed, pending or all) to ``out_file`` (``-``:
    stdout) as ``fmt``."""
    from intently.feedback import export_dataset

    if fmt not in RECORDED_FORMATS:
        raise typer.BadParameter(
            f"'{fmt}' is not a format of recorded answers; use {', '.join(RECORDED_FORMATS)}.",
            param_hint="--format",
        )
    with interaction_store(project, database) as store:
        if str(out_file) == "-":
            count = export_dataset(store, sys.stdout, fmt, task=task, statuses=STATUSES[which])
        else:
            with out_file.open("w", encoding="utf-8", newline="") as stream:
                count = export_dataset(store, stream, fmt, task=task, statuses=STATUSES[which])
    err().print(f"Wrote {count:,} {which} recorded answers ({fmt}) to {out_file}", highlight=False)


@data_app.command("import")
def data_import(
    file: Annotated[
        Path, typer.Argument(help="Label Studio JSON export, or JSONL of corrections.")
    ],
    reviewer: Annotated[
        str, typer.Option(help="Who reviewed, when the file does not say.")
    ] = "import",
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """Bring reviews back in: each label approves or corrects a recorded answer.

    Every label is checked against the task's labels before anything is written (add
    "new_label": true to a JSONL line to propose a new intent). Ids the database does not
    have are listed and skipped.

    Example: intently data import label-studio-export.json
    """
    from intently.db.dataset import read_annotations
    from intently.feedback import import_annotations

    annotations = read_annotations(file)
    registry = project_registry(project)
    with interaction_store(project, database) as store:
        report = import_annotations(store, registry, annotations, reviewer=reviewer)
    out().print(
        f"Imported {report.read:,} labels from {file}: {report.approved:,} approved, "
        f"{report.corrected:,} corrected, {len(report.missing):,} unknown ids.",
        highlight=False,
    )
    for interaction_id in report.missing[:10]:
        err().print(f"  not in the database: {interaction_id}", highlight=False)
