"""`intently retrain`, `intently ab ...` and `intently monitor`: the learning loop from the
command line, over the same functions the service runs (``intently.loop``)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

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
from intently.cli.db import interaction_store
from intently.cli.keys import DatabaseUrlOption

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")]


@app.command("retrain")
def retrain(
    if_needed: Annotated[
        bool,
        typer.Option(
            "--if-needed",
            help="Only when learning.retrain_after new reviewed labels exist: the default, "
            "spelled out for cron; --force overrides it.",
        ),
    ] = True,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain even without enough new labels.")
    ] = False,
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="One task (default: every task).")
    ] = None,
    no_export: Annotated[
        bool, typer.Option("--no-export", help="Skip the ONNX export of the new version.")
    ] = False,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Retrain with the reviewed answers, deploying the new model only if it is not worse.

    One run per task at a time (a run under way elsewhere makes this a no-op); the run, its
    decision and the macro-F1 before and after are stored with the training runs. Exit code
    1 when a run failed (the active model keeps serving).

    Example: */30 * * * * intently retrain --if-needed -p /srv/bot/intently.yaml
    """
    from intently.loop.retrain import retrain_tasks

    if task is not None:
        project_from(project, task)
    del if_needed  # the only mode without --force; the flag exists for readable crontabs
    with interaction_store(project, database) as store:
        outcomes = retrain_tasks(
            project,
            store.db,
            None if task is None else [task],
            force=force,
            export=not no_export,
        )
    if as_json:
        out().print_json(json.dumps([o.to_json() for o in outcomes]))
    else:
        for outcome in outcomes:
            verdict = "deployed" if outcome.deployed else "not deployed"
            head = f"{outcome.task}: " + (
                f"run {outcome.run.id if outcome.run else '?'} → {verdict}"
                if outcome.started
                else "no run"
            )
            scores = ""
            if outcome.after is not None:
                before = "—" if outcome.before is None else f"{outcome.before:.4f}"
                scores = f" (macro-F1 {before} → {outcome.after:.4f})"
            out().print(f"{escape(head)}{scores}: {escape(outcome.reason)}")
    if any(outcome.failed for outcome in outcomes):
        raise typer.Exit(EXIT_ERROR)


ab_app = typer.Typer(
    help="A/B tests and shadow mode: a challenger version next to the active one.",
    no_args_is_help=True,
)
app.add_typer(ab_app, name="ab")


class StickyChoice(StrEnum):
    """The values of intently.loop.ab.StickyBy (a test keeps them equal), without importing
    SQLAlchemy at start-up."""

    USER = "user"
    CONVERSATION = "conversation"


def _print(data: dict[str, Any]) -> None:
    out().print_json(json.dumps(data, default=str))


@ab_app.command("start")
def ab_start(
    challenger: Annotated[str, typer.Argument(help="The version to test (see models list).")],
    share: Annotated[
        float, typer.Option("--share", help="Share of users the challenger answers.")
    ] = 0.1,
    shadow: Annotated[
        bool,
        typer.Option("--shadow", help="The champion answers everything; the challenger shadows."),
    ] = False,
    sticky_by: Annotated[
        StickyChoice, typer.Option("--sticky-by", help="What keeps a caller on one arm.")
    ] = StickyChoice.USER,
    task: TaskOption = DEFAULT_TASK,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """Start testing CHALLENGER against the active version; running services pick it up
    within their reload interval.

    Example: intently ab start 20261122T030512Z-3fa1 --share 0.1 --sticky-by conversation
    """
    from intently.loop import ab

    loaded = project_from(project, task)
    mode = ab.Mode.SHADOW if shadow else ab.Mode.SPLIT
    with interaction_store(project, database) as store:
        test = ab.start(
            loaded,
            store.db,
            task,
            challenger,
            share=share,
            mode=mode,
            sticky_by=ab.StickyBy(sticky_by.value),
        )
    out().print(
        f"A/B test {test.id}: {test.challenger_version} vs {test.champion_version} "
        f"({mode.value}" + (f", {share:.0%} of {sticky_by.value}s)" if not shadow else ")")
    )


@ab_app.command("report")
def ab_report(
    task: TaskOption = DEFAULT_TASK,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """Agreement, fallback rate and reviewed accuracy per arm (95% intervals) and the
    significance of the difference.

    Example: intently ab report --task intent
    """
    from intently.loop import ab

    project_from(project, task)
    with interaction_store(project, database) as store:
        test = ab.AbTestStore(store.db).current(task)
        _print(ab.report(store.db, test))


@ab_app.command("promote")
def ab_promote(
    task: TaskOption = DEFAULT_TASK,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """Deploy the challenger of the running test and end the test.

    Example: intently ab promote
    """
    from intently.loop import ab

    loaded = project_from(project, task)
    with interaction_store(project, database) as store:
        test = ab.promote(loaded, store.db, task)
    out().print(f"A/B test {test.id} promoted: {test.challenger_version} is active")


@ab_app.command("stop")
def ab_stop(
    task: TaskOption = DEFAULT_TASK,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """End the running test; the champion keeps answering everything.

    Example: intently ab stop
    """
    from intently.loop import ab

    project_from(project, task)
    with interaction_store(project, database) as store:
        test = ab.stop(store.db, task)
    out().print(f"A/B test {test.id} stopped; {test.champion_version} keeps serving")


@ab_app.command("list")
def ab_list(
    task: Annotated[str | None, typer.Option("--task", "-t", help="Only this task.")] = None,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """A/B tests, newest first.

    Example: intently ab list
    """
    from intently.loop import ab

    with interaction_store(project, database) as store:
        tests = ab.AbTestStore(store.db).list(task)
    for test in tests:
        out().print(
            f"{test.id}  {test.task}  {test.status.value:<9} {test.mode.value:<6} "
            f"{test.challenger_version} vs {test.champion_version}  share {test.share:g}"
        )
    if not tests:
        out().print("no A/B tests yet; start one with `intently ab start CHALLENGER`.")


@app.command("monitor")
def monitor(
    hours: Annotated[float, typer.Option("--hours", help="The window: the last N hours.")] = 24,
    task: Annotated[str | None, typer.Option("--task", "-t", help="Only this task.")] = None,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    database: DatabaseUrlOption = None,
) -> None:
    """Live metrics of the recorded answers and the alerts they fire (JSON, as
    GET /v1/metrics/live answers).

    Example: intently monitor --hours 1
    """
    from intently.loop.monitor import live_report

    loaded = project_from(project, task)
    with interaction_store(project, database) as store:
        _print(live_report(store.db, loaded, hours=hours, task=task))
