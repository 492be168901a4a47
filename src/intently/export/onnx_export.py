"""Export a model version to ONNX: graph, optimisation, int8 quantization, parity check.

``export_model(model_dir)`` adds derived files to a version directory and never changes its
``metadata.json`` or the native model's files:

1. the native backend writes its graph (``Backend.export_onnx``) into a hidden staging folder
   inside the version directory;
2. onnxruntime's basic optimisations are applied and saved as ``model.onnx``;
3. both graphs are run through :class:`~intently.runtime.onnx_model.OnnxModel` (the serving
   code path) on the parity texts and compared with the native model
   (``intently.export.parity``): ``model.onnx`` first, then ``model.int8.onnx`` quantized at
   each level of ``intently.export.quantize.LEVELS`` until one passes. Below 99.5% argmax
   agreement for fp32, or for int8 at every level, the export raises :class:`ExportError` and
   nothing is written;
4. the files are moved in one ``os.replace`` each, ``onnx.json`` (the manifest) last, so a
   reader finds the previous export, no export (onnx.json is retracted first), or the
   complete new one.

This module runs those steps; :mod:`~intently.export.graph` exports one backend's graph and
searches its int8 level, :mod:`~intently.export.stack` exports a stack member by member,
:mod:`~intently.export.manifest` builds ``onnx.json`` and :mod:`~intently.export.files` moves
the staged files into place.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends import Backend, ProgressFn, backend_class
from intently.backends.base import ONNX_MODEL_FILE
from intently.data.clean import normalize_text
from intently.errors import (
    ExportError,
    ExportUnsupportedError,
    IntentlyError,
    ModelError,
)
from intently.export.files import move_into
from intently.export.graph import RAW_FILE, export_graph, search_int8, staged_probabilities
from intently.export.manifest import INT8_FILE, PRECISIONS, ExportReport, created_at, graph_manifest
from intently.export.parity import EVALUATION_FILE, MIN_AGREEMENT, read_texts
from intently.export.quantize import optimize_graph
from intently.export.serving import NUMPY, choose_precision
from intently.export.stack import export_stack
from intently.runtime.model_files import write_json
from intently.runtime.onnx_model import MANIFEST_FILE, STACK_KIND, OnnxModel
from intently.runtime.version import read_version

__all__ = [
    "INT8_FILE",
    "ExportError",
    "ExportReport",
    "ExportUnsupportedError",
    "export_backend",
    "export_model",
    "supports_onnx",
]


def _silent(_step: str, _done: float) -> None:
    return None


def supports_onnx(model: object) -> bool:
    """Whether ``model``'s backend defines ``export_onnx`` (a stack: ``export_members``); it
    may still refuse at export."""
    return callable(getattr(model, "export_onnx", None)) or callable(
        getattr(model, "export_members", None)
    )


def export_model(
    model_dir: str | Path,
    *,
    texts: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
    min_agreement: float = MIN_AGREEMENT,
) -> ExportReport:
    """Export the version in ``model_dir`` to ONNX (fp32 + int8), checked for parity.

    Parameters
    ----------
    model_dir : path
        A version directory (``models/<task>/<version>``).
    texts, labels : sequences of str, optional
        Parity texts (and their labels, for accuracies). Default: ``evaluation.jsonl``, the
        evaluation split that training stored in the version directory.
    progress : callable (step, fraction done), optional
    min_agreement : float, default 0.995
        Least share of texts on which each graph's top class must match the native model's.

    Raises
    ------
    ExportError
        The backend cannot export, or a graph fails the parity check; nothing is written.
    ModelError
        ``model_dir`` is not a loadable model version.

    Examples
    --------
    >>> report = export_model("models/intent/20261122T030512Z-3fa1")  # doctest: +SKIP
    >>> report.parity.int8.agreement                                   # doctest: +SKIP
    0.9997
    """
    model_dir = Path(model_dir)
    version = read_version(model_dir)
    try:
        model = backend_class(version.backend).load(model_dir)
    except IntentlyError:
        raise
    except ImportError as exc:
        raise ExportError(
            f"exporting needs the native {version.backend} backend, but {exc.name or exc} is "
            "not installed.",
            hint="export where the model was trained (`pip install intently[neural]` for "
            "the neural backends).",
        ) from None
    except Exception as exc:  # a damaged file can fail in many library-specific ways
        raise ModelError(
            f"cannot load the {version.backend} model in {model_dir}: {exc}.",
            hint="re-train, or deploy another version.",
        ) from exc
    source = "texts"
    if texts is None:
        evaluation = model_dir / EVALUATION_FILE
        if not evaluation.is_file():
            raise ExportError(
                f"{model_dir} has no {EVALUATION_FILE} to check the export with.",
                hint="pass texts to compare on: `intently export MODEL_DIR --texts FILE` "
                "(one text per line, or JSON lines with text and label).",
            )
        texts, labels = read_texts(evaluation)
        source = EVALUATION_FILE
    return export_backend(
        model,
        model_dir,
        texts=texts,
        labels=labels,
        source=source,
        progress=progress,
        min_agreement=min_agreement,
    )


def export_backend(
    model: Backend,
    directory: Path,
    *,
    texts: Sequence[str],
    labels: Sequence[str] | None = None,
    source: str = "texts",
    progress: ProgressFn | None = None,
    min_agreement: float = MIN_AGREEMENT,
) -> ExportReport:
    """Export the fitted ``model`` whose native files are in ``directory`` (see module doc).

    ``training`` calls this on the staged version directory before it is renamed into place;
    :func:`export_model` loads the model from a stored version first.
    """
    report = progress or _silent
    started = time.perf_counter()
    directory = Path(directory)
    if labels is not None and len(labels) != len(texts):
        raise ExportError(f"{len(texts)} parity texts but {len(labels)} labels.")
    texts, labels = _usable(texts, labels)
    if not texts:
        raise ExportError(
            "no texts to check the ONNX export against the native model.",
            hint="pass texts (`intently export MODEL_DIR --texts FILE`).",
        )
    if not supports_onnx(model):
        raise ExportUnsupportedError(
            f"the {model.name} backend cannot export to ONNX.",
            hint="serve it with the native runtime (Classifier.load(..., runtime='native')).",
        )
    if getattr(model, "name", None) == STACK_KIND:
        return export_stack(
            model,
            directory,
            export_member=export_backend,
            texts=texts,
            labels=labels,
            source=source,
            progress=report,
            min_agreement=min_agreement,
            started=started,
        )
    stage = directory / f".onnx-staging-{secrets.token_hex(4)}"
    stage.mkdir()
    try:
        report("exporting graph", 0.02)
        description = export_graph(model, stage)
        report("optimising graph", 0.3)
        optimize_graph(stage / RAW_FILE, stage / ONNX_MODEL_FILE)
        (stage / RAW_FILE).unlink()
        report("parity check: native", 0.4)
        native = model.predict_proba(texts)
        report("parity check: fp32", 0.5)
        manifest = graph_manifest(description, model, {})
        fp32 = staged_probabilities(manifest, stage, directory, model, "fp32", texts)
        quantization, parity = search_int8(
            model,
            stage,
            directory,
            manifest=manifest,
            texts=texts,
            native=native,
            fp32=fp32,
            labels=labels,
            source=source,
            min_agreement=min_agreement,
            progress=report,
        )
        manifest["quantization"] = quantization
        failures = parity.failures()
        if failures:
            notes = []
            if parity.int8.agreement < min_agreement:
                levels = ", ".join(t["level"] for t in quantization["tried"])
                notes.append(f"int8 tried at levels {levels}")
            if parity.native_accuracy is not None:
                notes.append(f"native accuracy {parity.native_accuracy:.4f}")
            raise ExportError(
                "the ONNX export does not answer like the native model: "
                + "; ".join(failures)
                + (f" ({'; '.join(notes)})." if notes else "."),
                hint="nothing was written. Serve the native model, accept less agreement "
                "(`intently export --min-agreement`), or train with --no-export; a graph far "
                "below the bar means a broken export: please report the numbers.",
            )
        manifest["parity"] = parity.to_json()
        report("timing the ways to serve it", 0.95)
        manifest["serving"] = choose_precision(
            _serving_candidates(manifest, stage, directory, model, native, texts, min_agreement),
            texts,
        )
        manifest["created_at"] = created_at()
        write_json(stage / MANIFEST_FILE, manifest)
        report("writing files", 0.97)
        files = move_into(stage, directory, manifest)
        report("done", 1.0)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    sizes = {
        name: round((directory / manifest[name]).stat().st_size / 1e6, 3) for name in PRECISIONS
    }
    return ExportReport(
        model_dir=directory,
        kind=manifest["kind"],
        files=files,
        parity=parity,
        quantization=quantization,
        sizes_mb=sizes,
        seconds=round(time.perf_counter() - started, 3),
        manifest=manifest,
    )


def _usable(
    texts: Sequence[str], labels: Sequence[str] | None
) -> tuple[list[str], list[str] | None]:
    """Texts as the runtime sees them (normalised; empty ones dropped), with their labels."""
    kept: list[str] = []
    kept_labels: list[str] = []
    for i, text in enumerate(texts):
        normalized = normalize_text(text) if isinstance(text, str) else ""
        if normalized:
            kept.append(normalized)
            if labels is not None:
                kept_labels.append(labels[i])
    return kept, (kept_labels if labels is not None else None)


def _serving_candidates(
    manifest: dict[str, Any],
    stage: Path,
    directory: Path,
    model: Backend,
    native: np.ndarray,
    texts: Sequence[str],
    min_agreement: float,
) -> dict[str, Any]:
    """``predict_proba`` of every way the runtime can serve this export that passed parity:
    both graphs (checked above) and, for a linear export, its NumPy scorer when its top class
    matches the native model's as often as a graph must."""
    candidates = {
        precision: OnnxModel.from_manifest(
            manifest, (stage, directory), classes=model.classes_, precision=precision
        ).predict_proba
        for precision in PRECISIONS
    }
    if manifest["kind"] == "linear":
        scorer = OnnxModel.from_manifest(
            manifest, (stage, directory), classes=model.classes_, engine=NUMPY
        ).predict_proba
        agreement = float(np.mean(scorer(texts).argmax(axis=1) == native.argmax(axis=1)))
        if agreement >= min_agreement:
            candidates[NUMPY] = scorer
    return candidates
