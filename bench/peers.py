"""Peer baselines a user would otherwise pick, measured like ``intently benchmark``.

Each peer trains on the folder's train (+valid) split, predicts the test split, and returns a row
with exactly :data:`intently.benchmark.BENCHMARK_KEYS` (built by
:func:`intently.benchmark.result_row`). Peers treat ``oos`` as an ordinary class (no threshold):
that is what a user gets out of the box.

* ``sklearn-tfidf-logreg``: ``make_pipeline(TfidfVectorizer(), LogisticRegression())`` with
  scikit-learn defaults. Latency through ``predict_proba([text])`` + argmax; size of the pickled
  pipeline.
* ``sklearn-tfidf-svm``: the strong pipeline a practitioner would build: a ``FeatureUnion`` of
  word 1-2 and char_wb 2-5 ``TfidfVectorizer(sublinear_tf=True)`` with a ``LinearSVC`` whose ``C``
  is picked from :data:`SVM_C_GRID` on the valid split (or, where the dataset has none, on a
  stratified 10% of train), then refit on train+valid. ``train_seconds`` is that final fit (the
  search is reported as a note). Latency through ``decision_function([text])`` + argmax.
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
SVM_C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
SVM_TUNING_SHARE = 0.1
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
    return _sklearn_row(
        "sklearn-tfidf-logreg", directory, data, pipeline, pipeline.predict_proba, train_seconds
    )


def _tfidf_union() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    return make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )


def pick_svm_c(data: Dataset, seed: int = 13) -> tuple[float, dict[float, float]]:
    """The ``C`` of :data:`SVM_C_GRID` with the best accuracy on the valid split (a stratified
    hold-out of train when there is none), and the accuracy of each."""
    from sklearn.model_selection import train_test_split
    from sklearn.svm import LinearSVC

    if data.valid:
        fit, held = list(data.train), list(data.valid)
    else:
        fit, held = train_test_split(
            list(data.train),
            test_size=SVM_TUNING_SHARE,
            random_state=seed,
            stratify=[e.label for e in data.train],
        )
    union = _tfidf_union()
    features = union.fit_transform([e.text for e in fit])
    held_features = union.transform([e.text for e in held])
    held_labels = np.asarray([e.label for e in held])
    scores = {}
    for c in SVM_C_GRID:
        svm = LinearSVC(C=c, random_state=seed).fit(features, [e.label for e in fit])
        scores[c] = float(np.mean(svm.predict(held_features) == held_labels))
    return max(SVM_C_GRID, key=lambda c: (scores[c], -c)), scores


def run_sklearn_tfidf_svm(directory: str | Path) -> dict[str, Any]:
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    directory = Path(directory)
    data = load_benchmark_dataset(directory)
    start = time.perf_counter()
    c, scores = pick_svm_c(data)
    where = "valid" if data.valid else f"a stratified {SVM_TUNING_SHARE:.0%} of train"
    note(
        f"sklearn-tfidf-svm on {directory.name}: C={c} picked on {where} "
        f"({', '.join(f'C={k}: {v:.4f}' for k, v in scores.items())}) in "
        f"{time.perf_counter() - start:.1f}s, not counted in train_seconds."
    )
    train = data.train + data.valid
    pipeline = make_pipeline(_tfidf_union(), LinearSVC(C=c, random_state=13))
    start = time.perf_counter()
    pipeline.fit([e.text for e in train], [e.label for e in train])
    train_seconds = time.perf_counter() - start
    # A LinearSVC has no probabilities; its largest margin stands in for the confidence.
    return _sklearn_row(
        "sklearn-tfidf-svm", directory, data, pipeline, pipeline.decision_function, train_seconds
    )


def _sklearn_row(
    backend: str,
    directory: Path,
    data: Dataset,
    pipeline: Any,
    scores: Callable[[Sequence[str]], np.ndarray],
    train_seconds: float,
) -> dict[str, Any]:
    """Score, time and size a fitted scikit-learn pipeline; ``scores`` gives one row of class
    scores per text (probabilities or margins), whose largest is the confidence."""
    classes = pipeline.classes_
    texts = [e.text for e in data.test]
    test_scores = scores(texts)
    predicted = [str(label) for label in classes[test_scores.argmax(axis=1)]]
    report = _score(data, predicted, test_scores.max(axis=1))

    def predict_one(text: str) -> str:
        return classes[int(np.argmax(scores([text])[0]))]

    def predict_batch(batch: list[str]) -> np.ndarray:
        return classes[scores(batch).argmax(axis=1)]

    p50, p99 = latency_ms(predict_one, texts)
    qps = batch_qps(predict_batch, texts)
    with tempfile.TemporaryDirectory(prefix="intently-peer-") as scratch:
        path = Path(scratch) / "pipeline.pkl"
        with path.open("wb") as handle:
            pickle.dump(pipeline, handle, protocol=pickle.HIGHEST_PROTOCOL)
        size_mb = path.stat().st_size / 1e6
    return result_row(
        dataset=directory.name,
        backend=backend,
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
    "sklearn-tfidf-svm": run_sklearn_tfidf_svm,
    "fasttext": run_fasttext,
}
"""Peer name → runner; the names are the ``backend`` of their rows."""

PEER_SHORT_NAMES = {
    "sklearn-tfidf-logreg": "LR",
    "sklearn-tfidf-svm": "SVM",
    "fasttext": "fastText",
}
"""How the table names each peer in its ratio lines."""


def run_peer(name: str, directory: str | Path) -> dict[str, Any]:
    return PEERS[name](directory)
