"""Serving a trained model: ``Classifier`` with fallback and ambiguity rules."""

from intently.runtime.classifier import MAX_TEXT_CHARS, Classifier, Prediction
from intently.runtime.fallback import FallbackRule, ThresholdChoice, tune_threshold

__all__ = [
    "MAX_TEXT_CHARS",
    "Classifier",
    "FallbackRule",
    "Prediction",
    "ThresholdChoice",
    "tune_threshold",
]
