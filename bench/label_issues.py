"""Label-error finding on BANKING77 with 5% of the training labels flipped at random.

For each seed, ``--noise`` of the training examples get a label drawn uniformly from the other
76 (``numpy.random.default_rng(seed)``). Each model of ``--members`` (``linear``; ``embedding``:
the frozen all-MiniLM-L6-v2 encoder + logistic regression, ``finetune: none``) computes 5-fold
out-of-fold probabilities once; every ``--configs`` entry (members joined by ``+``) averages its
members' and runs ``intently.curation.label_issues.find_issues`` on the mean, as
``intently data issues --members ...`` does. Reported per configuration, per seed and as the
mean of the seeds:

- ``top10_recall``: share of the flipped examples among the lowest-ranked 10% of the data
  (the issue's target: >= 0.70), and ``top10_precision``;
- ``flagged``: the confident-learning issue set, its precision and recall;
- accuracy of the linear backend trained on the clean, the noisy and the cleaned train set
  (noisy minus the flagged examples), and ``recovered`` = (cleaned - noisy) / (clean - noisy)
  (target: >= 0.80); for reference, ``oracle_accuracy`` / ``oracle_recovered``: the noisy set
  minus exactly the flipped examples (the best any removal can do: it also loses 5% of the
  data).

``--split test`` (the default) trains on the full train set and scores the test set.
``--split valid`` is the protocol choices are made on: the train set is split 85/15
(stratified, seed 0), labels are flipped in the 85% and accuracy is scored on the 15%; the
test set is not read.

    .venv/bin/python bench/label_issues.py --split valid --seeds 1 2 3 \\
        --out docs/benchmarks/label_issues_valid.json
    .venv/bin/python bench/label_issues.py

Writes ``docs/benchmarks/label_issues.json`` by default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends import make_backend
from intently.curation.label_issues import (
    OutOfFold,
    average,
    find_issues,
    issue_count,
    label_quality_ranking,
    out_of_fold_proba,
)
from intently.data import Example, columns, read_examples, stratified_split

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "label_issues.json"
MEMBER_PARAMS: dict[str, dict[str, Any]] = {"linear": {}, "embedding": {"finetune": "none"}}
"""What `intently data issues --members` fits (a task's own parameters aside)."""


def flip_labels(
    examples: Sequence[Example], share: float, seed: int
) -> tuple[list[Example], np.ndarray]:
    """A copy of ``examples`` with ``share`` of the labels replaced by a random other label."""
    rng = np.random.default_rng(seed)
    labels = sorted({e.label for e in examples})
    flipped = rng.choice(len(examples), size=round(share * len(examples)), replace=False)
    noisy = list(examples)
    for i in flipped:
        others = [label for label in labels if label != examples[i].label]
        noisy[i] = replace(examples[i], label=others[int(rng.integers(len(others)))])
    mask = np.zeros(len(examples), dtype=bool)
    mask[flipped] = True
    return noisy, mask


def accuracy(train: Sequence[Example], scored: Sequence[Example], seed: int) -> float:
    """Accuracy on ``scored`` of the linear backend fitted on ``train``."""
    texts, labels, weights = columns(train)
    model = make_backend("linear", seed=seed).fit(texts, labels, weights)
    proba = model.predict_proba([e.text for e in scored])
    predicted = np.asarray(model.classes_)[proba.argmax(axis=1)]
    return float(np.mean(predicted == np.asarray([e.label for e in scored])))


def score_config(
    train: Sequence[Example],
    noisy: Sequence[Example],
    flipped: np.ndarray,
    scored: Sequence[Example],
    members: Sequence[OutOfFold],
    seed: int,
) -> dict[str, float | int]:
    """Ranking and flagged-set quality of the members' average (what `intently data issues
    --members` flags), and the accuracy after removing the flagged."""
    report = find_issues(noisy, average(members), n_issues=issue_count(members))
    top = label_quality_ranking(report.out_of_fold)[: len(noisy) // 10]
    flagged = np.zeros(len(noisy), dtype=bool)
    flagged[[issue.index for issue in report.label_issues]] = True
    hits = int(np.count_nonzero(flipped[flagged]))
    suggested_right = sum(
        issue.suggested_label == train[issue.index].label
        for issue in report.label_issues
        if flipped[issue.index]
    )
    cleaned = [e for i, e in enumerate(noisy) if not flagged[i]]
    return {
        "top10_recall": round(float(flipped[top].sum() / flipped.sum()), 4),
        "top10_precision": round(float(flipped[top].mean()), 4),
        "flagged": int(flagged.sum()),
        "flagged_precision": round(hits / max(int(flagged.sum()), 1), 4),
        "flagged_recall": round(hits / int(flipped.sum()), 4),
        "suggested_label_right": round(suggested_right / max(hits, 1), 4),
        "duplicates": len(report.duplicates),
        "outliers": len(report.outliers),
        "cleaned_accuracy": round(accuracy(cleaned, scored, seed), 4),
    }


def run_seed(
    train: Sequence[Example],
    scored: Sequence[Example],
    clean_accuracy: float,
    seed: int,
    noise: float,
    configs: Sequence[tuple[str, ...]],
) -> dict[str, Any]:
    noisy, flipped = flip_labels(train, noise, seed)
    noisy_accuracy = accuracy(noisy, scored, seed)
    oracle_accuracy = accuracy([e for i, e in enumerate(noisy) if not flipped[i]], scored, seed)
    lost = clean_accuracy - noisy_accuracy
    oofs: dict[str, OutOfFold] = {}
    seconds: dict[str, float] = {}
    for name in dict.fromkeys(m for config in configs for m in config):
        started = time.perf_counter()
        oofs[name] = out_of_fold_proba(
            noisy, backend=name, params=MEMBER_PARAMS[name], folds=5, seed=seed
        )
        seconds[name] = round(time.perf_counter() - started, 1)
    row: dict[str, Any] = {
        "seed": seed,
        "flipped": int(flipped.sum()),
        "noisy_accuracy": round(noisy_accuracy, 4),
        "oracle_accuracy": round(oracle_accuracy, 4),
        "oracle_recovered": round((oracle_accuracy - noisy_accuracy) / lost, 4) if lost else None,
        "out_of_fold_seconds": seconds,
        "configs": {},
    }
    for config in configs:
        scores = score_config(train, noisy, flipped, scored, [oofs[m] for m in config], seed)
        gained = scores["cleaned_accuracy"] - noisy_accuracy
        scores["recovered"] = round(gained / lost, 4) if lost else None
        row["configs"]["+".join(config)] = scores
    return row


def mean_of(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in rows[0] if k != "seed" and all(isinstance(r[k], float | int) for r in rows)]
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("/work/shared/datasets"))
    parser.add_argument("--split", choices=("test", "valid"), default="test")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15])
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument(
        "--configs", nargs="+", default=["linear", "linear+embedding"], help="e.g. linear+embedding"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    configs = [tuple(c.split("+")) for c in args.configs]
    folder = args.datasets / "banking77"
    train = read_examples(folder / "train.jsonl")
    if args.split == "valid":
        part, held, _ = stratified_split(train, (0.85, 0.15, 0.0), seed=0)
        train, scored = list(part), list(held)
    else:
        scored = read_examples(folder / "test.jsonl")
    clean_accuracy = accuracy(train, scored, args.seeds[0])
    print(f"clean {args.split} accuracy {clean_accuracy:.4f}", flush=True)
    rows = []
    for seed in args.seeds:
        row = run_seed(train, scored, clean_accuracy, seed, args.noise, configs)
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {
        "dataset": "banking77",
        "split": args.split,
        "train": len(train),
        "scored": len(scored),
        "noise": args.noise,
        "folds": 5,
        "member_params": {m: MEMBER_PARAMS[m] for c in configs for m in c},
        "clean_accuracy": round(clean_accuracy, 4),
        "mean": {
            "+".join(c): mean_of([{**r, **r["configs"]["+".join(c)]} for r in rows])
            for c in configs
        },
        "seeds": rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["mean"], indent=2))


if __name__ == "__main__":
    main()
