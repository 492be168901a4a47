"""CLINC150: the out-of-scope threshold tuned on cross-fitted validation rows vs on the rows
that chose the kept epoch / checkpoint / temperature (issue 14, item 6).

Each backend is fitted once on train with valid, as ``intently train`` fits it. Its
``validation_proba_`` are cross-fitted (:mod:`intently.evaluation.selection`); the rows it
handed the threshold tuner before that change are recomputed from the same fit by applying the
choice made on *all* validation rows to all of them (the wrapper below records both). For each
set of rows the threshold is tuned with the default budget (``max_in_scope_drop`` 0.01) and
test is scored: in-scope accuracy, OOS recall, and the in-scope drop against no threshold, which
the budget promises to keep at 0.01 or less. Writes ``docs/benchmarks/threshold_rows.json``.

``--valid-share S --draws K`` plays a project with a small validation split: K stratified draws
of a share S of CLINC150's validation texts (OOS texts included in proportion), one fit each
(the draw is also what early stopping sees), and the mean over draws.

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/threshold_rows.py \
        linear spacy transformer
    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/threshold_rows.py spacy \
        --valid-share 0.1 --draws 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from oos_operating_points import DEFAULT_BUDGET as BUDGET  # bench/ is on sys.path
from oos_operating_points import OOS
from oos_operating_points import score as operating

import intently.backends.linear as linear_module
import intently.evaluation.selection as selection
from intently.backends import make_backend
from intently.benchmark import load_benchmark_dataset
from intently.runtime.fallback import tune_threshold

SEED = 13
PARAMS: dict[str, dict[str, Any]] = {"transformer": {"threads": 2}, "embedding": {"threads": 2}}


def fit_rows(data: Any, name: str, cache: Path, key: str = "") -> dict[str, np.ndarray]:
    """Cross-fitted and same-rows validation probabilities and test probabilities (cached)."""
    path = cache / f"clinc150_{name}{key}.npz"
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


def valid_draw(data: Any, share: float, draw: int) -> Any:
    """``data`` with a stratified share of its validation texts (at least one per label)."""
    rng = np.random.default_rng(1000 + draw)
    by_label: dict[str, list[Any]] = {}
    for example in data.valid:
        by_label.setdefault(example.label, []).append(example)
    kept = []
    for label in sorted(by_label):
        examples = by_label[label]
        n = max(1, round(share * len(examples)))
        kept.extend(examples[i] for i in sorted(rng.choice(len(examples), n, replace=False)))
    return replace(data, valid=tuple(kept))


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
            f"{result[kind]['valid_in_scope_drop']:.4f} "
            f"recall {result[kind]['valid_oos_recall']:.4f}"
            f" | test in-scope {in_scope:.4f} (drop {baseline - in_scope:.4f}) OOS recall "
            f"{recall:.4f}",
            flush=True,
        )
    return result


def summarise(name: str, share: float, n_valid: int, draws: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the draws of each kind of rows' test numbers, and how often the test
    in-scope drop broke the budget."""
    summary: dict[str, Any] = {
        "backend": name,
        "valid_share": share,
        "valid_texts": n_valid,
        "draws": draws,
    }
    for kind in ("same", "crossed"):
        summary[f"mean_{kind}"] = {
            metric: round(float(np.mean([d[kind][metric] for d in draws])), 4)
            for metric in ("threshold", "test_in_scope", "test_in_scope_drop", "test_oos_recall")
        }
        summary[f"mean_{kind}"]["draws_over_budget"] = sum(
            d[kind]["test_in_scope_drop"] > BUDGET for d in draws
        )
        print(f"{name:12s} {kind:8s} mean over {len(draws)} draws: {summary[f'mean_{kind}']}")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backends", nargs="+")
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--cache", type=Path, default=Path("build/threshold_rows"))
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/threshold_rows.json"))
    parser.add_argument("--valid-share", type=float, default=1.0)
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    if not (args.datasets / "clinc150").is_dir():
        print(f"no clinc150 under {args.datasets}", file=sys.stderr)
        return 2
    data = load_benchmark_dataset(args.datasets / "clinc150")
    results = []
    for name in args.backends:
        if args.valid_share >= 1.0:
            results.append(compare(name, fit_rows(data, name, args.cache), data))
            continue
        draws = []
        for draw in range(args.draws):
            drawn = valid_draw(data, args.valid_share, draw)
            key = f"_share{args.valid_share}_draw{draw}"
            draws.append(compare(name, fit_rows(drawn, name, args.cache, key), drawn))
        results.append(summarise(name, args.valid_share, len(drawn.valid), draws))
    previous = json.loads(args.out.read_text())["rows"] if args.out.is_file() else []
    done = {(row["backend"], row.get("valid_share", 1.0)) for row in results}
    kept = [r for r in previous if (r["backend"], r.get("valid_share", 1.0)) not in done]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"dataset": "clinc150", "budget": BUDGET, "seed": SEED, "rows": kept + results}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
