"""A study's files in a run report: the proposed ``training`` block, the trial table, the
study summary and Optuna's history and importance plots (PNG, drawn with matplotlib).

Also the error analysis written when a tuned model still fails its gates: which intents stay
below the per-intent threshold, what they are confused with, and about how many more examples
each needs (:func:`intently.evaluation.gates.weak_intents` gives the estimate and its model).
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from intently.evaluation.gates import WeakIntent
from intently.tuning.result import StudyResult

PROPOSED_FILE = "tuning_best_params.yaml"
TRIALS_FILE = "tuning_trials.csv"
STUDY_FILE = "tuning_study.json"
HISTORY_PLOT = "tuning_history.png"
IMPORTANCE_PLOT = "tuning_importance.png"
ANALYSIS_FILE = "error_analysis.json"
ANALYSIS_TEXT = "error_analysis.md"


def proposed_yaml(result: StudyResult, seed: int) -> str:
    """The ``training:`` block to paste into the project file, with a comment on its origin."""
    header = (
        f"# best of study '{result.study_name}': {result.metric} {result.best_value:.4f} "
        f"(trial {result.best_number}, {result.folds}-fold out-of-fold, {result.examples} "
        "train+valid examples)\n"
    )
    return header + yaml.safe_dump(
        result.proposed_training(seed), sort_keys=False, default_flow_style=None
    )


def write_study_files(result: StudyResult, directory: Path, *, seed: int) -> list[Path]:
    """Write the study's files into ``directory``. The plots read the study back from its
    storage; one Optuna cannot draw (too few finished trials) is skipped, with the reason in
    the summary."""
    directory = Path(directory)
    written = [directory / PROPOSED_FILE, directory / TRIALS_FILE, directory / STUDY_FILE]
    written[0].write_text(proposed_yaml(result, seed), encoding="utf-8")
    _write_trials(result, written[1])
    summary = result.to_json()
    summary["plots"] = {}
    if result.storage_url:
        for name, path in _write_plots(result, directory, result.storage_url).items():
            summary["plots"][name] = path.name if isinstance(path, Path) else path
            if isinstance(path, Path):
                written.append(path)
    written[2].write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return written


def _write_trials(result: StudyResult, path: Path) -> None:
    names = sorted({key for row in result.trials for key in row.params})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "state", "value", "seconds", "last_step", *names])
        for row in result.trials:
            writer.writerow(
                [
                    row.number,
                    row.state,
                    "" if row.value is None else f"{row.value:.6f}",
                    "" if row.seconds is None else f"{row.seconds:.2f}",
                    "" if row.step is None else row.step,
                    *(json.dumps(row.params.get(name)) for name in names),
                ]
            )


def _write_plots(result: StudyResult, directory: Path, storage_url: str) -> dict[str, Path | str]:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as plots

    from intently.tuning.study import open_storage

    study = optuna.load_study(study_name=result.study_name, storage=open_storage(storage_url))
    out: dict[str, Path | str] = {}
    for name, draw, filename in (
        ("history", plots.plot_optimization_history, HISTORY_PLOT),
        ("importance", plots.plot_param_importances, IMPORTANCE_PLOT),
    ):
        try:
            with warnings.catch_warnings():  # the matplotlib plots are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                axes = draw(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            out[name] = f"not drawn: {exc}"
            continue
        figure = axes.figure if hasattr(axes, "figure") else plt.gcf()
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(directory / filename, dpi=100)
        plt.close(figure)
        out[name] = directory / filename
    return out


def write_error_analysis(
    weak: Sequence[WeakIntent], directory: Path, *, threshold: float, evaluated_on: str
) -> list[Path]:
    """The intents still below ``threshold`` (min_intent_f1) after tuning, as JSON and text."""
    rows: list[dict[str, Any]] = [
        {
            "intent": item.label,
            "f1": round(item.f1, 4),
            "support": item.support,
            "train_examples": item.train_examples,
            "confused_with": [{"intent": label, "count": n} for label, n in item.confused_with],
            "more_examples_estimate": item.more_examples,
        }
        for item in weak
    ]
    estimate = (
        "error assumed to fall like 1/sqrt(n) with n training examples (a common learning-curve "
        "shape for linear text classifiers): n·((1−f1)/(1−threshold))² examples reach the "
        "threshold. A rough guide, not a promise."
    )
    json_path, text_path = directory / ANALYSIS_FILE, directory / ANALYSIS_TEXT
    json_path.write_text(
        json.dumps(
            {
                "threshold": threshold,
                "evaluated_on": evaluated_on,
                "estimate": estimate,
                "intents": rows,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    lines = [
        "# Intents below the per-intent threshold after tuning",
        "",
        f"min_intent_f1 = {threshold}, measured on {evaluated_on}. Estimate: {estimate}",
        "",
        "| intent | F1 | train examples | confused with | add about |",
        "|---|---:|---:|---|---:|",
    ]
    for row in rows:
        confused = ", ".join(f"{c['intent']} ({c['count']})" for c in row["confused_with"])
        lines.append(
            f"| {row['intent']} | {row['f1']:.3f} | {row['train_examples']} | "
            f"{confused or '—'} | {row['more_examples_estimate']} |"
        )
    text_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [json_path, text_path]
