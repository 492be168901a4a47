"""`intently data generate`: what the configured generators would add, before training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intently.cli._app import (
    DEFAULT_PROJECT_FILE,
    DEFAULT_TASK,
    ProjectOption,
    TaskOption,
    escape,
    out,
    project_from,
)
from intently.cli.data import data_app


@data_app.command("generate")
def data_generate(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    preview: Annotated[
        bool, typer.Option("--preview", help="Only show what would be added (the default).")
    ] = False,
    samples: Annotated[int, typer.Option(min=0, help="Sample texts shown per row.")] = 2,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Also write the generated examples (.jsonl or .csv)."),
    ] = None,
) -> None:
    """Run the project's `generation:` entries on the train split, as `intently train` does,
    and show what each would add per intent (after filters and caps), with samples.

    Example: intently data generate --preview --samples 3
    """
    from rich.table import Table

    from intently.collect import build_dataset
    from intently.curation.grow import grower_for
    from intently.data import write_examples

    spec = project_from(project, task)
    grower = grower_for(spec, task)
    if grower is None:
        out().print(
            f"Task '{task}' has no generators: add a `generation:` list to the project file "
            "(see README, 'Growing training data')."
        )
        return
    dataset = build_dataset(spec, task)
    growth = grower.grow(dataset.train, held_out=(*dataset.valid, *dataset.test))
    table = Table(title=f"generated from {len(dataset.train)} train examples · {task}")
    table.add_column("generator")
    table.add_column("intent")
    table.add_column("added", justify="right")
    table.add_column("samples")
    for report in growth.entries:
        made = [e for e in growth.examples if e.meta.get("generator") == report.name]
        for label in sorted(report.added):
            shown = [e.text for e in made if e.label == label][:samples]
            table.add_row(
                report.name,
                escape(label),
                str(report.added[label]),
                escape("\n".join(shown)),
            )
    out().print(table)
    for report in growth.entries:
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())) or "nothing"
        out().print(f"{report.name}: +{sum(report.added.values())} examples; dropped {dropped}")
    if out_file is not None and not preview:
        write_examples(growth.examples, out_file)
        out().print(f"Wrote {len(growth.examples)} generated examples to {out_file}")
