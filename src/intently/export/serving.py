"""Which exported precision serves: both graphs passed parity, so the faster one wins.

Export times each graph on the parity texts through the serving code path (the same
``predict_proba`` the runtime calls) and records the result as ``onnx.json`` → ``serving``::

    {"precision": "int8", "engine": "onnxruntime", "reason": "...", "measured_on": 200,
     "timings": {"fp32": {"p50_ms": 2.9, "texts_per_s": 410.0}, "int8": {...}}}

The candidates are the fp32 and int8 graphs in onnxruntime and, for linear exports, the same
fp32 weights computed by the runtime's NumPy scorer (``engine: numpy``; on BANKING77's linear
model about half the single-text latency of either graph, since onnxruntime's per-call cost
and the padded feature rows weigh more than the dot products). The choice goes by
single-text p50 latency, which is what a service answering one request at a time sees. When
int8 is within :data:`TIE_MARGIN` of the best fp32 way, the difference is noise on a shared
machine, and the fp32 way serves: it is closer to the native model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

TIE_MARGIN = 0.05
NUMPY = "numpy"
SINGLE_TEXTS = 200
BATCH_TEXTS = 512
WARMUP = 5

PredictProba = Callable[[Sequence[str]], Any]


def measure_graph(predict_proba: PredictProba, texts: Sequence[str]) -> dict[str, float]:
    """Single-text p50 latency (ms) and batch throughput (texts/s) of one graph."""
    singles = list(texts[:SINGLE_TEXTS])
    for text in singles[:WARMUP]:
        predict_proba([text])
    latencies = []
    for text in singles:
        start = time.perf_counter()
        predict_proba([text])
        latencies.append(time.perf_counter() - start)
    batch = list(texts[:BATCH_TEXTS])
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        predict_proba(batch)
        best = min(best, time.perf_counter() - start)
    return {
        "p50_ms": round(float(np.median(latencies)) * 1000, 4),
        "texts_per_s": round(len(batch) / best, 1),
    }


def choose_precision(graphs: Mapping[str, PredictProba], texts: Sequence[str]) -> dict[str, Any]:
    """Time every way of serving that passed parity and pick one (see module doc).

    ``graphs`` maps "fp32" and "int8" (onnxruntime graphs) and, for linear exports, "numpy"
    (the fp32 weights computed by the runtime's NumPy scorer) to their ``predict_proba``.
    """
    if not texts:
        raise ValueError("no texts to time the exported graphs on")
    timings = {name: measure_graph(predict, texts) for name, predict in graphs.items()}
    fastest = min(timings, key=lambda name: timings[name]["p50_ms"])
    chosen, reason = fastest, f"{fastest} has the lowest single-text p50"
    exact = [name for name in timings if name != "int8"]  # fp32 numerics, like the native model
    if fastest == "int8" and exact:
        best_exact = min(exact, key=lambda name: timings[name]["p50_ms"])
        gain = 1 - timings["int8"]["p50_ms"] / timings[best_exact]["p50_ms"]
        if gain < TIE_MARGIN:
            chosen = best_exact
            reason = (
                f"int8 is only {gain:.1%} faster than {best_exact} (< {TIE_MARGIN:.0%}, within "
                f"timing noise): {best_exact} is closer to the native model"
            )
        else:
            reason += f" ({gain:.0%} below {best_exact})"
    return {
        "precision": "int8" if chosen == "int8" else "fp32",
        "engine": NUMPY if chosen == NUMPY else "onnxruntime",
        "reason": reason,
        "measured_on": min(len(texts), SINGLE_TEXTS),
        "timings": timings,
    }
