"""Out-of-scope and ambiguity fallback, and tuning its threshold on validation data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from intently.runtime.mixing import retemper


def top_two(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's top class index, its probability, and the runner-up's probability."""
    proba = np.atleast_2d(proba)
    rows = np.arange(len(proba))
    top = proba.argmax(axis=1)
    top_p = proba[rows, top]
    if proba.shape[1] < 2:
        return top, top_p, np.zeros(len(proba))
    rest = proba.copy()
    rest[rows, top] = -np.inf
    return top, top_p, rest.max(axis=1)


@dataclass(frozen=True)
class FallbackRule:
    """Fall back to ``label`` when the top class is ``label``, its probability is below
    ``threshold``, or it leads the runner-up by less than ``ambiguity_threshold``.

    ``temperature`` is one the model already applied to its probabilities (a ``stack``'s): the
    threshold and the margin read them with it undone (:meth:`reading`). Sharpening re-ranks
    texts by confidence: a diffuse row, as out-of-scope texts give, gains more than one split
    between two intents, so a threshold on the sharpened confidence caught fewer out-of-scope
    texts for the same in-scope budget (pseudo projects, docs/BENCHMARKS.md). The confidences
    a caller sees stay the model's.
    """

    label: str = "oos"
    threshold: float = 0.0
    ambiguity_threshold: float = 0.0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        # NaN compares false with everything: a NaN threshold would silently turn the
        # fallback off, so it is refused here rather than at the first odd answer.
        for name in ("threshold", "ambiguity_threshold"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}")
        if not isinstance(self.temperature, int | float) or not 0.0 < self.temperature < np.inf:
            raise ValueError(f"temperature must be a positive number; got {self.temperature!r}")

    def record(self) -> dict[str, object]:
        """The rule as a model version stores it (:meth:`from_record` reads it back)."""
        return {
            "label": self.label,
            "threshold": self.threshold,
            "ambiguity_threshold": self.ambiguity_threshold,
            "temperature": self.temperature,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> FallbackRule:
        """The rule a version stored; KeyError, TypeError or ValueError when it is damaged."""
        if not isinstance(record["label"], str):
            raise TypeError("the fallback label is not a string")
        return cls(
            label=record["label"],
            threshold=_number(record["threshold"]),
            ambiguity_threshold=_number(record["ambiguity_threshold"]),
            # versions trained before the rule could undo a stack's temperature tuned their
            # threshold on the tempered confidences: reading those is right for them
            temperature=_number(record.get("temperature", 1.0)),
        )

    def reading(self, proba: np.ndarray) -> np.ndarray:
        """The probabilities the threshold and the margin compare: ``proba`` with the model's
        temperature undone (each row's order of classes is unchanged)."""
        return retemper(np.atleast_2d(proba), 1.0 / self.temperature)

    def apply(self, proba: np.ndarray, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Final label indices (−1 = fallback) and fallback flags for a (n, k) probability array."""
        return self.decide(*top_two(self.reading(proba)), classes)

    def decide(
        self, top: np.ndarray, top_p: np.ndarray, second_p: np.ndarray, classes: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`apply` on the output of :func:`top_two` of :meth:`reading` (computed once
        when tuning)."""
        is_fallback_class = np.asarray(classes, dtype=object)[top] == self.label
        fallback = (
            is_fallback_class
            | (top_p < self.threshold)
            | (top_p - second_p < self.ambiguity_threshold)
        )
        return np.where(fallback, -1, top), fallback

    def falls_back(
        self, top_label: str, row: Sequence[float], top: int, second: int | None
    ) -> bool:
        """:meth:`apply` for one text's probabilities ``row``, whose top class is ``top``
        (``top_label``) and runner-up ``second`` (None: one class), in plain Python (the
        single-request serving path)."""
        top_p, second_p = row[top], 0.0 if second is None else row[second]
        if self.temperature != 1.0:
            power = self.temperature
            total = math.fsum(p**power for p in row)
            top_p, second_p = top_p**power / total, second_p**power / total
        return (
            top_label == self.label
            or top_p < self.threshold
            or top_p - second_p < self.ambiguity_threshold
        )

    def labels(self, proba: np.ndarray, classes: Sequence[str]) -> list[str]:
        index, _ = self.apply(proba, classes)
        return [self.label if i < 0 else classes[i] for i in index]


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    in_scope_accuracy: float
    oos_recall: float
    baseline_in_scope_accuracy: float


def operating_point(
    rule: FallbackRule,
    ranked: tuple[np.ndarray, np.ndarray, np.ndarray],
    truth: np.ndarray,
    classes: Sequence[str],
) -> tuple[float, float]:
    """In-scope accuracy and OOS recall of ``rule`` on texts labelled ``truth`` (both kinds
    present), given their probabilities ranked by :func:`top_two`."""
    truth = np.asarray(truth)
    is_oos = truth == rule.label
    index, fallback = rule.decide(*ranked, classes)
    right = ~fallback & (np.asarray(classes, dtype=object)[np.maximum(index, 0)] == truth)
    return float(np.mean(right[~is_oos])), float(np.mean(fallback[is_oos]))


def tune_threshold(
    proba: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    fallback_label: str,
    ambiguity_threshold: float = 0.0,
    max_in_scope_drop: float = 0.01,
    temperature: float = 1.0,
) -> ThresholdChoice | None:
    """Pick the confidence threshold maximising (in-scope accuracy + OOS recall) / 2.

    Thresholds that cost more than ``max_in_scope_drop`` of in-scope accuracy against no
    threshold at all are not considered: past that point the balanced objective trades many
    answered questions for few caught out-of-scope ones. ``temperature``: one the model applied
    to ``proba``, which the threshold reads undone (:attr:`FallbackRule.temperature`). Returns
    None without OOS examples.
    """
    truth = np.asarray(labels)
    is_oos = truth == fallback_label
    if not is_oos.any() or is_oos.all():
        return None
    unthresholded = FallbackRule(fallback_label, 0.0, ambiguity_threshold, temperature)
    top, top_p, second_p = top_two(unthresholded.reading(proba))
    # Midpoints between observed confidences: a cut exactly at an observed value is fragile
    # on small validation sets.
    observed = np.unique(top_p)
    candidates = np.concatenate([[0.0], (observed[:-1] + observed[1:]) / 2])
    # Every candidate at once: what falls back regardless of the threshold (the fallback class
    # on top, or an ambiguous lead) plus, for each candidate, the rows below it, counted by
    # binary search in the sorted confidences ("below" is top_p < threshold, as in decide()).
    always = unthresholded.decide(top, top_p, second_p, classes)[1]
    right = np.asarray(classes, dtype=object)[top] == truth
    kept_right = np.sort(top_p[~is_oos & right & ~always])
    other_oos = np.sort(top_p[is_oos & ~always])
    n_in, n_oos = int(np.count_nonzero(~is_oos)), int(np.count_nonzero(is_oos))
    in_scope = (len(kept_right) - np.searchsorted(kept_right, candidates, side="left")) / n_in
    recall = (
        np.count_nonzero(is_oos & always) + np.searchsorted(other_oos, candidates, side="left")
    ) / n_oos
    baseline = float(in_scope[0])
    allowed = in_scope >= baseline - max_in_scope_drop - 1e-12
    objective = np.where(allowed, in_scope + recall, -np.inf)
    # the first (lowest) threshold reaching the best objective
    chosen = int(np.argmax(objective >= objective.max() - 1e-12))
    return ThresholdChoice(
        float(candidates[chosen]), float(in_scope[chosen]), float(recall[chosen]), baseline
    )
