"""Which exported precision serves: both graphs passed parity, so the faster one wins.

Export times each graph on the parity texts through the serving code path (the same
``predict_proba`` the runtime calls) and records the result as ``onnx.json`` → ``serving``::

    {"precision": "int8", "reason": "...", "measured_on": 200,
     "timings": {"fp32": {"p50_ms": 2.9, "texts_per_s": 410.0}, "int8": {...}}}

The choice goes by single-text p50 latency, which is what a service answering one request at a
time sees. When the two are within :data:`TIE_MARGIN` of each other the difference is noise on a
shared machine, and fp32 serves: it is the graph closer to the native model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

TIE_MARGIN = 0.05
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
    """Time every graph that passed parity and pick the one that serves (see module doc)."""
    if not texts:
        raise ValueError("no texts to time the exported graphs on")
    timings = {name: measure_graph(predict, texts) for name, predict in graphs.items()}
    fastest = min(timings, key=lambda name: timings[name]["p50_ms"])
    chosen, reason = fastest, f"{fastest} has the lowest single-text p50"
    if "fp32" in timings and fastest != "fp32":
        gain = 1 - timings[fastest]["p50_ms"] / timings["fp32"]["p50_ms"]
        if gain < TIE_MARGIN:
            chosen = "fp32"
            reason = (
                f"{fastest} is only {gain:.1%} faster than fp32 (< {TIE_MARGIN:.0%}, within "
                "timing noise): fp32 is closer to the native model"
            )
        else:
            reason += f" ({gain:.0%} below fp32)"
    return {
        "precision": chosen,
        "reason": reason,
        "measured_on": min(len(texts), SINGLE_TEXTS),
        "timings": timings,
    }
