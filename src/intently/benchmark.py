"""``intently benchmark``: train on a public dataset folder, test, time and size the model.

The folder holds ``train.jsonl`` (+ optional ``valid.jsonl``) and ``test.jsonl`` of
``{"text", "label"}`` rows. Latency is measured through :meth:`Classifier.predict` on a model
loaded back from disk, exactly as a user would call it.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends import ProgressFn
from intently.data import Dataset, read_examples
from intently.errors import DataError, Location
from intently.evaluation.metrics import EvaluationReport
from intently.pipeline import evaluate_model, fit_dataset
from intently.registry import ModelVersion, Status, library_versions, new_version_id, write_version
from intently.runtime import Classifier
from intently.spec import FallbackSpec, TrainingSpec

BENCHMARK_KEYS = (
    "dataset",
    "backend",
    "n_train",
    "n_test",
    "n_labels",
    "accuracy",
    "macro_f1",
    "in_scope_accuracy",
    "oos_recall",
    "train_seconds",
    "predict_p50_ms",
    "predict_p99_ms",
    "batch_qps",
    "model_mb",
    "versions",
)
EXPORT_KEYS = ("export_parity", "int8")
"""Added with ``export=True``: the parity report of the ONNX export on the test texts, and the
int8 graph's figures measured through ``Classifier.load(..., runtime="onnx", precision="int8")``
(None when the backend cannot export)."""
TIMED_PREDICTIONS = 1000


def load_benchmark_dataset(directory: Path) -> Dataset:
    directory = Path(directory)
    for required in ("train.jsonl", "test.jsonl"):
        if not (directory / required).is_file():
            raise DataError(
                f"benchmark folder lacks {required}.",
                where=Location(directory),
                hint="a benchmark folder holds train.jsonl, test.jsonl and optionally valid.jsonl.",
            )
    train = tuple(read_examples(directory / "train.jsonl"))
    valid_path = directory / "valid.jsonl"
    valid = tuple(read_examples(valid_path)) if valid_path.is_file() else ()
    test = tuple(read_examples(directory / "test.jsonl"))
    labels = tuple(sorted({e.label for e in train + valid}))
    return Dataset(task=directory.name, train=train, valid=valid, test=test, labels=labels)


def latency_ms(
    predict: Callable[[str], object], texts: Sequence[str], n: int = TIMED_PREDICTIONS
) -> tuple[float, float]:
    """p50 and p99 milliseconds of ``n`` single-text calls (after a short warm-up)."""
    for text in texts[:20]:
        predict(text)
    timings = np.empty(n)
    for i in range(n):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        predict(text)
        timings[i] = time.perf_counter() - start
    return float(np.percentile(timings, 50) * 1e3), float(np.percentile(timings, 99) * 1e3)


BATCH_CALLS = 3


def batch_qps(
    predict_batch: Callable[[list[str]], object], texts: Sequence[str], calls: int = BATCH_CALLS
) -> float:
    """Texts per second of one call on all ``texts``: the median of ``calls`` calls.

    The first call of a fresh model also pays for cold caches (CPU caches, the featurizer's
    first sight of new tokens) that a long-running worker pays once; on this shared machine a
    single call also swings ±25 % run to run. Every row of the table, peers included, is timed
    the same way.
    """
    batch = list(texts)
    timings = []
    for _ in range(calls):
        start = time.perf_counter()
        predict_batch(batch)
        timings.append(time.perf_counter() - start)
    return len(texts) / float(np.median(timings))


def directory_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def result_row(
    *,
    dataset: str,
    backend: str,
    data: Dataset,
    report: EvaluationReport,
    train_seconds: float,
    p50: float,
    p99: float,
    qps: float,
    model_mb: float,
    versions: dict[str, str],
) -> dict[str, Any]:
    """A benchmark row with exactly :data:`BENCHMARK_KEYS` (shared by the peers in bench/)."""
    return {
        "dataset": dataset,
        "backend": backend,
        "n_train": len(data.train) + len(data.valid),
        "n_test": len(data.test),
        "n_labels": len(data.labels),
        "accuracy": round(report.accuracy, 4),
        "macro_f1": round(report.macro_f1, 4),
        "in_scope_accuracy": round(report.oos.in_scope_accuracy, 4) if report.oos else None,
        "oos_recall": round(report.oos.oos_recall, 4) if report.oos else None,
        "train_seconds": round(train_seconds, 2),
        "predict_p50_ms": round(p50, 4),
        "predict_p99_ms": round(p99, 4),
        "batch_qps": round(qps, 1),
        "model_mb": round(model_mb, 2),
        "versions": versions,
    }


def run_benchmark(
    directory: str | Path,
    *,
    backend: str = "linear",
    params: dict[str, Any] | None = None,
    seed: int = 13,
    oos_label: str = "oos",
    fallback: dict[str, Any] | None = None,
    export: bool = False,
    keep_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Train ``backend`` on the folder's train (+valid) split, evaluate on test, time it.

    ``fallback`` overrides :class:`FallbackSpec` fields (e.g. ``max_in_scope_drop``).
    With ``export`` the model is also exported to ONNX (parity checked on the test texts) and
    the int8 graph is measured like the native model (keys :data:`EXPORT_KEYS`). The version
    directory is written under ``keep_dir`` when given (kept), else in a temporary folder.
    """
    directory = Path(directory)
    data = load_benchmark_dataset(directory)
    training = TrainingSpec(backend=backend, params=params or {}, seed=seed)
    rule = FallbackSpec(label=oos_label, **(fallback or {}))
    fitted = fit_dataset(data, training, rule, progress=progress)
    report = evaluate_model(fitted.model, fitted.rule, data.test, defined=data.labels)
    texts = [e.text for e in data.test]
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="intently-bench-") as scratch:
        version = ModelVersion(
            id=new_version_id(),
            task=directory.name,
            backend=backend,
            labels=tuple(fitted.model.classes_),
            params=fitted.model.get_params(),
            metrics=report.headline(),
            dataset_fingerprint=data.fingerprint,
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            status=Status.CANDIDATE,
            fallback=fitted.rule.record(),
            versions=library_versions(),
        )
        model_dir = write_version(Path(keep_dir or scratch), version, fitted.save)
        size = directory_mb(model_dir)
        classifier = Classifier.load(model_dir, runtime="native")
        p50, p99 = latency_ms(classifier.predict, texts)
        qps = batch_qps(classifier.predict_batch, texts)
        if export:
            extra = measure_export(fitted.model, model_dir, data)
    return (
        result_row(
            dataset=directory.name,
            backend=backend,
            data=data,
            report=report,
            train_seconds=fitted.train_seconds,
            p50=p50,
            p99=p99,
            qps=qps,
            model_mb=size,
            versions=library_versions(),
        )
        | extra
    )


def measure_export(model: Any, model_dir: Path, data: Dataset) -> dict[str, Any]:
    """Export ``model`` (saved in ``model_dir``) with a parity check on the test texts, then
    time and score its int8 graph through the ONNX runtime."""
    from intently.export import ExportUnsupportedError, export_backend

    texts = [e.text for e in data.test]
    labels = [e.label for e in data.test]
    try:
        exported = export_backend(model, model_dir, texts=texts, labels=labels, source="test")
    except ExportUnsupportedError:
        return dict.fromkeys(EXPORT_KEYS)
    int8 = Classifier.load(model_dir, runtime="onnx", precision="int8")
    predicted = [p.label for p in int8.predict_batch(texts)]
    accuracy = float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)]))
    p50, p99 = latency_ms(int8.predict, texts)
    shipped = int8_files(model_dir, exported.manifest)
    return {
        "export_parity": exported.parity.to_json()
        | {"int8_level": exported.quantization.get("level")},
        "int8": {
            "accuracy": round(accuracy, 4),
            "predict_p50_ms": round(p50, 4),
            "predict_p99_ms": round(p99, 4),
            "batch_qps": round(batch_qps(int8.predict_batch, texts), 1),
            "model_mb": round(sum(p.stat().st_size for p in shipped) / 1e6, 2),
        },
    }


def int8_files(model_dir: Path, manifest: dict[str, Any]) -> list[Path]:
    """What serving the int8 graph needs: the graph, its tokenizer or featurizer files, and
    for a stack those of every member."""
    from intently.runtime.onnx_model import STACK_KIND, read_manifest

    if manifest["kind"] == STACK_KIND:
        return [
            path
            for name in manifest["members"]
            for path in int8_files(model_dir / name, read_manifest(model_dir / name))
        ]
    names = [manifest["int8"], manifest.get("tokenizer"), *manifest.get("featurizer", {}).values()]
    return [model_dir / name for name in names if isinstance(name, str)]


def write_result(result: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return out
