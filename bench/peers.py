"""Peer baselines a user would otherwise pick, measured like ``intently benchmark``.

Each peer trains on the folder's train (+valid) split, predicts the test split, and returns a row
with exactly :data:`intently.benchmark.BENCHMARK_KEYS` (built by
:func:`intently.benchmark.result_row`). Peers treat ``oos`` as an ordinary class (no threshold):
that is what a user gets out of the box.

* ``sklearn-tfidf-logreg``: ``make_pipeline(TfidfVectorizer(), LogisticRegression())`` with
  scikit-learn defaults. Latency through ``predict_proba([text])`` + argmax; size of the pickled
  pipeline.
* ``fasttext``: ``fasttext.train_supervised`` with settings a competent user would pick for short
  texts (:data:`FASTTEXT_PARAMS`). fastText is not bit-for-bit deterministic with more than one
  thread, so its figures move slightly between runs.
"""

from __future__ import annotations

import pickle
import platform
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from intently.benchmark import batch_qps, latency_ms, load_benchmark_dataset, result_row
from intently.data import Dataset
from intently.evaluation.metrics import EvaluationReport, evaluate_predictions

OOS_LABEL = "oos"
FASTTEXT_PARAMS: dict[str, Any] = {
    "epoch": 25,
    "lr": 0.5,
    "wordNgrams": 2,
    "dim": 100,
    "minCount": 1,
    "loss": "softmax",
    "thread": 2,
    "seed": 13,
}
_FASTTEXT_PREFIX = "__label__"
_WHITESPACE = re.compile(r"\s+")


def note(message: str) -> None:
    """A remark about a peer run (rows keep exactly the benchmark keys, so notes go to stderr)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def versions(*packages: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("intently", "numpy", *packages):
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _score(
    data: Dataset, predicted: Sequence[str], confidence: Sequence[float]
) -> EvaluationReport:
    return evaluate_predictions(
        [e.text for e in data.test],
        [e.label for e in data.test],
        predicted,
        confidence,
        defined_labels=data.labels,
        fallback_label=OOS_LABEL,
    )


# --------------------------------------------------------------------------- scikit-learn


def run_sklearn_tfidf_logreg(directory: str | Path) -> dict[str, Any]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    directory = Path(directory)
    data = load_benchmark_dataset(directory)
    train = data.train + data.valid
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        pipeline.fit([e.text for e in train], [e.label for e in train])
        train_seconds = time.perf_counter() - start
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        note(
            f"sklearn-tfidf-logreg on {directory.name}: LogisticRegression (defaults, "
            "max_iter=100) did not converge; kept as is, since that is what the defaults give."
        )
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    classes = pipeline.classes_

    texts = [e.text for e in data.test]
    proba = pipeline.predict_proba(texts)
    predicted = [str(label) for label in classes[proba.argmax(axis=1)]]
    report = _score(data, predicted, proba.max(axis=1))

    def predict_one(text: str) -> str:
        return classes[int(np.argmax(pipeline.predict_proba([text])[0]))]

    def predict_batch(batch: list[str]) -> np.ndarray:
        return classes[pipeline.predict_proba(batch).argmax(axis=1)]

    p50, p99 = latency_ms(predict_one, texts)
    qps = batch_qps(predict_batch, texts)
    with tempfile.TemporaryDirectory(prefix="intently-peer-") as scratch:
        path = Path(scratch) / "pipeline.pkl"
        with path.open("wb") as handle:
            pickle.dump(pipeline, handle, protocol=pickle.HIGHEST_PROTOCOL)
        size_mb = path.stat().st_size / 1e6
    return result_row(
        dataset=directory.name,
        backend="sklearn-tfidf-logreg",
        data=data,
        report=report,
        train_seconds=train_seconds,
        p50=p50,
        p99=p99,
        qps=qps,
        model_mb=size_mb,
        versions=versions("scikit-learn"),
    )


# --------------------------------------------------------------------------- fastText


def fasttext_text(text: str) -> str:
    """fastText input: one lowercased line."""
    return _WHITESPACE.sub(" ", text).strip().lower()


def fasttext_label(label: str) -> str:
    return _FASTTEXT_PREFIX + _WHITESPACE.sub("_", label.strip())


def run_fasttext(directory: str | Path) -> dict[str, Any]:
    import fasttext

    directory = Path(directory)
    data = load_benchmark_dataset(directory)
    train = data.train + data.valid
    back: dict[str, str] = {}
    for label in data.labels:
        encoded = fasttext_label(label)
        if back.setdefault(encoded, label) != label:
            raise ValueError(f"labels {back[encoded]!r} and {label!r} collide for fastText")
    if FASTTEXT_PARAMS["thread"] > 1:
        note(
            f"fasttext on {directory.name}: trained with {FASTTEXT_PARAMS['thread']} threads, "
            "which fastText does not make deterministic; figures vary slightly between runs."
        )

    with tempfile.TemporaryDirectory(prefix="intently-peer-") as scratch:
        train_file = Path(scratch) / "train.txt"
        train_file.write_text(
            "".join(f"{fasttext_label(e.label)} {fasttext_text(e.text)}\n" for e in train),
            encoding="utf-8",
        )
        start = time.perf_counter()
        model = fasttext.train_supervised(input=str(train_file), verbose=0, **FASTTEXT_PARAMS)
        train_seconds = time.perf_counter() - start
        model_file = Path(scratch) / "model.bin"
        model.save_model(str(model_file))
        size_mb = model_file.stat().st_size / 1e6

    def decode(raw: Sequence[str]) -> str:
        return back[raw[0]] if raw else OOS_LABEL

    # A one-element list, not a bare string: fasttext-wheel 0.9.2's single-string path calls
    # np.array(..., copy=False), which numpy 2 rejects.
    def predict_one(text: str) -> str:
        labels, _ = model.predict([fasttext_text(text)], k=1)
        return decode(labels[0])

    def predict_batch(batch: list[str]) -> list[str]:
        labels, _ = model.predict([fasttext_text(t) for t in batch], k=1)
        return [decode(raw) for raw in labels]

    texts = [e.text for e in data.test]
    labels, probs = model.predict([fasttext_text(t) for t in texts], k=1)
    predicted = [decode(raw) for raw in labels]
    confidence = [float(np.clip(p[0], 0.0, 1.0)) if len(p) else 0.0 for p in probs]
    report = _score(data, predicted, confidence)
    p50, p99 = latency_ms(predict_one, texts)
    qps = batch_qps(predict_batch, texts)
    return result_row(
        dataset=directory.name,
        backend="fasttext",
        data=data,
        report=report,
        train_seconds=train_seconds,
        p50=p50,
        p99=p99,
        qps=qps,
        model_mb=size_mb,
        versions=versions("fasttext-wheel"),
    )


PEERS: dict[str, Callable[[str | Path], dict[str, Any]]] = {
    "sklearn-tfidf-logreg": run_sklearn_tfidf_logreg,
    "fasttext": run_fasttext,
}
"""Peer name → runner; the names are the ``backend`` of their rows."""

PEER_SHORT_NAMES = {"sklearn-tfidf-logreg": "LR", "fasttext": "fastText"}
"""How the table names each peer in its ratio lines."""


def run_peer(name: str, directory: str | Path) -> dict[str, Any]:
    return PEERS[name](directory)
