"""What the out-of-scope novelty costs a request: one CLINC150 `embedding` version, served one
text per call with its novelty and with a threshold rule in its place, natively and as int8
ONNX (the same texts, the same process; docs/BENCHMARKS.md, "The novelty for an `embedding`
model alone").

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/novelty_latency.py \\
        --keep build/novelty_latency
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from intently.benchmark import latency_ms, load_benchmark_dataset, run_benchmark
from intently.runtime import Classifier


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--keep", type=Path, required=True, help="the version is kept here")
    parser.add_argument("--texts", type=int, default=1000)
    args = parser.parse_args()
    dataset = args.datasets / "clinc150"
    if not args.keep.is_dir():
        run_benchmark(dataset, backend="embedding", export=True, keep_dir=args.keep)
    model_dir = next(args.keep.rglob("onnx.json")).parent
    texts = [e.text for e in load_benchmark_dataset(dataset).test][: args.texts]
    rows = {}
    for runtime, precision in (("native", "fp32"), ("onnx", "int8")):
        classifier = Classifier.load(model_dir, runtime=runtime, precision=precision)
        novelty = classifier.rule.novelty
        if novelty is None:
            raise SystemExit(f"{model_dir}: no novelty was tuned; nothing to compare")
        rows[f"{runtime} {precision}, novelty"] = latency_ms(classifier.predict, texts)
        # a plain threshold rule instead (its value costs nothing: the search is what differs)
        classifier.rule = replace(classifier.rule, novelty=None)
        rows[f"{runtime} {precision}, threshold"] = latency_ms(classifier.predict, texts)
    print(f"reference: {novelty.reference.shape[0]} x {novelty.reference.shape[1]}")
    for name, (p50, p99) in rows.items():
        print(f"{name:28} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
