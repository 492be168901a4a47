"""Metrics, reports, quality gates and cross-validation."""

from intently.evaluation.crossval import CrossValidation, FoldScore, cross_validate
from intently.evaluation.gates import (
    GateResult,
    WeakIntent,
    check_gates,
    gates_passed,
    weak_intents,
)
from intently.evaluation.metrics import (
    EvaluationReport,
    LabelScore,
    OutOfScope,
    evaluate_predictions,
)

__all__ = [
    "CrossValidation",
    "EvaluationReport",
    "FoldScore",
    "GateResult",
    "LabelScore",
    "OutOfScope",
    "WeakIntent",
    "check_gates",
    "cross_validate",
    "evaluate_predictions",
    "gates_passed",
    "weak_intents",
]
