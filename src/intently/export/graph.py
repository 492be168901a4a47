"""Exporting one backend's graph (the ``linear`` and ``encoder`` kinds) and finding its int8.

:func:`export_graph` runs the backend's ``export_onnx`` into a staging folder and checks what it
wrote; :func:`search_int8` quantizes the optimised graph at each level of
``intently.export.quantize.LEVELS``, gentlest last, until the int8 graph passes the parity
check. Both graphs are scored through the serving code path (``OnnxModel``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends import Backend, ProgressFn
from intently.backends.base import ONNX_MODEL_FILE, ONNX_OUTPUT
from intently.errors import ExportError, ExportUnsupportedError, IntentlyError
from intently.export.manifest import INT8_FILE
from intently.export.parity import ParityReport, compare
from intently.export.quantize import (
    ENCODER_LEVELS,
    LEVELS,
    MIXED_LEVEL,
    QuantizationUnavailableError,
    layer_nodes,
    quantize_graph,
)
from intently.runtime.onnx_model import KINDS, OnnxModel

RAW_FILE = "exported.onnx"
"""The backend's graph before onnxruntime's optimisations, in the staging folder."""


def export_graph(model: Backend, stage: Path) -> dict[str, Any]:
    """Run the backend's ``export_onnx`` into ``stage``; the graph ends up as ``RAW_FILE``."""
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
    graph.rename(stage / RAW_FILE)
    return description


def staged_probabilities(
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


def search_int8(
    model: Backend,
    stage: Path,
    directory: Path,
    *,
    manifest: dict[str, Any],
    texts: Sequence[str],
    native: np.ndarray,
    fp32: np.ndarray,
    labels: Sequence[str] | None,
    source: str,
    min_agreement: float,
    progress: ProgressFn,
) -> tuple[dict[str, Any], ParityReport]:
    """Quantize ``stage/model.onnx`` into ``stage/model.int8.onnx`` level by level until the
    int8 graph passes (or the fp32 graph fails, which no int8 level can fix).

    Returns the last level's settings, with every level tried (its agreement, or why it was
    skipped) under ``"tried"``, and the last parity report.
    """
    tried: list[dict[str, Any]] = []

    def attempt(level: str, float_layers: dict[int, list[str]] | None = None) -> Any:
        """Quantize at ``level`` and check parity; returns (settings, parity report)."""
        settings = quantize_graph(
            stage / ONNX_MODEL_FILE, stage / INT8_FILE, level=level, float_layers=float_layers
        )
        int8 = staged_probabilities(manifest, stage, directory, model, "int8", texts)
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
        progress(f"quantizing to int8 ({level}) and checking it", 0.6 + 0.1 * step)
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
    return quantization, parity


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
