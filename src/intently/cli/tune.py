"""Tuning commands: tune (run a study, then train the best) and tune-worker (join a study)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from intently.cli._app import (
    DEFAULT_PROJECT_FILE,
    DEFAULT_TASK,
    EXIT_GATES_FAILED,
    ProjectOption,
    TaskOption,
    app,
    err,
    escape,
    out,
    progress_bar,
    project_from,
)

if TYPE_CHECKING:
    from intently.spec import Project
    from intently.tuning import StudyResult, TrialProgress

TrialsOption = Annotated[
    int | None,
    typer.Option(help="Stop when the study holds this many finished trials (all workers).", min=1),
]
TimeoutOption = Annotated[
    float | None, typer.Option(help="Stop starting trials after this many seconds.", min=1)
]
JobsOption = Annotated[int, typer.Option(help="Trials run in parallel threads.", min=1)]


@contextmanager
def trial_display(planned: int | None, title: str) -> Iterator[Callable[[TrialProgress], None]]:
    """A progress bar over the planned trials, and one line per finished trial: its number,
    state and value, and the best value so far."""
    import optuna
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # this display replaces its log lines
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err(),
        transient=True,
    ) as bar:
        handle = bar.add_task(title, total=planned)

        def show(done: TrialProgress) -> None:
            row, best = done.trial, done.best
            value = "—" if row.value is None else f"{row.value:.4f}"
            colour = {"COMPLETE": "green", "PRUNED": "yellow"}.get(row.state, "red")
            best_text = "—" if best is None or best.value is None else f"{best.value:.4f}"
            seconds = "" if row.seconds is None else f"{row.seconds:6.1f}s"
            bar.console.print(
                f"trial {row.number:>4}  [{colour}]{row.state:<8}[/] {value:>8}  {seconds}  "
                f"best {best_text}" + ("" if best is None else f" (trial {best.number})"),
                highlight=False,
            )
            bar.update(handle, completed=done.finished, description=f"{title}: best {best_text}")

        yield show


@app.command()
def tune(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    trials: TrialsOption = None,
    timeout: TimeoutOption = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage URL (default sqlite:///<project>/.intently/optuna.db; a "
            "PostgreSQL URL lets other machines join with tune-worker)."
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default <project>-<task>-<backend>).")
    ] = None,
    jobs: JobsOption = 1,
    workers: Annotated[
        int, typer.Option(help="Worker processes started on this machine.", min=1)
    ] = 1,
    train: Annotated[
        bool, typer.Option(help="Train and register a version with the best parameters.")
    ] = True,
    deploy: Annotated[
        bool, typer.Option(help="Apply the deploy policy to that version (as `train` does).")
    ] = True,
    export: Annotated[
        bool, typer.Option(help="Also write that version's ONNX graphs (as `train` does).")
    ] = True,
) -> None:
    """Search the backend's parameters with Optuna (cross-fitted macro-F1 on train+valid;
    the test split is never seen), print the best as a `training:` block, then train and
    register a version with them.

    Without --trials or --timeout the study runs for tuning.budget_minutes.

    Example: intently tune --trials 40 --workers 2 --storage postgresql+psycopg://u@db/optuna
    """
    from intently.tuning import run_study
    from intently.tuning.report import proposed_yaml, write_study_files

    spec = project_from(project, task)
    planned = trials or spec.tuning_for(task).trials
    ran: list[TrialProgress] = []
    with trial_display(planned, f"tuning {task}") as show:

        def show_and_keep(done: TrialProgress) -> None:
            ran.append(done)
            show(done)

        result = run_study(
            spec,
            task,
            trials=trials,
            timeout=timeout,
            storage=storage,
            study_name=study,
            jobs=jobs,
            workers=workers,
            on_trial=show_and_keep,
        )
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(result.counts.items()))
    out().print(
        f"Study [bold]{escape(result.study_name)}[/] in {escape(result.storage)}: {counts} in "
        f"{result.seconds:.0f}s. Best {result.metric} {result.best_value:.4f} (trial "
        f"{result.best_number}, {result.folds}-fold out-of-fold). Proposed:",
        soft_wrap=True,
    )
    if not ran and trials is not None:
        # --trials counts the study's finished trials (all workers share one target), so
        # rerunning the same command on a finished study runs nothing: say so, not just the
        # old result
        out().print(
            f"[yellow]No trial ran: study {escape(result.study_name)} already holds "
            f"{sum(n for s, n in result.counts.items() if s in ('COMPLETE', 'PRUNED'))} finished "
            f"trials and --trials {trials} counts the study's trials, not this run's. Raise "
            "--trials, or start another study with --study NAME.[/]",
            soft_wrap=True,
        )
    seed = spec.training_for(task).seed
    out().print(escape(proposed_yaml(result, seed)), highlight=False, soft_wrap=True)
    if not train:
        folder = spec.root / ".intently" / "studies" / result.study_name
        folder.mkdir(parents=True, exist_ok=True)
        write_study_files(result, folder, seed=seed)
        out().print(f"Study files: {folder}")
        return
    _train_best(spec, task, result, deploy=deploy, export=export)


def _train_best(
    spec: Project, task: str, result: StudyResult, *, deploy: bool, export: bool
) -> None:
    from intently.deploy import auto_deploy
    from intently.evaluation import render
    from intently.pipeline import train as run_training

    with progress_bar(f"training {task} with the best parameters") as progress:
        run = run_training(
            spec,
            task,
            progress=progress,
            params=result.best_params,
            study=result,
            auto_tune=False,
            export=export,
        )
    out().print(render.report_table(run.report, title=f"{task} · {run.evaluation.describe()}"))
    out().print(render.gates_table(run.gates))
    verdict = "[green]passed every gate[/]" if run.passed else "[red]failed a gate[/]"
    out().print(f"{run.version.id} {verdict} → {run.model_dir}")
    if deploy:
        decision = auto_deploy(spec, task, version=run.version.id, passed=run.passed)
        verb = "[green]deployed[/]" if decision.deployed else "[yellow]not deployed[/]"
        out().print(f"{verb}: {escape(decision.reason)}")
    if not run.passed:
        raise typer.Exit(EXIT_GATES_FAILED)


@app.command("tune-worker")
def tune_worker(
    storage: Annotated[str, typer.Option(help="The study's Optuna storage URL.")],
    study: Annotated[str, typer.Option("--study", help="The study's name.")],
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    trials: TrialsOption = None,
    timeout: TimeoutOption = None,
    jobs: JobsOption = 1,
) -> None:
    """Join a running study from this machine: same project and data, its own trials.

    The study records its task, backend, metric, search space and data fingerprint; a
    project whose data differs is refused.

    Example: intently tune-worker --storage postgresql+psycopg://u@db/optuna --study shop-intent
    """
    from intently.tuning import join_study

    spec = project_from(project)
    with trial_display(trials, f"worker on {study}") as show:
        join_study(
            spec,
            storage=storage,
            study_name=study,
            trials=trials,
            timeout=timeout,
            jobs=jobs,
            on_trial=show,
        )
    out().print(f"worker done: study {escape(study)}")
