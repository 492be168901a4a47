"""What an export records: the ``onnx.json`` manifest and the :class:`ExportReport`.

The manifest is what the runtime reads (``intently.runtime.onnx_model.check_manifest`` is its
schema): the graph kind and files, inputs, labels, how int8 was quantized, the parity numbers
and the library versions that produced it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from intently._version import __version__
from intently.backends import Backend
from intently.backends.base import ONNX_MODEL_FILE, ONNX_OPSET, ONNX_OUTPUT
from intently.errors import ExportError, ModelError
from intently.export.parity import ParityReport
from intently.runtime.onnx_model import MANIFEST_FORMAT, STACK_KIND, check_manifest

INT8_FILE = "model.int8.onnx"
PRECISIONS = ("fp32", "int8")
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


def graph_manifest(
    description: dict[str, Any], model: Backend, quantization: dict[str, Any]
) -> dict[str, Any]:
    """The manifest of one backend's graph from its ``export_onnx`` ``description``, checked
    against the runtime's schema; parity and the creation time are filled in once known."""
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
        versions=versions(),
    )
    try:
        check_manifest(manifest, f"the {model.name} backend's export description")
    except ModelError as error:
        raise ExportError(error.message, hint="fix the backend's export_onnx.") from None
    return manifest


def stack_manifest(
    model: Any,
    names: list[str],
    weights: list[float],
    quantization: dict[str, Any],
    parity: ParityReport,
    serving: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of a stack: its members' subfolders, weights and temperature (each member
    has its own manifest)."""
    return {
        "format": MANIFEST_FORMAT,
        "kind": STACK_KIND,
        "members": names,
        "weights": weights,
        "temperature": float(model.temperature_),
        "labels": list(model.classes_),
        "backend": model.name,
        "quantization": quantization,
        "parity": parity.to_json(),
        "serving": serving,
        "created_at": created_at(),
        "versions": versions(),
    }


def created_at() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of Intently and of the libraries that wrote and checked the graphs."""
    found = {"intently": __version__}
    for name in _LIBRARIES:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            found[name] = importlib_metadata.version(name)
    return found
