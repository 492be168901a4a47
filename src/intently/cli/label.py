"""`intently data label FILE --llm`: label unlabeled texts with an LLM, checked by the model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from intently.cli._app import (
    DEFAULT_PROJECT_FILE,
    DEFAULT_TASK,
    ProjectOption,
    TaskOption,
    err,
    out,
    progress_bar,
    project_from,
)
from intently.cli.data import data_app
from intently.cli.keys import DATABASE_URL_ENV

if TYPE_CHECKING:
    from intently.labeling.run import LabelingRun

DEFAULT_PER_REQUEST = 10
"""A copy of intently.labeling.llm_label's (a test keeps them equal): importing it loads NumPy."""


@data_app.command("label")
def data_label(
    file: Annotated[Path, typer.Argument(help="Texts: .jsonl (text field), .csv, or lines.")],
    llm: Annotated[
        bool, typer.Option("--llm", help="Label with an OpenAI-compatible chat endpoint.")
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option(help="Endpoint up to /chat/completions; default $INTENTLY_LLM_BASE_URL."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="LLM model name; default $INTENTLY_LLM_MODEL.")
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key (unset: no key).")
    ] = "OPENAI_API_KEY",
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Dataset of agreed examples; default FILE.llm_labeled.jsonl."),
    ] = None,
    disagreements: Annotated[
        Path | None,
        typer.Option(help="JSONL of disagreements; default FILE.disagreements.jsonl."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Send disagreements to this database's review queue (`intently review`); "
            f"default ${DATABASE_URL_ENV}, else the project's intently.db when it exists, "
            "else the JSONL file.",
            show_default=False,
        ),
    ] = None,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Do not compare with the task's trained model.")
    ] = False,
    per_request: Annotated[int, typer.Option(min=1, help="Texts per request.")] = (
        DEFAULT_PER_REQUEST
    ),
    max_requests: Annotated[int | None, typer.Option(min=1, help="Cap on requests.")] = None,
    max_tokens: Annotated[
        int | None, typer.Option(min=1, help="Cap on tokens (the endpoint's usage).")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds per request.")] = 60.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries per request.")] = 3,
    weight: Annotated[
        float | None, typer.Option(min=0.0001, help="Weight of the examples (default 0.85).")
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="Prompt cache; default .intently/llm_cache.jsonl by the project."),
    ] = None,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
) -> None:
    """Label texts with an LLM; agreements with the task's model become training examples.

    The task's labels and descriptions make the prompt; each answer must be one of the labels
    or the fallback label. Where the task has a trained model its prediction is compared:
    agreements are written as `llm_labeled` examples (add the file to `datasets:`), and
    disagreements go to the review queue or a JSONL file. Answers are cached by prompt, so a
    rerun costs nothing. Label quality depends on the model the endpoint serves.

    Example: intently data label logs.jsonl --llm --base-url http://127.0.0.1:8000/v1 --model m
    """
    if not llm:
        raise typer.BadParameter("give --llm: labeling with an LLM is the one labeler so far.")
    from intently.curation.llm_cache import ResponseCache
    from intently.curation.llm_client import Caps, ChatClient
    from intently.curation.llm_generate import DEFAULT_CACHE, endpoint_from
    from intently.labeling.run import label_file

    spec = project_from(project, task)
    endpoint = endpoint_from(
        base_url, model, api_key_env=api_key_env, timeout_s=timeout, max_retries=retries
    )
    client = ChatClient(
        endpoint,
        cache=ResponseCache(cache or spec.resolve(DEFAULT_CACHE)),
        caps=Caps(max_requests=max_requests, max_tokens=max_tokens),
    )
    stem = file.with_suffix("")
    with client, progress_bar("labeling") as update:
        run = label_file(
            spec,
            task,
            file,
            client=client,
            out=out_file or Path(f"{stem}.llm_labeled.jsonl"),
            disagreements=disagreements or Path(f"{stem}.disagreements.jsonl"),
            database_url=_review_database(spec.root, database_url),
            use_model=not no_model,
            per_request=per_request,
            weight=weight,
            progress=lambda done, total: update(f"{done}/{total} texts", done / total),
        )
    _print_run(run)


def _review_database(root: Path, url: str | None) -> str | None:
    """--database-url, else $INTENTLY_DATABASE_URL, else the project's SQLite file if present."""
    from intently.db.engine import DATABASE_FILE, default_database_url

    if url or os.environ.get(DATABASE_URL_ENV):
        return url or os.environ[DATABASE_URL_ENV]
    return default_database_url(root) if (root / DATABASE_FILE).is_file() else None


def _print_run(run: LabelingRun) -> None:
    from rich.table import Table

    summary = run.result.summary()
    for note in run.bad_records[:20]:
        err().print(f"[yellow]skipped[/] {note}", highlight=False)
    table = Table(title=f"LLM labeling · {summary['llm_model']}", show_header=False)
    rate = summary["agreement_rate"]
    rows = [
        ("texts", summary["texts"]),
        ("labeled by the LLM", summary["llm_labeled"]),
        ("invalid LLM answers", summary["invalid"]),
        ("model version", summary["model_version"] or "none (no comparison)"),
        ("agreed / disagreed", f"{summary['agreed']} / {summary['disagreed']}"),
        ("agreement rate", "-" if rate is None else f"{rate:.1%}"),
        ("requests (cached)", f"{summary['requests']} ({summary['cached']})"),
        ("retries", summary["retries"]),
        ("tokens (prompt + completion)", f"{summary['tokens']:,}"),
        ("seconds", summary["seconds"]),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    out().print(table)
    if summary["failures"]:
        out().print(f"failed attempts: {summary['failures']}")
    if run.result.stopped:
        err().print(f"[yellow]stopped early:[/] {run.result.stopped}", highlight=False)
    out().print(f"{summary['examples']} examples written to {run.examples_path}")
    if run.queued or (run.result.disagreed and run.disagreements_path is None):
        out().print(f"{run.queued} disagreement(s) added to the review queue (`intently review`)")
    if run.disagreements_path is not None:
        out().print(f"disagreements and invalid answers written to {run.disagreements_path}")
