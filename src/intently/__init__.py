"""Intently: agent and intent definitions in, fast evaluated intent classifiers out.

The package root is lazy (PEP 562): ``import intently`` costs almost nothing, and each name
below imports its module on first use. An app that only classifies with exported models
(``from intently.runtime import Classifier``) therefore needs NumPy, onnxruntime and tokenizers
alone, never the training stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from intently._version import __version__

if TYPE_CHECKING:
    from intently.errors import (
        DataError,
        GateFailure,
        InputError,
        IntentlyError,
        ModelError,
        SpecError,
        TrainingError,
    )
    from intently.pipeline import TrainingRun, train
    from intently.runtime import Classifier, Prediction
    from intently.spec import Project, load_project
    from intently.toolcalls import ToolCall, ToolCallDetector, ToolRegistry

_EXPORTS = {
    "Classifier": "intently.runtime",
    "DataError": "intently.errors",
    "GateFailure": "intently.errors",
    "InputError": "intently.errors",
    "IntentlyError": "intently.errors",
    "ModelError": "intently.errors",
    "Prediction": "intently.runtime",
    "Project": "intently.spec",
    "SpecError": "intently.errors",
    "ToolCall": "intently.toolcalls",
    "ToolCallDetector": "intently.toolcalls",
    "ToolRegistry": "intently.toolcalls",
    "TrainingError": "intently.errors",
    "TrainingRun": "intently.pipeline",
    "load_project": "intently.spec",
    "train": "intently.pipeline",
}

__all__ = [
    "Classifier",
    "DataError",
    "GateFailure",
    "InputError",
    "IntentlyError",
    "ModelError",
    "Prediction",
    "Project",
    "SpecError",
    "ToolCall",
    "ToolCallDetector",
    "ToolRegistry",
    "TrainingError",
    "TrainingRun",
    "__version__",
    "load_project",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'intently' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
