"""`intently data issues`: likely label errors, outliers and near-duplicates across labels."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from intently.cli._app import (
    DEFAULT_PROJECT_FILE,
    DEFAULT_TASK,
    ProjectOption,
    TaskOption,
    escape,
    out,
    progress_bar,
    project_from,
)
from intently.cli.data import data_app

if TYPE_CHECKING:
    from intently.curation.issue_apply import ApplyReport
    from intently.curation.label_issues import IssueReport, Member, Method

SHOWN = 20
"""Rows of each kind printed; the JSONL file holds them all."""


@data_app.command("issues")
def data_issues(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    out_file: Annotated[
        Path, typer.Option("--out", help="Reviewable JSONL of every finding.")
    ] = Path("issues.jsonl"),
    backend: Annotated[
        str | None, typer.Option(help="Backend for the folds; default the task's.")
    ] = None,
    members: Annotated[
        str | None,
        typer.Option(
            help="Average the out-of-fold probabilities of several backends instead, "
            "comma-separated (e.g. linear,embedding: fewer false alarms, needs intently[neural]); "
            "embedding members use the frozen encoder (finetune: none), encoded once.",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        str,
        typer.Option(help="Label-issue filter: low_self_confidence or prune_by_noise_rate."),
    ] = "low_self_confidence",
    similarity: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Near-duplicate cosine similarity.")
    ] = 0.9,
    apply: Annotated[
        Path | None,
        typer.Option(
            "--apply",
            help="Apply a reviewed issues file to the dataset files instead (relabel/remove).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Find likely mislabeled examples, outliers and near-duplicates across labels.

    Every example is predicted by a model that never saw it (k-fold; the task's backend, or
    the average of --members); confident learning ranks the likely label errors and suggests a
    label. Review the JSONL (set each row's action to relabel, remove or keep), then feed it
    back with --apply.

    Example: intently data issues --out issues.jsonl

    Example: intently data issues --members linear,embedding

    Example: intently data issues --apply issues.jsonl
    """
    spec = project_from(project, task)
    if apply is not None:
        from intently.curation.issue_apply import apply_reviewed, read_reviewed

        files = [spec.resolve(ref.path) for ref in spec.datasets if ref.task == task]
        _print_applied(apply_reviewed(read_reviewed(apply), files))
        return
    from intently.collect import validate_task
    from intently.curation.label_issues import (
        METHODS,
        average,
        find_issues,
        issue_count,
        members_out_of_fold,
    )

    if method not in METHODS:
        raise typer.BadParameter(f"--method must be one of {', '.join(METHODS)}; got {method!r}.")
    if backend is not None and members is not None:
        raise typer.BadParameter("give --backend or --members, not both.")
    _, examples = validate_task(spec, task)
    training = spec.training_for(task)
    names = [name.strip() for name in members.split(",")] if members else []
    if members is not None and (len(names) < 2 or not all(names) or len(set(names)) < len(names)):
        raise typer.BadParameter(f"--members needs 2 or more different backends; got {members!r}.")
    with progress_bar("cross-validating") as update:
        results = members_out_of_fold(
            examples,
            [_member(name, training.backend, training.params, frozen=True) for name in names]
            or [_member(backend or training.backend, training.backend, training.params)],
            folds=folds,
            seed=training.seed,
            progress=update,
        )
    report = find_issues(
        examples,
        average(results),
        duplicate_similarity=similarity,
        method=cast("Method", method),
        n_issues=issue_count(results),
    )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("w", encoding="utf-8") as handle:
        for row in report.rows():
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    _print_report(report, len(examples))
    out().print(
        f"{len(report.all)} finding(s) written to {out_file}: review each row's action "
        f"(relabel/remove/keep), then `intently data issues --apply {out_file}`."
    )


def _member(
    name: str, task_backend: str, task_params: Mapping[str, Any], *, frozen: bool = False
) -> Member:
    """``name`` with the task's parameters when it is the task's backend; an ensemble's
    ``embedding`` member keeps its encoder frozen (five fine-tunings would take hours)."""
    params = dict(task_params) if name == task_backend else {}
    if frozen and name == "embedding":
        params["finetune"] = "none"
    return name, params


def _print_report(report: IssueReport, total: int) -> None:
    from rich.table import Table

    sections = (
        ("likely label errors", report.label_issues, "self-conf."),
        ("near-duplicates across labels", report.duplicates, "similarity"),
        ("outliers", report.outliers, "z"),
    )
    for title, found, score in sections:
        if not found:
            continue
        table = Table(title=f"{title} · {len(found)} of {total} examples")
        for column in ("#", "text", "label", "suggested", score, "origin"):
            table.add_column(column)
        for rank, issue in enumerate(found[:SHOWN], start=1):
            value = {
                "self-conf.": issue.self_confidence,
                "similarity": issue.score,
                "z": -issue.score,
            }[score]
            table.add_row(
                str(rank),
                escape(issue.text),
                escape(issue.label),
                escape(issue.suggested_label or "-"),
                f"{value:.3f}",
                escape(Path(issue.origin).name if issue.origin else "project file"),
            )
        out().print(table)
    out().print(
        f"out-of-fold accuracy {report.out_of_fold_accuracy():.3f}; {len(report.label_issues)} "
        f"likely label error(s), {len(report.duplicates)} near-duplicate(s), "
        f"{len(report.outliers)} outlier(s)."
    )


def _print_applied(report: ApplyReport) -> None:
    for note in report.skipped:
        out().print(f"[yellow]skipped[/] {escape(note)}", highlight=False)
    out().print(
        f"{report.relabeled} relabeled, {report.removed} removed, {report.kept} kept, "
        f"{len(report.skipped)} skipped; changed: "
        f"{', '.join(str(p) for p in report.files) or 'no file'}."
    )
