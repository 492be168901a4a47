"""Tuning benchmarks: does a study beat the defaults on test, and do two workers halve the time?

``quality``: for BANKING77 and CLINC150, the linear backend with its defaults and with the best
parameters of an Optuna study (``--trials`` trials, 3-fold out-of-fold macro-F1 of train+valid,
median pruning, the defaults enqueued as trial 0). Both are fitted on train (valid for
calibration and the OOS threshold, as ``intently train`` does) and scored once on test, which
the study never sees.

``workers``: the same study plan on a PostgreSQL storage, run to ``--trials`` finished trials by
one worker (this process, as ``intently tune``) and then by two worker processes (``intently
tune --workers 2``), back to back, pruning off; the two-worker study is given the one-worker
study's parameter sets, in order, so both do the same work. Load averages before and after each.

Results merge into ``docs/benchmarks/tuning.json``.

    .venv/bin/python bench/tuning.py quality --datasets ../shared/datasets --trials 30
    .venv/bin/python bench/tuning.py workers --datasets ../shared/datasets --trials 12 \\
        --storage postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from intently.benchmark import load_benchmark_dataset
from intently.evaluation.metrics import EvaluationReport
from intently.pipeline import evaluate_model, fit_dataset
from intently.spec import FallbackSpec, TrainingSpec, load_project
from intently.spec.search_space import resolve_space
from intently.tuning.objective import Objective, baseline_trial, folds_for
from intently.tuning.study import (
    create_study,
    open_study,
    optimize,
    plan_of,
    run_study,
    summarise,
)

OUT = Path("docs/benchmarks/tuning.json")
SEED = 13


def test_scores(report: EvaluationReport) -> dict[str, Any]:
    row = {"accuracy": round(report.accuracy, 4), "macro_f1": round(report.macro_f1, 4)}
    if report.oos is not None:
        row["in_scope_accuracy"] = round(report.oos.in_scope_accuracy, 4)
        row["oos_recall"] = round(report.oos.oos_recall, 4)
    return row


def fit_and_test(data: Any, params: dict[str, Any]) -> dict[str, Any]:
    training = TrainingSpec(backend="linear", params=params, seed=SEED)
    fitted = fit_dataset(data, training, FallbackSpec(label="oos"))
    report = evaluate_model(fitted.model, fitted.rule, data.test, defined=data.labels)
    return {**test_scores(report), "threshold": round(fitted.rule.threshold, 4)}


def quality(datasets: Path, names: list[str], trials: int, timeout: float | None) -> dict:
    rows = {}
    for name in names:
        data = load_benchmark_dataset(datasets / name)
        examples = (*data.train, *data.valid)
        space = resolve_space("linear", {})
        objective = Objective(
            examples=examples,
            backend="linear",
            base_params={},
            space=space,
            folds=folds_for(len(examples), "auto"),
            seed=SEED,
            task=name,
        )
        storage = f"sqlite:///{tempfile.mkdtemp(prefix='intently-tune-')}/optuna.db"
        study = open_study(plan_of(objective, data.fingerprint), storage, name, seed=SEED)
        study.enqueue_trial(baseline_trial("linear", {}, space))
        started = time.perf_counter()
        load_before = os.getloadavg()[0]
        optimize(
            study,
            objective,
            trials=trials,
            timeout=timeout,
            on_trial=lambda p, name=name: print(
                f"{name} trial {p.trial.number} {p.trial.state} {p.trial.value} "
                f"best {p.best.value if p.best else None}",
                flush=True,
            ),
        )
        result = summarise(study, objective, storage=storage, seconds=time.perf_counter() - started)
        default_cv = next(t.value for t in result.trials if t.number == 0)
        rows[name] = {
            "n_train_valid": len(examples),
            "n_test": len(data.test),
            "folds": result.folds,
            "study_seconds": round(result.seconds, 1),
            "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "trials": result.counts,
            "cv_macro_f1": {"defaults": default_cv, "best": result.best_value},
            "best_trial": result.best_number,
            "best_params": result.best_params,
            "test": {
                "defaults": fit_and_test(data, {}),
                "tuned": fit_and_test(data, result.best_params),
            },
        }
        print(json.dumps({name: rows[name]}, indent=2), flush=True)
    return rows


def workers(datasets: Path, name: str, trials: int, storage: str) -> dict:
    """One worker, then two, on fresh studies of the same plan in ``storage``."""
    folder = Path(tempfile.mkdtemp(prefix="intently-workers-"))
    project_file = folder / "intently.yaml"
    project_file.write_text(
        yaml.safe_dump(
            {
                "name": f"bench-{secrets.token_hex(3)}",
                "datasets": [str(datasets.resolve() / name / "train.jsonl")],
                "training": {"backend": "linear", "seed": SEED},
                "tuning": {"folds": 3, "pruning": False},
            }
        ),
        encoding="utf-8",
    )
    project = load_project(project_file)
    runs = {}
    first_params: list[dict[str, Any]] = []
    for count in (1, 2):
        study_name = f"{project.name}-{count}w"
        if first_params:
            # the same parameter sets as the one-worker run (trial 0, the defaults, is enqueued
            # by create_study), so both runs do the same work and only the parallelism differs
            study, _ = create_study(project, storage=storage, study_name=study_name)
            for params in first_params[1:]:
                study.enqueue_trial(params)
        before = os.getloadavg()
        started = time.perf_counter()
        result = run_study(
            project,
            trials=trials,
            storage=storage,
            study_name=study_name,
            workers=count,
        )
        if not first_params:
            first_params = [row.params for row in sorted(result.trials, key=lambda r: r.number)]
        seconds = time.perf_counter() - started
        finished = result.counts.get("COMPLETE", 0) + result.counts.get("PRUNED", 0)
        runs[f"{count}_worker"] = {
            "seconds": round(seconds, 1),
            "finished_trials": finished,
            "seconds_per_trial": round(seconds / finished, 2),
            "load_before": [round(x, 2) for x in before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(runs, indent=2), flush=True)
    one, two = runs["1_worker"], runs["2_worker"]
    return {
        "dataset": f"{name} train.jsonl (project split 70/15/15; study on train+valid)",
        "trials": trials,
        "cpus": os.cpu_count(),
        **runs,
        "ratio_wall": round(two["seconds"] / one["seconds"], 3),
        "ratio_per_trial": round(two["seconds_per_trial"] / one["seconds_per_trial"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["quality", "workers"])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--names", nargs="+", default=["banking77", "clinc150"])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--storage", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    existing = json.loads(OUT.read_text()) if OUT.is_file() else {}
    if args.what == "quality":
        rows = quality(args.datasets, args.names, args.trials, args.timeout)
        existing["quality"] = {**existing.get("quality", {}), **rows}
    else:
        existing["workers"] = workers(args.datasets, args.names[0], args.trials, args.storage)
    OUT.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
