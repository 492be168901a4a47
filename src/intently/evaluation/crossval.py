"""k-fold cross-validation: every example is predicted once by a model that never saw it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from intently.data import Dataset, Example, stratified_split
from intently.errors import DataError
from intently.evaluation.metrics import EvaluationReport, evaluate_predictions


@dataclass(frozen=True)
class FoldScore:
    fold: int
    n: int
    accuracy: float
    macro_f1: float


@dataclass(frozen=True)
class CrossValidation:
    folds: tuple[FoldScore, ...]
    pooled: EvaluationReport

    def summary(self) -> dict[str, float]:
        acc = np.array([f.accuracy for f in self.folds])
        f1 = np.array([f.macro_f1 for f in self.folds])
        return {
            "accuracy_mean": float(acc.mean()),
            "accuracy_std": float(acc.std()),
            "macro_f1_mean": float(f1.mean()),
            "macro_f1_std": float(f1.std()),
        }


MIN_HELD_OUT = 10
"""Fewest held-out examples a trained model is scored on. Below it one prediction moves
accuracy by more than 10 points (and with 2 examples per label there are none at all), so
training scores the model by cross-validation of every example instead."""
CV_FOLDS = 5


@dataclass(frozen=True)
class EvaluationMethod:
    """What a model's report measures: the ``test`` (else ``valid``) split, or ``folds``-fold
    cross-validation of all ``n`` examples when that split is too small (``reason``).

    Never the training data: a model scored on what it was fitted on passes every gate.
    """

    split: Literal["test", "valid", "cross-validation"]
    n: int
    folds: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        """'12 test examples', or '6 examples, 5-fold CV'."""
        if self.folds is None:
            return f"{self.n} {self.split} examples"
        return f"{self.n} examples, {self.folds}-fold CV"

    def to_json(self) -> dict[str, Any]:
        return {"method": self.split, "n": self.n, "folds": self.folds, "reason": self.reason}


def evaluation_method(dataset: Dataset, *, folds: int = CV_FOLDS) -> EvaluationMethod:
    """How to score a model fitted on ``dataset.train``: on its held-out split when that holds
    :data:`MIN_HELD_OUT` examples, otherwise by (at most) ``folds``-fold cross-validation."""
    held, split = (dataset.test, "test") if dataset.test else (dataset.valid, "valid")
    if len(held) >= MIN_HELD_OUT:
        return EvaluationMethod(split, len(held))
    total = len(dataset.train) + len(dataset.valid) + len(dataset.test)
    named = "validation" if split == "valid" and held else "test"
    reason = f"the {named} split is too small ({len(held)} examples, {MIN_HELD_OUT} needed)"
    return EvaluationMethod("cross-validation", total, min(folds, total), reason)


FoldPredictor = Callable[[Dataset, Sequence[Example]], tuple[list[str], np.ndarray]]
"""Fits on a training Dataset and returns (final labels, top confidences) for held-out examples."""


def fold_assignment(examples: Sequence[Example], k: int, *, seed: int) -> np.ndarray:
    """Stratified, deterministic fold index per example (round-robin within each label)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(examples), dtype=int)
    by_label: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        by_label.setdefault(example.label, []).append(i)
    for label in sorted(by_label):
        members = by_label[label]
        start = int(rng.integers(k))
        for rank, j in enumerate(rng.permutation(len(members))):
            fold[members[j]] = (start + rank) % k
    return fold


def cross_validate(
    examples: Sequence[Example],
    predictor: FoldPredictor,
    *,
    k: int = 5,
    seed: int = 13,
    task: str = "intent",
    defined_labels: Sequence[str] = (),
    fallback_label: str = "oos",
    valid_share: float = 0.15,
    on_fold: Callable[[int], None] | None = None,
) -> CrossValidation:
    """Run ``k`` folds; each fold's training part is split again to give a validation set."""
    if k < 2:
        raise DataError(f"cross-validation needs at least 2 folds; got {k}.")
    if len(examples) < k:
        raise DataError(
            f"{len(examples)} examples cannot be split into {k} folds.",
            hint="use fewer folds or add examples.",
        )
    fold = fold_assignment(examples, k, seed=seed)
    predicted: list[str] = [""] * len(examples)
    confidence = np.zeros(len(examples))
    scores = []
    labels = tuple(sorted({e.label for e in examples}))
    for f in range(k):
        held = [i for i in range(len(examples)) if fold[i] == f]
        rest = [examples[i] for i in range(len(examples)) if fold[i] != f]
        train, valid, _ = stratified_split(rest, (1 - valid_share, valid_share, 0.0), seed=seed)
        dataset = Dataset(task=task, train=train, valid=valid, test=(), labels=labels)
        fold_labels, fold_conf = predictor(dataset, [examples[i] for i in held])
        for i, label, c in zip(held, fold_labels, fold_conf, strict=True):
            predicted[i] = label
            confidence[i] = c
        truth = [examples[i].label for i in held]
        report = evaluate_predictions(
            [examples[i].text for i in held],
            truth,
            fold_labels,
            fold_conf,
            defined_labels=defined_labels or labels,
            fallback_label=fallback_label,
        )
        scores.append(FoldScore(f + 1, len(held), report.accuracy, report.macro_f1))
        if on_fold:
            on_fold(f + 1)
    pooled = evaluate_predictions(
        [e.text for e in examples],
        [e.label for e in examples],
        predicted,
        confidence,
        defined_labels=defined_labels or labels,
        fallback_label=fallback_label,
    )
    return CrossValidation(tuple(scores), pooled)
