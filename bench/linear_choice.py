"""Which linear classifier should the ``linear`` backend use? Measure, then pick.

Runs the same features with a temperature-scaled LinearSVC (the default) and with
LogisticRegression at two strengths, on each public dataset, through ``run_benchmark``.
Writes ``docs/benchmarks/decisions/linear_choice.json``; BENCHMARKS.md cites it.

    .venv/bin/python bench/linear_choice.py --datasets ../shared/datasets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from intently.benchmark import run_benchmark

CANDIDATES = {
    "svm C=1 (default)": {"classifier": "svm", "C": 1.0},
    "svm C=0.5": {"classifier": "svm", "C": 0.5},
    "logreg C=10": {"classifier": "logreg", "C": 10.0},
    "logreg C=30": {"classifier": "logreg", "C": 30.0},
}
FIELDS = (
    "accuracy",
    "macro_f1",
    "in_scope_accuracy",
    "oos_recall",
    "train_seconds",
    "predict_p50_ms",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument(
        "--out", type=Path, default=Path("docs/benchmarks/decisions/linear_choice.json")
    )
    args = parser.parse_args()
    if not args.datasets.is_dir():
        print(f"no datasets folder at {args.datasets}", file=sys.stderr)
        return 2
    rows = []
    for dataset in ("banking77", "clinc150", "snips"):
        for name, params in CANDIDATES.items():
            started = time.perf_counter()
            result = run_benchmark(args.datasets / dataset, params=params)
            rows.append(
                {
                    "dataset": dataset,
                    "candidate": name,
                    "params": params,
                    **{key: result[key] for key in FIELDS},
                }
            )
            print(
                f"{dataset:10s} {name:18s} "
                + " ".join(f"{k}={result[k]}" for k in FIELDS)
                + f" ({time.perf_counter() - started:.0f}s)",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
