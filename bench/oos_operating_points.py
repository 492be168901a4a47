"""CLINC150: how the out-of-scope threshold's in-scope budget trades in-scope accuracy for OOS
recall, for single members and stacks of them.

Fits linear, embedding and transformer once on train (valid for early stopping and for their
held-out ``validation_proba_``), then for each combination mixes the probabilities with the
stack's learned weights, tunes the threshold on valid with ``max_in_scope_drop`` in
:data:`BUDGETS` (what ``intently train`` does) and scores test. Also reports the best test
in-scope accuracy at OOS recall >= 0.75 over all thresholds (an oracle: chosen on test).
Writes ``docs/benchmarks/decisions/oos_operating_points.json``.

    .venv/bin/python bench/oos_operating_points.py --datasets ../shared/datasets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from intently.backends import make_backend
from intently.backends.stack import learn_weights
from intently.benchmark import load_benchmark_dataset
from intently.runtime.fallback import FallbackRule, operating_point, top_two, tune_threshold
from intently.spec import FallbackSpec

MEMBERS = ("linear", "embedding", "transformer")
COMBINATIONS = (
    ("linear",),
    ("embedding",),
    ("transformer",),
    ("linear", "transformer"),
    ("linear", "embedding", "transformer"),
)
BUDGETS = (0.005, 0.01, 0.02, 0.03)
OOS = "oos"
SEED = 13
DEFAULT_BUDGET = FallbackSpec(label=OOS).max_in_scope_drop


def member_probabilities(data, name: str, cache: Path) -> dict[str, np.ndarray]:
    """Held-out validation and test probabilities of member ``name`` (cached as .npz)."""
    path = cache / f"clinc_{name}.npz"
    if path.is_file():
        return dict(np.load(path))
    texts, labels = [e.text for e in data.train], [e.label for e in data.train]
    valid = ([e.text for e in data.valid], [e.label for e in data.valid])
    started = time.perf_counter()
    model = make_backend(name, {}, seed=SEED).fit(texts, labels, valid=valid)
    print(f"{name}: fitted in {time.perf_counter() - started:.0f} s", flush=True)
    probabilities = {
        "valid": model.validation_proba_,
        "test": model.predict_proba([e.text for e in data.test]),
        "classes": np.array(model.classes_),
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **probabilities)
    return probabilities


def score(proba: np.ndarray, truth: np.ndarray, classes: list[str], threshold: float):
    return operating_point(FallbackRule(OOS, threshold), top_two(proba), truth, classes)


def tuned_threshold(proba: np.ndarray, labels: np.ndarray, classes: list[str]) -> float:
    """The threshold ``intently train`` tunes on these validation rows (default budget; 0
    without out-of-scope rows)."""
    choice = tune_threshold(
        proba, list(labels), classes, fallback_label=OOS, max_in_scope_drop=DEFAULT_BUDGET
    )
    return choice.threshold if choice else 0.0


def held_out_row(
    proba: np.ndarray, truth: np.ndarray, classes: list[str], threshold: float
) -> dict[str, float]:
    """What ``threshold`` does on held-out texts: in-scope accuracy, OOS recall, the in-scope
    drop against no threshold (what the budget bounds) and their balanced objective."""
    baseline, _ = score(proba, truth, classes, 0.0)
    in_scope, recall = score(proba, truth, classes, threshold)
    return {
        "threshold": round(threshold, 4),
        "in_scope_accuracy": round(in_scope, 4),
        "oos_recall": round(recall, 4),
        "in_scope_drop": round(baseline - in_scope, 4),
        "objective": round((in_scope + recall) / 2, 4),
    }


def oracle(proba: np.ndarray, truth: np.ndarray, classes: list[str], min_recall: float) -> float:
    """Best test in-scope accuracy over thresholds whose test OOS recall is >= min_recall."""
    ranked = top_two(proba)
    best = 0.0
    for threshold in np.unique(np.round(ranked[1], 3)):
        in_scope, recall = operating_point(FallbackRule(OOS, threshold), ranked, truth, classes)
        if recall >= min_recall:
            best = max(best, in_scope)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--cache", type=Path, default=Path("build/oos_operating_points"))
    parser.add_argument(
        "--out", type=Path, default=Path("docs/benchmarks/decisions/oos_operating_points.json")
    )
    args = parser.parse_args()
    if not (args.datasets / "clinc150").is_dir():
        print(f"no clinc150 under {args.datasets}", file=sys.stderr)
        return 2
    data = load_benchmark_dataset(args.datasets / "clinc150")
    members = {name: member_probabilities(data, name, args.cache) for name in MEMBERS}
    classes = [str(c) for c in members["linear"]["classes"]]
    valid_truth = np.array([e.label for e in data.valid])
    test_truth = np.array([e.label for e in data.test])
    rows = []
    for combination in COMBINATIONS:
        valid = [members[name]["valid"] for name in combination]
        weights = (
            learn_weights(valid, np.searchsorted(classes, valid_truth))
            if len(combination) > 1
            else np.ones(1)
        )
        mix_valid = sum(w * p for w, p in zip(weights, valid, strict=True))
        mix_test = sum(w * members[n]["test"] for w, n in zip(weights, combination, strict=True))
        row = {
            "members": list(combination),
            "weights": [round(float(w), 3) for w in weights],
            "no_threshold": dict(
                zip(
                    ("in_scope", "oos_recall"),
                    score(mix_test, test_truth, classes, 0.0),
                    strict=True,
                )
            ),
            "budgets": [],
            "oracle_in_scope_at_recall_0.75": oracle(mix_test, test_truth, classes, 0.75),
        }
        for budget in BUDGETS:
            choice = tune_threshold(
                mix_valid, valid_truth, classes, fallback_label=OOS, max_in_scope_drop=budget
            )
            threshold = choice.threshold if choice else 0.0
            in_scope, recall = score(mix_test, test_truth, classes, threshold)
            row["budgets"].append(
                {
                    "max_in_scope_drop": budget,
                    "threshold": round(threshold, 4),
                    "test_in_scope": round(in_scope, 4),
                    "test_oos_recall": round(recall, 4),
                }
            )
            print(
                f"{'+'.join(combination):32s} budget {budget:<5} threshold {threshold:.3f} "
                f"in-scope {in_scope:.4f} OOS recall {recall:.4f}",
                flush=True,
            )
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"dataset": "clinc150", "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
