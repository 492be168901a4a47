"""Stacks whose weights are learned on cross-fitted predictions: do they beat their members?

For each dataset, one ``stack`` fit through ``intently.pipeline.fit_dataset`` (what ``intently
train`` runs: the stack learns its weights on out-of-fold probabilities of train + valid and the
out-of-scope threshold is tuned on the stack's out-of-fold rows of valid, with the default
in-scope budget). From the same run: each member as fitted inside the stack (on train, its
threshold tuned on its own validation probabilities, as ``train`` would for that backend alone)
and the equal-weight average of the members (threshold on the average of their validation
probabilities). Everything is scored once on test. The targets were declared before any test
number was seen: the stack beats its best member and the equal-weight average on each dataset,
and on CLINC150 reaches in-scope accuracy >= 0.96 with OOS recall >= 0.80.

    .venv/bin/python bench/stack_oof.py --datasets ../shared/datasets \\
        --members '[{"backend": "linear"}, {"backend": "embedding"}]'

Results merge into ``docs/benchmarks/stack_oof.json`` (one entry per ``--label``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from intently.benchmark import load_benchmark_dataset
from intently.pipeline import evaluate_model, fit_dataset
from intently.runtime.fallback import FallbackRule, tune_threshold
from intently.spec import FallbackSpec, TrainingSpec

OUT = Path("docs/benchmarks/stack_oof.json")
SEED = 13
OOS = "oos"


class Fixed:
    """A fitted probability source with given test probabilities (a member or an average)."""

    def __init__(self, classes: tuple[str, ...], test_proba: np.ndarray):
        self.classes_ = classes
        self._proba = test_proba

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        assert len(texts) == len(self._proba)
        return self._proba


def rule_from(valid_proba: np.ndarray | None, classes: tuple[str, ...], data: Any) -> FallbackRule:
    """The OOS rule ``intently train`` would tune on ``valid_proba`` (default in-scope budget)."""
    threshold = 0.0
    if valid_proba is not None and data.valid:
        choice = tune_threshold(
            valid_proba,
            [e.label for e in data.valid],
            classes,
            fallback_label=OOS,
            max_in_scope_drop=FallbackSpec(label=OOS).max_in_scope_drop,
        )
        threshold = choice.threshold if choice else 0.0
    return FallbackRule(OOS, threshold, 0.0)


def scored(model: Any, rule: FallbackRule, data: Any) -> dict[str, Any]:
    """Test scores of ``model`` under ``rule``."""
    report = evaluate_model(model, rule, data.test, defined=data.labels)
    row = {
        "accuracy": round(report.accuracy, 4),
        "macro_f1": round(report.macro_f1, 4),
        "threshold": round(rule.threshold, 4),
    }
    if report.oos is not None:
        row["in_scope_accuracy"] = round(report.oos.in_scope_accuracy, 4)
        row["oos_recall"] = round(report.oos.oos_recall, 4)
    return row


def run(directory: Path, members: list[dict[str, Any]], folds: int) -> dict[str, Any]:
    data = load_benchmark_dataset(directory)
    training = TrainingSpec(backend="stack", params={"members": members, "folds": folds}, seed=SEED)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    fitted = fit_dataset(data, training, FallbackSpec(label=OOS))
    seconds = time.perf_counter() - started
    stack = fitted.model
    test_texts = [e.text for e in data.test]
    member_test = [m.predict_proba(test_texts) for m in stack.members_]
    member_valid = [m.validation_proba_ for m in stack.members_]
    row: dict[str, Any] = {
        "n_train": len(data.train),
        "n_valid": len(data.valid),
        "n_test": len(data.test),
        "fit_seconds": round(seconds, 1),
        "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "weights": [round(float(w), 3) for w in stack.weights_],
    }
    row["stack"] = scored(stack, fitted.rule, data)
    for i, (member, test_proba) in enumerate(zip(stack.members_, member_test, strict=True)):
        name = f"member_{i}_{member.name}"
        rule = rule_from(member_valid[i], stack.classes_, data)
        row[name] = scored(Fixed(stack.classes_, test_proba), rule, data)
    equal_valid = None if any(v is None for v in member_valid) else np.mean(member_valid, axis=0)
    average = Fixed(stack.classes_, np.mean(member_test, axis=0))
    row["equal_average"] = scored(average, rule_from(equal_valid, stack.classes_, data), data)
    best_member = max(
        (v["accuracy"] for k, v in row.items() if k.startswith("member_")), default=0.0
    )
    row["targets"] = {
        "beats_best_member": row["stack"]["accuracy"] > best_member,
        "beats_equal_average": row["stack"]["accuracy"] > row["equal_average"]["accuracy"],
    }
    if "in_scope_accuracy" in row["stack"]:
        row["targets"]["clinc_in_scope_0.96_oos_0.80"] = (
            row["stack"]["in_scope_accuracy"] >= 0.96 and row["stack"]["oos_recall"] >= 0.80
        )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--names", nargs="+", default=["snips", "banking77", "clinc150"])
    parser.add_argument("--members", default='[{"backend": "linear"}, {"backend": "embedding"}]')
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--label", default="linear+embedding")
    args = parser.parse_args(argv)
    members = json.loads(args.members)
    results = {}
    for name in args.names:
        results[name] = run(args.datasets / name, members, args.folds)
        print(json.dumps({name: results[name]}, indent=2), flush=True)
    existing = json.loads(OUT.read_text()) if OUT.is_file() else {}
    existing[args.label] = {
        "members": members,
        "folds": args.folds,
        "datasets": results,
    }
    OUT.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
