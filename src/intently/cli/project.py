"""Project commands: init, train, evaluate, benchmark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from intently.cli._app import (
    DEFAULT_PROJECT_FILE,
    DEFAULT_TASK,
    EXIT_GATES_FAILED,
    ProjectOption,
    TaskOption,
    app,
    escape,
    out,
    progress_bar,
    project_from,
)


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="Project name.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write intently.yaml.")
    ] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite an existing project file.")] = False,
) -> None:
    """Scaffold a project file with one agent, a few intents and examples.

    Example: intently init my-assistant && intently train
    """
    from intently.scaffold import write_scaffold

    path = write_scaffold(name, directory, force=force)
    out().print(
        f"[green]Created[/] {path}. Next: [bold]intently data validate[/], then "
        "[bold]intently train[/]."
    )


@app.command()
def train(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    all_tasks: Annotated[bool, typer.Option("--all", help="Train every task.")] = False,
    deploy: Annotated[
        bool,
        typer.Option(help="Apply the project's deploy policy (default: deploy if improved)."),
    ] = True,
    export: Annotated[
        bool,
        typer.Option(help="Also write ONNX fp32 + int8 graphs, checked for parity (see export)."),
    ] = True,
    finetune: Annotated[
        bool,
        typer.Option(
            "--finetune",
            help="Continue from the active version instead of the base model (transformer "
            "backend; the labels must be unchanged).",
        ),
    ] = False,
) -> None:
    """Train, evaluate and gate a new model version under models/<task>/, then deploy it
    according to the project's deploy policy.

    Example: intently train --project intently.yaml --task intent
    """
    from intently.deploy import auto_deploy
    from intently.evaluation import render
    from intently.pipeline import train as run_training

    spec = project_from(project)
    failed = False
    for name in spec.task_names if all_tasks else (task,):
        with progress_bar(f"training {name}") as progress:
            run = run_training(spec, name, progress=progress, export=export, finetune=finetune)
        out().print(
            render.report_table(
                run.report,
                title=f"{spec.name} · {name} · {run.version.backend} · {run.evaluation.describe()}",
            )
        )
        if run.evaluation.reason:
            out().print(
                f"[yellow]evaluated by {run.evaluation.folds}-fold cross-validation: "
                f"{run.evaluation.reason}[/]"
            )
        generation = run.version.extra.get("generation")
        if generation:
            out().print(
                f"also trained on {generation['generated']} generated examples, made from the "
                "train split only (see `intently data generate --preview`)"
            )
        stacked = run.version.extra.get("fit_info") or {}
        if "out_of_fold_accuracy" in stacked:
            out().print(render.stack_weights_table(stacked))
        elif "validation_rows" in stacked:
            out().print(render.given_weights_note(stacked))
        out().print(render.per_label_table(run.report, worst=10))
        out().print(render.gates_table(run.gates))
        if run.passed:
            out().print(f"[green]✔ {run.version.id}[/] passed every gate → {run.model_dir}")
        else:
            failed = True
            out().print(render.weak_intents_table(run.weak_intents))
            out().print(
                f"[red]✘ {run.version.id}[/] failed a gate; kept as [bold]rejected[/] in "
                f"{run.model_dir}. Add examples to the weak intents above and train again."
            )
        out().print(
            f"Report: {run.model_dir / 'report.html'}  (trained in {run.train_seconds:.1f}s)"
        )
        novelty = run.version.fallback.get("novelty")
        if novelty is not None:
            replaced = (run.version.fallback.get("tuning") or {}).get("probability_threshold")
            out().print(
                f"Out-of-scope: the novelty (cut {novelty['cut']:.3f}: confidence + distance to "
                f"the {novelty['neighbours']} nearest training texts) replaces the confidence "
                + (f"threshold {replaced:.3f}" if replaced is not None else "threshold")
                + ", tuned on validation at that threshold's in-scope cost"
            )
        if run.export is not None:
            parity = run.export.parity
            out().print(
                f"ONNX: fp32 and int8 agree with the native model on {parity.fp32.agreement:.2%}"
                f" and {parity.int8.agreement:.2%} of {parity.n} test texts"
                + (
                    f" (int8 below {parity.min_agreement:.1%}: the stack serves fp32 only)"
                    if parity.int8.agreement < parity.min_agreement
                    else ""
                )
            )
        if deploy:
            decision = auto_deploy(spec, name, version=run.version.id, passed=run.passed)
            verb = "[green]deployed[/]" if decision.deployed else "[yellow]not deployed[/]"
            out().print(f"{verb}: {escape(decision.reason)}")
    if failed:
        raise typer.Exit(EXIT_GATES_FAILED)


@app.command()
def evaluate(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: TaskOption = DEFAULT_TASK,
    folds: Annotated[int, typer.Option(help="Number of folds.", min=2)] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
) -> None:
    """k-fold cross-validation report of the project's backend on all its examples.

    Example: intently evaluate --folds 5
    """
    from rich.table import Table

    from intently.evaluation import render
    from intently.pipeline import cross_validate_task

    spec = project_from(project)
    with progress_bar(f"{folds}-fold cross-validation") as progress:
        result = cross_validate_task(
            spec, task, folds=folds, on_fold=lambda f: progress(f"fold {f}/{folds}", f / folds)
        )
    table = Table(title=f"{folds}-fold cross-validation · {task}")
    for column in ("fold", "n", "accuracy", "macro F1"):
        table.add_column(column, justify="right")
    for fold in result.folds:
        table.add_row(str(fold.fold), str(fold.n), f"{fold.accuracy:.4f}", f"{fold.macro_f1:.4f}")
    summary = result.summary()
    table.add_row(
        "mean ± sd",
        "",
        f"{summary['accuracy_mean']:.4f} ± {summary['accuracy_std']:.4f}",
        f"{summary['macro_f1_mean']:.4f} ± {summary['macro_f1_std']:.4f}",
        style="bold",
    )
    out().print(table)
    out().print(render.report_table(result.pooled, title="pooled out-of-fold predictions"))
    out().print(render.per_label_table(result.pooled, worst=10))
    if json_out:
        json_out.write_text(
            json.dumps(
                {
                    "summary": summary,
                    "folds": [vars(f) for f in result.folds],
                    "pooled": result.pooled.to_json(),
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        out().print(f"Wrote {json_out}")


@app.command()
def benchmark(
    directory: Annotated[
        Path, typer.Argument(help="Folder with train.jsonl, test.jsonl (and valid.jsonl).")
    ],
    backend: Annotated[str, typer.Option(help="Backend name.")] = "linear",
    params: Annotated[str, typer.Option(help="Backend parameters as JSON.")] = "{}",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 13,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the JSON here.")] = None,
    export: Annotated[
        bool,
        typer.Option(
            "--export/--no-export",
            help="Also export to ONNX (parity on the test texts) and measure the int8 graph.",
        ),
    ] = False,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Keep the trained version directory under this folder."),
    ] = None,
) -> None:
    """Train on a public dataset folder, test, and time single-text and batch prediction.

    Example: intently benchmark ../shared/datasets/banking77 --backend linear --out bench.json
    """
    from rich.table import Table

    from intently.benchmark import run_benchmark, write_result

    try:
        parsed = json.loads(params)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--params is not JSON: {exc}") from None
    with progress_bar(f"benchmark {directory.name}") as progress:
        result = run_benchmark(
            directory,
            backend=backend,
            params=parsed,
            seed=seed,
            export=export,
            keep_dir=keep,
            progress=progress,
        )
    table = Table(title=f"{result['dataset']} · {backend}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if isinstance(value, dict) and key != "versions":
            for name, inner in value.items():
                if not isinstance(inner, dict):
                    table.add_row(f"{key}.{name}", "—" if inner is None else str(inner))
        elif key not in ("dataset", "backend", "versions"):
            table.add_row(key, "—" if value is None else str(value))
    out().print(table)
    if out_file:
        write_result(result, out_file)
        out().print(f"Wrote {out_file}")
