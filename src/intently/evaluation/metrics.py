"""Metrics of a classifier on labeled texts: the ``EvaluationReport`` record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

ECE_BINS = 15
MAX_MISCLASSIFIED = 50
MAX_CONFUSED_PAIRS = 10


@dataclass(frozen=True)
class LabelScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class OutOfScope:
    in_scope_accuracy: float
    oos_recall: float
    threshold: float


@dataclass(frozen=True)
class EvaluationReport:
    n: int
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_f1: float
    per_label: dict[str, LabelScore]
    labels: tuple[str, ...]
    confusion: list[list[int]]
    confused_with: list[dict[str, Any]]
    misclassified: list[dict[str, Any]]
    lowest_f1: tuple[str, float] | None
    coverage: float
    uncovered: tuple[str, ...]
    oos: OutOfScope | None
    ece: float
    fallback_rate: float
    confidences: list[float] = field(repr=False, default_factory=list)
    correct: list[bool] = field(repr=False, default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["lowest_f1"] = (
            {"label": self.lowest_f1[0], "f1": self.lowest_f1[1]} if self.lowest_f1 else None
        )
        data["uncovered"] = list(self.uncovered)
        return data

    def headline(self) -> dict[str, float | None]:
        """The few numbers gates and comparisons use."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "min_intent_f1": self.lowest_f1[1] if self.lowest_f1 else None,
            "coverage": self.coverage,
            "in_scope_accuracy": self.oos.in_scope_accuracy if self.oos else None,
            "oos_recall": self.oos.oos_recall if self.oos else None,
            "ece": self.ece,
        }


def evaluate_predictions(
    texts: Sequence[str],
    truth: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    *,
    defined_labels: Sequence[str],
    fallback_label: str,
    threshold: float = 0.0,
) -> EvaluationReport:
    """Score final predictions (fallback already applied) against ``truth``.

    ``defined_labels`` are the classes the model should know (for coverage: the share of them
    with at least one evaluation example). Out-of-scope metrics appear when ``truth`` holds
    ``fallback_label``.
    """
    truth_arr = np.asarray(truth, dtype=object)
    pred_arr = np.asarray(predicted, dtype=object)
    conf = np.asarray(confidence, dtype=float)
    n = len(truth_arr)
    labels = tuple(sorted(set(defined_labels) | set(truth_arr) | set(pred_arr)))
    index = {label: i for i, label in enumerate(labels)}
    matrix = _confusion(truth_arr, pred_arr, index)
    precision, recall, f1, support = _label_scores(matrix)
    scored = support > 0  # labels present in truth, as scikit-learn's macro average does
    per_label = {
        label: LabelScore(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for label, i in index.items()
        if support[i]
    }
    correct = truth_arr == pred_arr
    in_scope_labels = [lab for lab in per_label if lab != fallback_label]
    lowest = min(in_scope_labels, key=lambda lab: (per_label[lab].f1, lab), default=None)
    covered = [lab for lab in defined_labels if lab != fallback_label]
    uncovered = tuple(sorted(lab for lab in covered if lab not in per_label))
    is_oos = truth_arr == fallback_label
    oos = None
    if is_oos.any():
        in_scope = float(np.mean(correct[~is_oos])) if (~is_oos).any() else 0.0
        oos = OutOfScope(in_scope, float(np.mean(pred_arr[is_oos] == fallback_label)), threshold)
    return EvaluationReport(
        n=n,
        accuracy=float(np.mean(correct)) if n else 0.0,
        macro_precision=float(precision[scored].mean()) if scored.any() else 0.0,
        macro_recall=float(recall[scored].mean()) if scored.any() else 0.0,
        macro_f1=float(f1[scored].mean()) if scored.any() else 0.0,
        weighted_f1=float(np.average(f1[scored], weights=support[scored])) if scored.any() else 0.0,
        per_label=per_label,
        labels=labels,
        confusion=matrix.tolist(),
        confused_with=_confused_pairs(matrix, labels),
        misclassified=[
            {
                "text": texts[i],
                "label": str(truth_arr[i]),
                "predicted": str(pred_arr[i]),
                "confidence": round(float(conf[i]), 4),
            }
            for i in np.argsort(-conf)[:n]
            if not correct[i]
        ][:MAX_MISCLASSIFIED],
        lowest_f1=(lowest, per_label[lowest].f1) if lowest else None,
        coverage=(len(covered) - len(uncovered)) / len(covered) if covered else 1.0,
        uncovered=uncovered,
        oos=oos,
        ece=expected_calibration_error(conf, correct),
        fallback_rate=float(np.mean(pred_arr == fallback_label)) if n else 0.0,
        confidences=[round(float(c), 4) for c in conf],
        correct=[bool(c) for c in correct],
    )


def macro_f1(truth: Sequence[Any] | np.ndarray, predicted: Sequence[Any] | np.ndarray) -> float:
    """Mean F1 over the labels present in ``truth``, as ``EvaluationReport.macro_f1`` and the
    gates compute it: a label only predicted (never true) lowers the precision of the labels
    it was taken from, not the average. Labels may be strings or class indices.

    >>> macro_f1(["a", "a", "b"], ["a", "b", "b"])
    0.6666666666666666
    """
    truth_arr, pred_arr = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    if len(truth_arr) != len(pred_arr):
        raise ValueError(f"{len(truth_arr)} true labels but {len(pred_arr)} predictions.")
    index = {label: i for i, label in enumerate(sorted(set(truth_arr) | set(pred_arr)))}
    _, _, f1, support = _label_scores(_confusion(truth_arr, pred_arr, index))
    scored = support > 0
    return float(f1[scored].mean()) if scored.any() else 0.0


def _confusion(truth: np.ndarray, predicted: np.ndarray, index: dict[Any, int]) -> np.ndarray:
    """Counts ``[true label, predicted label]`` in ``index`` order."""
    matrix = np.zeros((len(index), len(index)), dtype=int)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    return matrix


def _label_scores(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-label precision, recall, F1 and support of a confusion matrix (0 where undefined)."""
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    precision = np.divide(tp, predicted_count, out=np.zeros_like(tp), where=predicted_count > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1, support


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Weighted mean |accuracy − confidence| over equal-width confidence bins."""
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.sum() * abs(correct[members].mean() - confidence[members].mean())
    return float(total / len(confidence))


def _confused_pairs(matrix: np.ndarray, labels: tuple[str, ...]) -> list[dict[str, Any]]:
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None)[:MAX_CONFUSED_PAIRS]
    pairs = []
    for flat in order:
        i, j = divmod(int(flat), len(labels))
        if off[i, j] == 0:
            break
        pairs.append({"label": labels[i], "predicted": labels[j], "count": int(off[i, j])})
    return pairs
