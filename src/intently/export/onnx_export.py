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
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from intently._version import __version__
from intently.backends import Backend, ProgressFn, backend_class
from intently.backends.base import ONNX_MODEL_FILE, ONNX_OPSET, ONNX_OUTPUT
from intently.data.clean import normalize_text
from intently.errors import (
    ExportError,
    ExportUnsupportedError,
    IntentlyError,
    ModelError,
)
from intently.export.parity import (
    EVALUATION_FILE,
    MIN_AGREEMENT,
    ParityReport,
    compare,
    read_texts,
)
from intently.export.quantize import (
    ENCODER_LEVELS,
    LEVELS,
    MIXED_LEVEL,
    QuantizationUnavailableError,
    layer_nodes,
    optimize_graph,
    quantize_graph,
)
from intently.export.serving import choose_precision
from intently.runtime.onnx_model import (
    KINDS,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    STACK_KIND,
    OnnxModel,
    OnnxStack,
    check_manifest,
)
from intently.runtime.version import read_version

INT8_FILE = "model.int8.onnx"
PRECISIONS = ("fp32", "int8")
_RAW_FILE = "exported.onnx"
_LIBRARIES = ("onnx", "onnxruntime", "numpy", "tokenizers")


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how its graphs compare with the native model."""

    model_dir: Path
    kind: str
    files: tuple[str, ...]
    parity: ParityReport
    quantization: dict[str, Any]
    sizes_mb: dict[str, float]
    seconds: float
    manifest: dict[str, Any] = field(repr=False, default_factory=dict)


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
        return _export_stack(
            model,
            directory,
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
        description = _export_graph(model, stage)
        report("optimising graph", 0.3)
        optimize_graph(stage / _RAW_FILE, stage / ONNX_MODEL_FILE)
        (stage / _RAW_FILE).unlink()
        report("parity check: native", 0.4)
        native = model.predict_proba(texts)
        report("parity check: fp32", 0.5)
        manifest = _manifest(description, model, {})
        fp32 = _probabilities(manifest, stage, directory, model, "fp32", texts)
        tried: list[dict[str, Any]] = []

        def attempt(level: str, float_layers: dict[int, list[str]] | None = None) -> Any:
            """Quantize at ``level`` and check parity; returns (settings, parity report)."""
            settings = quantize_graph(
                stage / ONNX_MODEL_FILE, stage / INT8_FILE, level=level, float_layers=float_layers
            )
            int8 = _probabilities(manifest, stage, directory, model, "int8", texts)
            result = compare(
                native,
                fp32,
                int8,
                classes=model.classes_,
                labels=labels,
                source=source,
                min_agreement=min_agreement,
            )
            return settings, result

        layers = layer_nodes(stage / ONNX_MODEL_FILE)
        for step, level in enumerate(LEVELS):
            if level in ENCODER_LEVELS and len(layers) < 2:
                continue  # a graph without transformer layers (the linear one)
            report(f"quantizing to int8 ({level}) and checking it", 0.6 + 0.1 * step)
            if level == MIXED_LEVEL:
                quantization, parity = _mixed_precision(attempt, layers, min_agreement, tried)
            else:
                try:
                    quantization, parity = attempt(level)
                except QuantizationUnavailableError as exc:
                    tried.append({"level": level, "skipped": str(exc)})
                    continue
                tried.append(
                    {
                        "level": level,
                        "agreement": parity.int8.agreement,
                        "max_abs_diff": parity.int8.max_abs_diff,
                    }
                )
            if parity.int8.agreement >= min_agreement or parity.fp32.agreement < min_agreement:
                break  # a passing int8 graph, or an fp32 failure that no int8 level can fix
        quantization["tried"] = tried
        manifest["quantization"] = quantization
        failures = parity.failures()
        if failures:
            notes = []
            if parity.int8.agreement < min_agreement:
                notes.append(f"int8 tried at levels {', '.join(t['level'] for t in tried)}")
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
        report("timing fp32 and int8", 0.95)
        manifest["serving"] = choose_precision(
            {
                precision: OnnxModel.from_manifest(
                    manifest, (stage, directory), classes=model.classes_, precision=precision
                ).predict_proba
                for precision in PRECISIONS
            },
            texts,
        )
        manifest["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        _write_json(stage / MANIFEST_FILE, manifest)
        report("writing files", 0.97)
        files = _move_into(stage, directory, manifest)
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


def _mixed_precision(
    attempt: Callable[..., tuple[dict[str, Any], ParityReport]],
    layers: dict[int, list[str]],
    min_agreement: float,
    tried: list[dict[str, Any]],
) -> tuple[dict[str, Any], ParityReport]:
    """Keep the most sensitive transformer layers float, one more at a time (at most half of
    them), until the int8 graph passes; sensitivity = texts whose top class changes when only
    that layer is quantized. Returns the last attempt."""
    sensitivity = {}
    for index in layers:
        others = {i: names for i, names in layers.items() if i != index}
        _, alone = attempt(MIXED_LEVEL, others)
        sensitivity[index] = alone.int8.disagreements
    order = sorted(layers, key=lambda i: (-sensitivity[i], i))
    result: tuple[dict[str, Any], ParityReport] | None = None
    for count in range(1, len(layers) // 2 + 1):
        kept = {i: layers[i] for i in order[:count]}
        result = attempt(MIXED_LEVEL, kept)
        parity = result[1]
        tried.append(
            {
                "level": MIXED_LEVEL,
                "float_layers": sorted(kept),
                "agreement": parity.int8.agreement,
                "max_abs_diff": parity.int8.max_abs_diff,
                "layer_sensitivity": {str(i): sensitivity[i] for i in sorted(sensitivity)},
            }
        )
        if parity.int8.agreement >= min_agreement:
            break
    assert result is not None
    return result


def _export_stack(
    model: Any,
    directory: Path,
    *,
    texts: list[str],
    labels: list[str] | None,
    source: str,
    progress: ProgressFn,
    min_agreement: float,
    started: float,
) -> ExportReport:
    """Export each member of a stack into its ``member_<i>/`` folder (each with its own parity
    check), then check the weighted mix of the members' graphs against the native stack and
    write the stack's ``onnx.json`` naming the members and their weights."""
    members = model.export_members()
    reports = []
    for i, (name, member) in enumerate(members):
        share = 0.9 / len(members)
        reports.append(
            export_backend(
                member,
                directory / name,
                texts=texts,
                labels=labels,
                source=source,
                progress=lambda step, done, i=i, share=share, name=name: progress(
                    f"{name}: {step}", i * share + done * share
                ),
                min_agreement=min_agreement,
            )
        )
    progress("parity check: the stack", 0.92)
    names = [name for name, _ in members]
    weights = [float(w) for w in model.weights_]
    native = model.predict_proba(texts)
    stacks = {
        precision: OnnxStack(
            [OnnxModel.load(directory / name, precision=precision) for name in names],
            weights,
            precision=precision,
        )
        for precision in PRECISIONS
    }
    mixed = {precision: stack.predict_proba(texts) for precision, stack in stacks.items()}
    parity = compare(
        native,
        mixed["fp32"],
        mixed["int8"],
        classes=model.classes_,
        labels=labels,
        source=source,
        min_agreement=min_agreement,
    )
    failures = parity.failures()
    if failures:
        raise ExportError(
            "the ONNX export of the stack does not answer like the native stack: "
            + "; ".join(failures)
            + ".",
            hint="each member passed its own check, so the mix amplifies small differences; "
            "serve the native stack, or accept less agreement (`intently export "
            "--min-agreement`). No stack manifest was written.",
        )
    quantization = {"members": [r.quantization for r in reports]}
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": STACK_KIND,
        "members": names,
        "weights": weights,
        "labels": list(model.classes_),
        "backend": model.name,
        "quantization": quantization,
        "parity": parity.to_json(),
        "serving": choose_precision(
            {precision: stack.predict_proba for precision, stack in stacks.items()}, texts
        ),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    staged = directory / f".{MANIFEST_FILE}.{secrets.token_hex(4)}"
    _write_json(staged, manifest)
    os.replace(staged, directory / MANIFEST_FILE)
    _fsync_dir(directory)
    progress("done", 1.0)
    return ExportReport(
        model_dir=directory,
        kind=STACK_KIND,
        files=(
            *(f"{name}/{file}" for name, r in zip(names, reports, strict=True) for file in r.files),
            MANIFEST_FILE,
        ),
        parity=parity,
        quantization=quantization,
        sizes_mb={
            precision: round(sum(r.sizes_mb[precision] for r in reports), 3)
            for precision in PRECISIONS
        },
        seconds=round(time.perf_counter() - started, 3),
        manifest=manifest,
    )


def _probabilities(
    manifest: dict[str, Any],
    stage: Path,
    directory: Path,
    model: Backend,
    precision: str,
    texts: Sequence[str],
) -> Any:
    """The staged graph's probabilities, computed by the serving code path."""
    onnx_model = OnnxModel.from_manifest(
        manifest, (stage, directory), classes=model.classes_, precision=precision
    )
    return onnx_model.predict_proba(texts)


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


def _export_graph(model: Backend, stage: Path) -> dict[str, Any]:
    """Run the backend's ``export_onnx`` into ``stage``; the graph ends up as _RAW_FILE."""
    try:
        description = model.export_onnx(stage)
    except NotImplementedError as exc:
        raise ExportUnsupportedError(
            f"the {model.name} backend cannot export to ONNX{f' ({exc})' if str(exc) else ''}.",
            hint="serve it with the native runtime (Classifier.load(..., runtime='native')).",
        ) from None
    except IntentlyError:
        raise
    except Exception as exc:  # exporters (torch.onnx, onnx.checker) fail in their own types
        raise ExportError(
            f"the {model.name} backend failed to export its ONNX graph: "
            f"{type(exc).__name__}: {exc}.",
            hint="please report this with the model's metadata.json.",
        ) from exc
    if not isinstance(description, dict) or description.get("kind") not in KINDS:
        raise ExportError(
            f"the {model.name} backend's export_onnx returned {description!r}; expected a dict "
            f"with 'kind' in {', '.join(KINDS)}.",
            hint="fix the backend's export_onnx (see intently.backends.base.Backend).",
        )
    if description.get("output", ONNX_OUTPUT) != ONNX_OUTPUT:
        raise ExportError(
            f"the {model.name} backend's graph outputs {description['output']!r}; "
            f"the runtime reads {ONNX_OUTPUT!r}.",
            hint="fix the backend's export_onnx.",
        )
    graph = stage / ONNX_MODEL_FILE
    if not graph.is_file():
        raise ExportError(
            f"the {model.name} backend's export_onnx did not write {ONNX_MODEL_FILE}.",
            hint="fix the backend's export_onnx.",
        )
    graph.rename(stage / _RAW_FILE)
    return description


def _manifest(
    description: dict[str, Any], model: Backend, quantization: dict[str, Any]
) -> dict[str, Any]:
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": description["kind"],
        "opset": int(description.get("opset", ONNX_OPSET)),
        "fp32": ONNX_MODEL_FILE,
        "int8": INT8_FILE,
        "inputs": list(description.get("inputs", ())),
        "output": ONNX_OUTPUT,
    }
    for key, value in description.items():  # kind-specific keys: tokenizer, max_length, ...
        manifest.setdefault(key, value)
    manifest.update(
        labels=list(model.classes_),
        backend=model.name,
        quantization=quantization,
        parity={},
        created_at="",
        versions=_versions(),
    )
    try:
        check_manifest(manifest, f"the {model.name} backend's export description")
    except ModelError as error:
        raise ExportError(error.message, hint="fix the backend's export_onnx.") from None
    return manifest


def _versions() -> dict[str, str]:
    found = {"intently": __version__}
    for name in _LIBRARIES:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            found[name] = importlib_metadata.version(name)
    return found


def _move_into(stage: Path, directory: Path, manifest: dict[str, Any]) -> tuple[str, ...]:
    """Move the staged files into ``directory``, ``onnx.json`` last; returns their names.

    A staged file never replaces a native file of the version: when the backend's export wrote
    a name the version already holds with other content (an encoder's ``tokenizer.json``, set
    up for training), it moves as ``onnx_<name>`` and the manifest says so.
    """
    previous = _owned_files(directory)
    renames: dict[str, str] = {}
    for path in sorted(stage.iterdir()):
        name = path.name
        if name == MANIFEST_FILE:
            continue
        target = directory / name
        if name not in previous and target.exists() and target.read_bytes() != path.read_bytes():
            renames[name] = f"onnx_{name}"
    for key, value in list(manifest.items()):
        if isinstance(value, str) and value in renames:
            manifest[key] = renames[value]
    _write_json(stage / MANIFEST_FILE, manifest)
    # Readers must never pair the previous manifest with new graphs: retract it first.
    (directory / MANIFEST_FILE).unlink(missing_ok=True)
    moved = []
    for path in sorted(stage.iterdir()):
        if path.name != MANIFEST_FILE:
            target = renames.get(path.name, path.name)
            os.replace(path, directory / target)
            moved.append(target)
    _fsync_dir(directory)
    os.replace(stage / MANIFEST_FILE, directory / MANIFEST_FILE)
    _fsync_dir(directory)
    return (*moved, MANIFEST_FILE)


def _owned_files(directory: Path) -> set[str]:
    """Files a previous export wrote (named in its manifest), which a new export may replace."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(manifest, dict):
        return set()
    return {value for value in manifest.values() if isinstance(value, str)} & {
        p.name for p in directory.iterdir()
    }


def _write_json(path: Path, data: Any) -> None:
    with path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, default=str)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
