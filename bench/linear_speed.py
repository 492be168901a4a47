"""How fast does a trained ``linear`` model answer, through each way of calling it?

Trains the linear backend with its defaults on a benchmark folder (train+valid, exported to ONNX,
exactly like ``make bench``) into ``--model-dir``, or reuses the version already there, then
times on the test texts:

* ``model.predict_proba([text])`` of the native model (no input checks or fallback rule), freshly
  loaded as in the benchmark table, then again once every test token is in its caches;
* ``Classifier.predict(text)`` with ``runtime="native"`` and with the ONNX fp32 / int8 graphs;
* the whole test split in one call of each (batch texts/s).

Single-text latency uses :func:`intently.benchmark.latency_ms` (p50/p99 of 1,000 calls), batch
throughput :func:`intently.benchmark.batch_qps` (the first call, then the median of three more
as in the benchmark table, and their best). ``--reference`` saves
the native probabilities on the first run and, on later runs, reports their largest difference
(the check that a change of the featurizer keeps saved models answering the same).

    .venv/bin/python bench/linear_speed.py --dataset ../shared/datasets/banking77 \
        --model-dir /tmp/linear-banking77 --reference /tmp/linear-banking77.npy
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends.linear import LinearBackend
from intently.benchmark import batch_qps, latency_ms, load_benchmark_dataset, run_benchmark
from intently.runtime import Classifier


def version_dir(model_dir: Path, dataset: Path) -> Path:
    """The version folder under ``model_dir``, trained (and exported) first when there is none."""
    found = sorted(p for p in model_dir.glob("*/metadata.json"))
    if not found:
        run_benchmark(dataset, backend="linear", export=True, keep_dir=model_dir)
        found = sorted(p for p in model_dir.glob("*/metadata.json"))
    return found[-1].parent


def timed(predict_one: Any, predict_batch: Any, texts: list[str]) -> dict[str, float]:
    """p50/p99 of single texts, then batch texts/s: the first call (after the single-text
    warm-up), then the median of three more (as in the benchmark table) and their best."""
    p50, p99 = latency_ms(predict_one, texts)
    first = batch_qps(predict_batch, texts, calls=1)
    more = [batch_qps(predict_batch, texts, calls=1) for _ in range(3)]
    return {
        "p50_ms": round(p50, 4),
        "p99_ms": round(p99, 4),
        "batch_qps_first_call": round(first, 1),
        "batch_qps": round(float(np.median(more)), 1),
        "batch_qps_best_of_3": round(max(more), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path("../shared/datasets/banking77"))
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--reference", type=Path, help="native probabilities to compare with")
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    data = load_benchmark_dataset(args.dataset)
    texts = [e.text for e in data.test]
    truth = np.asarray([e.label for e in data.test])
    model_dir = version_dir(args.model_dir, args.dataset)
    model = LinearBackend.load(model_dir)
    # Freshly loaded, like the benchmark table: most test texts bring tokens it has not seen.
    fresh = timed(lambda t: model.predict_proba([t]), model.predict_proba, texts)
    proba = model.predict_proba(texts)
    result: dict[str, Any] = {
        "dataset": args.dataset.name,
        "model_dir": str(model_dir),
        "n_test": len(texts),
        "accuracy": round(float(np.mean(np.asarray(model.classes_)[proba.argmax(1)] == truth)), 4),
    }
    if args.reference is not None:
        if args.reference.is_file():
            reference = np.load(args.reference)
            result["max_abs_diff_vs_reference"] = float(np.abs(proba - reference).max())
        else:
            np.save(args.reference, proba)
    result["model.predict_proba"] = fresh
    result["model.predict_proba, every token seen"] = timed(
        lambda t: model.predict_proba([t]), model.predict_proba, texts
    )
    for name, options in {
        "Classifier native": {"runtime": "native"},
        "Classifier onnx fp32": {"runtime": "onnx", "precision": "fp32"},
        "Classifier onnx int8": {"runtime": "onnx", "precision": "int8"},
    }.items():
        classifier = Classifier.load(model_dir, **options)
        result[name] = timed(classifier.predict, classifier.predict_batch, texts)
        if name != "Classifier native":
            onnx_proba = classifier.predict_proba(texts)
            result[name]["max_abs_diff_vs_native"] = float(np.abs(onnx_proba - proba).max())
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
