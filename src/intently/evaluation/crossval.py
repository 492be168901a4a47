"""k-fold cross-validation: every example is predicted once by a model that never saw it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from intently.data import Dataset, Example, split_units, stratified_split
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


def fold_datasets(
    examples: Sequence[Example],
    k: int,
    *,
    seed: int,
    task: str = "intent",
    valid_share: float = 0.15,
) -> Iterator[tuple[list[int], Dataset]]:
    """For each of ``k`` stratified folds: the held-out example indices, and a Dataset of the
    other examples split again into train and valid (what early stopping, calibration and
    threshold tuning see, so none of them ever touches the held-out fold). With
    ``valid_share=0`` the Dataset's train is every other example, in the input order, and
    valid is empty (a backend that tunes nothing on a validation split learns from all)."""
    if k < 2:
        raise DataError(f"cross-validation needs at least 2 folds; got {k}.")
    if len(examples) < k:
        raise DataError(
            f"{len(examples)} examples cannot be split into {k} folds.",
            hint="use fewer folds or add examples.",
        )
    fold = fold_assignment(examples, k, seed=seed)
    labels = tuple(sorted({e.label for e in examples}))
    for f in range(k):
        held = [i for i in range(len(examples)) if fold[i] == f]
        rest = tuple(examples[i] for i in range(len(examples)) if fold[i] != f)
        if valid_share > 0:
            train, valid, _ = stratified_split(rest, (1 - valid_share, valid_share, 0.0), seed=seed)
        else:
            train, valid = rest, ()
        yield held, Dataset(task=task, train=train, valid=valid, test=(), labels=labels)


FoldProba = Callable[[Dataset, Sequence[Example]], tuple[Sequence[str], np.ndarray]]
"""Fits on a fold's Dataset; returns the model's classes and the probabilities of the held-out
examples (one row each, columns in the order of those classes)."""


@dataclass(frozen=True)
class OutOfFold:
    """Cross-fitted probabilities: row ``i`` comes from a model that never saw example ``i``,
    nor tuned anything (early stopping, temperature) on it. Columns follow ``classes``; a
    class a fold's model never saw gets probability 0 there. ``given`` holds each example's
    label index (a column of ``proba``)."""

    classes: tuple[str, ...]
    proba: np.ndarray
    given: np.ndarray

    @property
    def self_confidence(self) -> np.ndarray:
        """Each example's probability of its given label."""
        return self.proba[np.arange(len(self.given)), self.given]


def out_of_fold_proba(
    examples: Sequence[Example],
    fit_proba: FoldProba,
    *,
    k: int = CV_FOLDS,
    seed: int = 13,
    task: str = "intent",
    valid_share: float = 0.15,
    on_fold: Callable[[int, np.ndarray, OutOfFold], None] | None = None,
) -> OutOfFold:
    """Out-of-fold probabilities of every example (``k``-fold, stratified, deterministic).

    ``on_fold(f, done, partial)`` runs after fold ``f`` with the indices predicted so far and
    the probabilities filled in so far, so a caller can score the partial result (a tuner
    prunes a poor trial there by raising)."""
    classes = tuple(sorted({e.label for e in examples}))
    column = {label: j for j, label in enumerate(classes)}
    given = np.array([column[e.label] for e in examples], dtype=np.int64)
    result = OutOfFold(classes, np.zeros((len(examples), len(classes))), given)
    done: list[int] = []
    folds = fold_datasets(examples, k, seed=seed, task=task, valid_share=valid_share)
    for f, (held, dataset) in enumerate(folds):
        model_classes, held_proba = fit_proba(dataset, [examples[i] for i in held])
        columns = [column[label] for label in model_classes]
        result.proba[np.ix_(held, columns)] = held_proba
        done.extend(held)
        if on_fold:
            on_fold(f + 1, np.asarray(sorted(done)), result)
    return result


FoldPredictor = Callable[[Dataset, Sequence[Example]], tuple[list[str], np.ndarray]]
"""Fits on a training Dataset and returns (final labels, top confidences) for held-out examples."""


def fold_assignment(examples: Sequence[Example], k: int, *, seed: int) -> np.ndarray:
    """Stratified, deterministic fold index per example.

    Within each label the units of :func:`~intently.data.split.split_units` (a template's
    fills together, any other example alone) are dealt to the folds, largest first, each to
    the fold holding the fewest of the label's examples (ties: round-robin from a random
    start fold). So a template's fills are held out together and predicted by models that saw
    none of them, as the train/test split keeps them apart, and choices made on out-of-fold
    rows (tuned params, stack weights, thresholds) are not flattered by near-copies. A label
    whose examples are one template's fills and nothing else would have no training example
    left in that fold, so its fills are dealt one by one."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(examples), dtype=int)
    by_label: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        by_label.setdefault(example.label, []).append(i)
    for label in sorted(by_label):
        members = by_label[label]
        units = split_units([examples[i] for i in members])
        if len(units) == 1:
            units = [[j] for j in units[0]]
        start = int(rng.integers(k))
        dealt = [0] * k
        for u in sorted(rng.permutation(len(units)), key=lambda u: -len(units[u])):
            target = min(range(k), key=lambda f: (dealt[f], (f - start) % k))
            dealt[target] += len(units[u])
            for j in units[u]:
                fold[members[j]] = target
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
    predicted: list[str] = [""] * len(examples)
    confidence = np.zeros(len(examples))
    scores = []
    labels = tuple(sorted({e.label for e in examples}))
    folds = fold_datasets(examples, k, seed=seed, task=task, valid_share=valid_share)
    for f, (held, dataset) in enumerate(folds):
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
