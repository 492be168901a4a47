"""Prometheus metrics of the service, and the pure-ASGI middleware that times every request.

Metric names (``_total``/``_bucket``/``_sum``/``_count`` suffixes as Prometheus adds them):

    intently_http_requests_total{method,route,status,model_version}
    intently_http_request_duration_seconds{route,model_version}          histogram
    intently_predictions_total{task,label,model_version}                 one per text
    intently_fallbacks_total{task,model_version}                         fallback answers
    intently_prediction_confidence{task,model_version}                   histogram; mean
                                                                        = _sum / _count
    intently_model_swaps_total{task}                                     hot swaps
    intently_model_loaded{task,version}                                  1 while serving
    intently_training_runs_total{task,status}                            finished runs

The fallback rate is ``rate(intently_fallbacks_total[5m]) / rate(intently_predictions_total[5m])``
summed per task. ``route`` is the route template (``/v1/models/{version}/deploy``), never the
raw path, so label cardinality stays bounded.

With several workers, ``intently serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder
before the workers start; every worker then writes its samples there and a scrape of any
worker sums them all (prometheus_client's multiprocess mode).

Request and prediction samples are tallied in plain dicts and written to the Prometheus
metrics by :meth:`ServerMetrics.flush`: before every scrape, every ``FLUSH_INTERVAL_S`` from
the worker's lifespan task and when the worker stops. Written one by one, the six samples of a
classify call (a counter and two histograms, in multiprocess mode each a locked write to a
memory-mapped file) took 16-20 µs, as much as all of the service's own code on that path; a
tally takes about 1 µs. A scrape therefore sees the answering worker's samples at once and
the other workers' within ``FLUSH_INTERVAL_S``; a worker killed with SIGKILL loses at most
that much.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter as Tally
from collections.abc import Sequence
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intently.runtime import Prediction

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MODEL_VERSION_KEY = "intently.model_version"  # set in the ASGI scope by classify routes

FLUSH_INTERVAL_S = 1.0
MAX_PENDING = 50_000  # observations of one histogram series held before an early flush

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    return path or None


class ServerMetrics:
    """The metrics of one app.

    ``observe_*`` and :meth:`flush` run on the event loop thread only (tallies are plain
    dicts); the rarer updates (swaps, training runs) write through from any thread.
    """

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "intently_http_requests",
            "HTTP requests by route template, status and serving model version.",
            ["method", "route", "status", "model_version"],
            registry=registry,
        )
        self.latency = Histogram(
            "intently_http_request_duration_seconds",
            "Time from the first byte of the request to the last byte of the response.",
            ["route", "model_version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "intently_predictions",
            "Texts classified, by task and returned label (the fallback label included).",
            ["task", "label", "model_version"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "intently_fallbacks",
            "Texts answered with the fallback label (low confidence or ambiguous).",
            ["task", "model_version"],
            registry=registry,
        )
        self.confidence = Histogram(
            "intently_prediction_confidence",
            "Confidence of the best class; mean = _sum / _count.",
            ["task", "model_version"],
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        )
        self.swaps = Counter(
            "intently_model_swaps",
            "Hot swaps to a newly deployed model version.",
            ["task"],
            registry=registry,
        )
        self.loaded = Gauge(
            "intently_model_loaded",
            "1 for the model version each task serves.",
            ["task", "version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.training_runs = Counter(
            "intently_training_runs",
            "Training runs started through the API that finished, by final status.",
            ["task", "status"],
            registry=registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._counts: dict[Any, int] = {}  # counter child -> increments not yet written
        self._values: dict[Any, list[float]] = {}  # histogram child -> observations

    # -- cheap child lookups ------------------------------------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _count(self, child: Any, amount: int = 1) -> None:
        self._counts[child] = self._counts.get(child, 0) + amount

    def _observe(self, child: Any, value: float) -> None:
        values = self._values.get(child)
        if values is None:
            self._values[child] = [value]
        else:
            values.append(value)
            if len(values) >= MAX_PENDING:  # bounded even where no flush task runs
                self.flush()

    def observe_request(
        self, method: str, route: str, status: int, version: str, seconds: float
    ) -> None:
        self._count(self._child(self.requests, method, route, str(status), version))
        self._observe(self._child(self.latency, route, version), seconds)

    def observe_predictions(self, task: str, predictions: Sequence[Prediction]) -> None:
        if not predictions:
            return
        version = predictions[0].model_version
        if len(predictions) == 1:
            p = predictions[0]
            self._count(self._child(self.predictions, task, p.label, version))
            if p.fallback:
                self._count(self._child(self.fallbacks, task, version))
            self._observe(self._child(self.confidence, task, version), p.confidence)
            return
        for label, count in Tally(p.label for p in predictions).items():
            self._count(self._child(self.predictions, task, label, version), count)
        fallbacks = sum(p.fallback for p in predictions)
        if fallbacks:
            self._count(self._child(self.fallbacks, task, version), fallbacks)
        confidence = self._child(self.confidence, task, version)
        self._values.setdefault(confidence, []).extend(p.confidence for p in predictions)

    def flush(self) -> None:
        """Write the tallied samples to the Prometheus metrics (the multiprocess files)."""
        counts, self._counts = self._counts, {}
        values, self._values = self._values, {}
        for child, amount in counts.items():
            child.inc(amount)
        for child, observed in values.items():
            _observe_many(child, observed)

    def model_swapped(self, task: str, old: str | None, new: str) -> None:
        self.swaps.labels(task).inc()
        if old is not None:
            self.loaded.labels(task, old).set(0)
        self.loaded.labels(task, new).set(1)

    # -- scraping -----------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The scrape body; call :meth:`flush` first (on the event loop) to include this
        worker's latest samples."""
        if self.multiprocess:
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Called when the worker stops: write what is tallied, drop its live gauges from the
        multiprocess files."""
        self.flush()
        if self.multiprocess:
            prometheus_multiprocess.mark_process_dead(os.getpid())


def _observe_many(child: Any, values: list[float]) -> None:
    """One histogram update for many values (bucket counts computed with numpy)."""
    buckets, total = getattr(child, "_buckets", None), getattr(child, "_sum", None)
    bounds = getattr(child, "_upper_bounds", None)
    if buckets is None or total is None or bounds is None or len(buckets) != len(bounds):
        for value in values:  # a prometheus_client without the internals we expect
            child.observe(value)
        return
    array = np.asarray(values, dtype=float)
    # Buckets are "le" (a value equal to a bound is in that bound's bucket); the last bound is
    # +Inf, and clipping keeps a NaN there too rather than past the end.
    positions = np.searchsorted(np.asarray(bounds, dtype=float), array, side="left")
    positions = np.minimum(positions, len(buckets) - 1)
    counts = np.bincount(positions, minlength=len(buckets))
    for index, count in enumerate(counts.tolist()):
        if count:
            buckets[index].inc(count)
    total.inc(float(array.sum()))


async def flush_forever(metrics: ServerMetrics, interval: float = FLUSH_INTERVAL_S) -> None:
    """The lifespan task of every worker: other workers' scrapes see this one's samples."""
    while True:
        await asyncio.sleep(interval)
        metrics.flush()


class MetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: no per-request task or copy)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            self.metrics.observe_request(
                scope["method"],
                getattr(route, "path", None) or "<unmatched>",
                status,
                scope.get(MODEL_VERSION_KEY, ""),
                time.perf_counter() - started,
            )
