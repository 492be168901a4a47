"""Metrics, reports, quality gates and cross-validation."""

from intently.evaluation.crossval import (
    CrossValidation,
    EvaluationMethod,
    FoldScore,
    cross_validate,
    evaluation_method,
)
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
    "EvaluationMethod",
    "EvaluationReport",
    "FoldScore",
    "GateResult",
    "LabelScore",
    "OutOfScope",
    "WeakIntent",
    "check_gates",
    "cross_validate",
    "evaluate_predictions",
    "evaluation_method",
    "gates_passed",
    "weak_intents",
]
