"""Label-error finding on BANKING77 with 5% of the training labels flipped at random.

For each seed, ``--noise`` of the training examples get a label drawn uniformly from the other
76 (``numpy.random.default_rng(seed)``). ``intently.curation.label_issues`` then computes
5-fold out-of-fold probabilities with the ``linear`` backend and ranks every example by
self-confidence. Reported per seed and as the mean of the seeds:

- ``top10_recall``: share of the flipped examples among the lowest-ranked 10% of the data
  (the issue's target: >= 0.70), and ``top10_precision``;
- ``flagged``: the confident-learning issue set (prune by noise rate), its precision and recall;
- test accuracy of the linear backend trained on the clean, the noisy and the cleaned train set
  (noisy minus the flagged examples), and ``recovered`` = (cleaned - noisy) / (clean - noisy)
  (target: >= 0.80); for reference, ``oracle_accuracy`` / ``oracle_recovered``: the noisy set
  minus exactly the flipped examples (the best any removal can do: it also loses 5% of the
  data).

    .venv/bin/python bench/label_issues.py --datasets /work/shared/datasets

Writes ``docs/benchmarks/label_issues.json``.
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

import numpy as np

from intently.backends import make_backend
from intently.curation.label_issues import find_issues, label_quality_ranking, out_of_fold_proba
from intently.data import Example, columns, read_examples

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "label_issues.json"


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


def test_accuracy(train: Sequence[Example], test: Sequence[Example], seed: int) -> float:
    texts, labels, weights = columns(train)
    model = make_backend("linear", seed=seed).fit(texts, labels, weights)
    proba = model.predict_proba([e.text for e in test])
    predicted = np.asarray(model.classes_)[proba.argmax(axis=1)]
    return float(np.mean(predicted == np.asarray([e.label for e in test])))


def run_seed(
    train: Sequence[Example],
    test: Sequence[Example],
    clean_accuracy: float,
    seed: int,
    noise: float,
) -> dict[str, float | int]:
    noisy, flipped = flip_labels(train, noise, seed)
    noisy_accuracy = test_accuracy(noisy, test, seed)
    started = time.perf_counter()
    oof = out_of_fold_proba(noisy, backend="linear", folds=5, seed=seed)
    report = find_issues(noisy, oof)
    find_seconds = time.perf_counter() - started
    top = label_quality_ranking(oof)[: len(noisy) // 10]
    flagged = np.zeros(len(noisy), dtype=bool)
    flagged[[issue.index for issue in report.label_issues]] = True
    suggested_right = sum(
        issue.suggested_label == train[issue.index].label
        for issue in report.label_issues
        if flipped[issue.index]
    )
    cleaned = [e for i, e in enumerate(noisy) if not flagged[i]]
    cleaned_accuracy = test_accuracy(cleaned, test, seed)
    oracle_accuracy = test_accuracy([e for i, e in enumerate(noisy) if not flipped[i]], test, seed)
    lost = clean_accuracy - noisy_accuracy
    hits = int(np.count_nonzero(flipped[flagged]))
    return {
        "seed": seed,
        "flipped": int(flipped.sum()),
        "top10_recall": round(float(flipped[top].mean() * len(top) / flipped.sum()), 4),
        "top10_precision": round(float(flipped[top].mean()), 4),
        "flagged": int(flagged.sum()),
        "flagged_precision": round(hits / max(int(flagged.sum()), 1), 4),
        "flagged_recall": round(hits / int(flipped.sum()), 4),
        "suggested_label_right": round(suggested_right / max(hits, 1), 4),
        "duplicates": len(report.duplicates),
        "outliers": len(report.outliers),
        "noisy_accuracy": round(noisy_accuracy, 4),
        "cleaned_accuracy": round(cleaned_accuracy, 4),
        "recovered": round((cleaned_accuracy - noisy_accuracy) / lost, 4) if lost else None,
        "oracle_accuracy": round(oracle_accuracy, 4),
        "oracle_recovered": round((oracle_accuracy - noisy_accuracy) / lost, 4) if lost else None,
        "find_seconds": round(find_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("/work/shared/datasets"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15])
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    folder = args.datasets / "banking77"
    train, test = read_examples(folder / "train.jsonl"), read_examples(folder / "test.jsonl")
    clean_accuracy = test_accuracy(train, test, args.seeds[0])
    print(f"clean test accuracy {clean_accuracy:.4f}", flush=True)
    rows = []
    for seed in args.seeds:
        row = run_seed(train, test, clean_accuracy, seed, args.noise)
        print(json.dumps(row), flush=True)
        rows.append(row)
    keys = [k for k in rows[0] if k != "seed" and all(isinstance(r[k], float | int) for r in rows)]
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}
    result = {
        "dataset": "banking77",
        "train": len(train),
        "test": len(test),
        "noise": args.noise,
        "backend": "linear",
        "folds": 5,
        "clean_accuracy": round(clean_accuracy, 4),
        "mean": mean,
        "seeds": rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(mean, indent=2))


if __name__ == "__main__":
    main()
