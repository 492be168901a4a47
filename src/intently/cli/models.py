"""`intently models ...`: list, inspect, deploy, roll back, compare and prune versions."""

from __future__ import annotations

import json
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

models_app = typer.Typer(
    help="List, deploy, roll back, compare and prune model versions.", no_args_is_help=True
)
app.add_typer(models_app, name="models")

_STATUS_STYLE = {"active": "bold green", "candidate": "cyan", "retired": "dim", "rejected": "red"}


def _metric(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "—"


@models_app.command("list")
def models_list(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
) -> None:
    """Versions of a task, oldest first, with status and headline metrics.

    Example: intently models list --task intent
    """
    from rich.table import Table

    from intently.deploy import registry_for

    infos = registry_for(project_from(project, task)).versions(task)
    table = Table(title=f"model versions · {task}")
    for column in (
        "version",
        "status",
        "backend",
        "accuracy",
        "macro F1",
        "created",
        "data",
        "parent",
    ):
        table.add_column(column, justify="right" if column in ("accuracy", "macro F1") else "left")
    for info in infos:
        v = info.version
        style = _STATUS_STYLE.get(info.status.value, "")
        table.add_row(
            info.id,
            f"[{style}]{info.status.value}[/]",
            v.backend if v else "—",
            _metric(v.metrics.get("accuracy")) if v else "—",
            _metric(v.metrics.get("macro_f1")) if v else "—",
            v.created_at if v else "—",
            v.dataset_fingerprint.removeprefix("sha256:")[:8] if v else escape(info.problem or ""),
            (v.parent or "—") if v else "—",
        )
    out().print(table if infos else f"no versions of '{task}' yet; run `intently train`.")


@models_app.command("show")
def models_show(
    version: Annotated[str, typer.Argument(help="Version id (or a unique prefix).")],
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
) -> None:
    """Everything metadata.json records about a version.

    Example: intently models show 20261122T0305
    """
    from intently.deploy import registry_for

    info = registry_for(project_from(project, task)).get(task, version)
    if info.version is None:
        out().print(f"[red]{escape(info.problem or 'unreadable')}[/]")
        raise typer.Exit(EXIT_ERROR)
    data = info.version.to_json()
    data["status"] = info.status.value
    data["path"] = str(info.path)
    out().print_json(json.dumps(data, default=str))


@models_app.command("deploy")
def models_deploy(
    version: Annotated[str, typer.Argument(help="Version id (or a unique prefix).")],
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    if_improved: Annotated[
        bool,
        typer.Option(
            "--if-improved",
            help="Only when macro-F1 ≥ active − allowed drop, re-measured on the "
            "current test split.",
        ),
    ] = False,
) -> None:
    """Make a version active (atomic switch; a broken version is refused).

    Example: intently models deploy 20261122T0305 --if-improved
    """
    from intently.deploy import deploy_version

    decision = deploy_version(project_from(project, task), task, version, if_improved=if_improved)
    if decision.comparison and decision.comparison.active:
        c = decision.comparison
        out().print(
            f"macro-F1 {c.measured_on}: candidate "
            f"{c.candidate_macro_f1:.4f} vs active {c.active_macro_f1:.4f}"
        )
    if not decision.deployed:
        out().print(f"[yellow]not deployed[/]: {escape(decision.reason)}")
        raise typer.Exit(EXIT_ERROR)
    out().print(f"[green]deployed[/]: {escape(decision.reason)}")


@models_app.command("rollback")
def models_rollback(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
) -> None:
    """Re-activate the previously active version.

    Example: intently models rollback --task intent
    """
    from intently.deploy import registry_for, rollback_task

    switch = rollback_task(registry_for(project_from(project, task)), task)
    for version, why in switch.skipped:
        out().print(f"[yellow]skipped[/] {version}: {escape(why)}")
    out().print(f"[green]rolled back[/]: {switch.pointer.active} is active again")


@models_app.command("diff")
def models_diff(
    first: Annotated[str, typer.Argument(help="Older version.")],
    second: Annotated[str, typer.Argument(help="Newer version.")],
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
) -> None:
    """Compare two versions: metrics, parameters, labels and data.

    Example: intently models diff 20261122T0305 20261122T0412
    """
    from rich.table import Table

    from intently.deploy import registry_for

    diff = registry_for(project_from(project, task)).diff(task, first, second)
    table = Table(title=f"{diff.a} → {diff.b}")
    for column in ("", diff.a, diff.b, "change"):
        table.add_column(column, justify="right" if column else "left")
    for key, (a, b) in diff.metrics.items():
        change = f"{b - a:+.4f}" if isinstance(a, float) and isinstance(b, float) else ""
        table.add_row(key, _metric(a), _metric(b), change)
    for key, (a, b) in diff.params.items():
        table.add_row(f"param {key}", escape(str(a)), escape(str(b)), "changed")
    out().print(table)
    out().print(
        f"labels added: {', '.join(diff.labels_added) or '—'}; removed: "
        f"{', '.join(diff.labels_removed) or '—'}; same training data: "
        f"{'yes' if diff.same_data else 'no'}"
    )


@models_app.command("prune")
def models_prune(
    keep: Annotated[int, typer.Option(help="How many newest versions to keep.", min=1)] = 10,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
) -> None:
    """Delete old versions, never the active one or its rollback target.

    Example: intently models prune --keep 5
    """
    from intently.deploy import registry_for

    removed = registry_for(project_from(project, task)).prune(task, keep=keep)
    out().print(
        f"removed {len(removed)} version(s)" + (f": {', '.join(removed)}" if removed else "")
    )
