"""CLINC150: the out-of-scope threshold tuned on cross-fitted validation rows vs on the rows
that chose the kept epoch / checkpoint / temperature (issue 14, item 6).

Each backend is fitted once on train with valid, as ``intently train`` fits it. Its
``validation_proba_`` are cross-fitted (:mod:`intently.evaluation.selection`); the rows it
handed the threshold tuner before that change are recomputed from the same fit by applying the
choice made on *all* validation rows to all of them (the wrapper below records both). For each
set of rows the threshold is tuned with the default budget (``max_in_scope_drop`` 0.01) and
test is scored: in-scope accuracy, OOS recall, and the in-scope drop against no threshold, which
the budget promises to keep at 0.01 or less. Writes ``docs/benchmarks/threshold_rows.json``.

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/threshold_rows.py linear spacy transformer
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import intently.backends.linear as linear_module
import intently.evaluation.selection as selection
from intently.backends import make_backend
from intently.benchmark import load_benchmark_dataset
from intently.runtime.fallback import FallbackRule, operating_point, top_two, tune_threshold

OOS = "oos"
SEED = 13
BUDGET = 0.01
PARAMS: dict[str, dict[str, Any]] = {"transformer": {"threads": 2}, "embedding": {"threads": 2}}


def fit_rows(data: Any, name: str, cache: Path) -> dict[str, np.ndarray]:
    """Cross-fitted and same-rows validation probabilities and test probabilities (cached)."""
    path = cache / f"clinc150_{name}.npz"
    if path.is_file():
        return dict(np.load(path))
    same_rows: list[np.ndarray] = []
    original = selection.cross_fitted

    def recording(targets, choose, apply, **kwargs):
        every = np.arange(len(targets))
        same_rows.append(apply(choose(every), every))
        return original(targets, choose, apply, **kwargs)

    selection.cross_fitted = recording
    linear_module.cross_fitted = recording
    try:
        started = time.perf_counter()
        model = make_backend(name, PARAMS.get(name, {}), seed=SEED).fit(
            [e.text for e in data.train],
            [e.label for e in data.train],
            valid=([e.text for e in data.valid], [e.label for e in data.valid]),
        )
        seconds = time.perf_counter() - started
    finally:
        selection.cross_fitted = original
        linear_module.cross_fitted = original
    if not same_rows:
        raise SystemExit(f"{name} made no choice on its validation rows: nothing to compare")
    rows = {
        "crossed": model.validation_proba_,
        "same": same_rows[-1],
        "test": model.predict_proba([e.text for e in data.test]),
        "classes": np.array(model.classes_),
        "seconds": np.array(seconds),
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **rows)
    return rows


def operating(proba: np.ndarray, truth: np.ndarray, classes: list[str], threshold: float):
    return operating_point(FallbackRule(OOS, threshold), top_two(proba), truth, classes)


def compare(name: str, rows: dict[str, np.ndarray], data: Any) -> dict[str, Any]:
    classes = [str(c) for c in rows["classes"]]
    valid_truth = np.array([e.label for e in data.valid])
    test_truth = np.array([e.label for e in data.test])
    baseline, _ = operating(rows["test"], test_truth, classes, 0.0)
    result: dict[str, Any] = {
        "backend": name,
        "fit_seconds": round(float(rows["seconds"]), 1),
        "test_in_scope_without_threshold": round(baseline, 4),
        # 0: every fold made the choice made on all rows, so the two sets of rows are one
        "max_row_difference": round(float(np.abs(rows["same"] - rows["crossed"]).max()), 4),
    }
    for kind in ("same", "crossed"):
        choice = tune_threshold(
            rows[kind], valid_truth, classes, fallback_label=OOS, max_in_scope_drop=BUDGET
        )
        threshold = choice.threshold if choice else 0.0
        in_scope, recall = operating(rows["test"], test_truth, classes, threshold)
        result[kind] = {
            "threshold": round(threshold, 4),
            "valid_in_scope_drop": round(
                choice.baseline_in_scope_accuracy - choice.in_scope_accuracy, 4
            )
            if choice
            else 0.0,
            "valid_oos_recall": round(choice.oos_recall, 4) if choice else 0.0,
            "test_in_scope": round(in_scope, 4),
            "test_in_scope_drop": round(baseline - in_scope, 4),
            "test_oos_recall": round(recall, 4),
        }
        print(
            f"{name:12s} {kind:8s} threshold {threshold:.4f} valid drop "
            f"{result[kind]['valid_in_scope_drop']:.4f} recall {result[kind]['valid_oos_recall']:.4f}"
            f" | test in-scope {in_scope:.4f} (drop {baseline - in_scope:.4f}) OOS recall "
            f"{recall:.4f}",
            flush=True,
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backends", nargs="+")
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--cache", type=Path, default=Path("build/threshold_rows"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/threshold_rows.json"))
    args = parser.parse_args()
    if not (args.datasets / "clinc150").is_dir():
        print(f"no clinc150 under {args.datasets}", file=sys.stderr)
        return 2
    data = load_benchmark_dataset(args.datasets / "clinc150")
    results = [compare(name, fit_rows(data, name, args.cache), data) for name in args.backends]
    previous = json.loads(args.out.read_text())["rows"] if args.out.is_file() else []
    kept = [row for row in previous if row["backend"] not in args.backends]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"dataset": "clinc150", "budget": BUDGET, "seed": SEED, "rows": kept + results}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
