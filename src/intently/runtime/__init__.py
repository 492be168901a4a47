"""Serving a trained model: ``Classifier`` with fallback and ambiguity rules.

Lazy like the package root (PEP 562): ``import intently.runtime`` imports nothing heavy; NumPy
and the runtime's modules load when a name below is first used (NumPy alone takes 0.1-0.2 s on
a 2-core machine), and onnxruntime / tokenizers only when a model that needs them is loaded.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intently.runtime.classifier import MAX_TEXT_CHARS, Classifier, Prediction
    from intently.runtime.fallback import FallbackRule, ThresholdChoice, tune_threshold

_EXPORTS = {
    "MAX_TEXT_CHARS": "intently.runtime.classifier",
    "Classifier": "intently.runtime.classifier",
    "Prediction": "intently.runtime.classifier",
    "FallbackRule": "intently.runtime.fallback",
    "ThresholdChoice": "intently.runtime.fallback",
    "tune_threshold": "intently.runtime.fallback",
}

__all__ = [
    "MAX_TEXT_CHARS",
    "Classifier",
    "FallbackRule",
    "Prediction",
    "ThresholdChoice",
    "tune_threshold",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'intently.runtime' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
