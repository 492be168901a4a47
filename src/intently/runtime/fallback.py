"""Out-of-scope and ambiguity fallback, and tuning its threshold on validation data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intently.runtime.mixing import retemper
from intently.runtime.novelty import Novelty, number, tune_novelty


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

    ``novelty`` (a model with sentence vectors: a ``stack`` with an ``embedding`` member)
    replaces the probability threshold: a text falls back when its novelty, read from its
    top probability and its vector, is above the novelty's cut (:mod:`intently.runtime.novelty`);
    the class and margin conditions stay. Deciding then needs each text's vector.
    """

    label: str = "oos"
    threshold: float = 0.0
    ambiguity_threshold: float = 0.0
    temperature: float = 1.0
    novelty: Novelty | None = None

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
            **({"novelty": self.novelty.record()} if self.novelty else {}),
        }

    def save(self, directory: Path) -> None:
        """The files the record names (the novelty's reference vectors), into ``directory``."""
        if self.novelty is not None:
            self.novelty.save(directory)

    @classmethod
    def from_record(
        cls, record: Mapping[str, object], directory: Path | None = None
    ) -> FallbackRule:
        """The rule a version stored (``directory``: the version's, for the files it names);
        KeyError, TypeError, ValueError or OSError when it is damaged."""
        if not isinstance(record["label"], str):
            raise TypeError("the fallback label is not a string")
        stored, novelty = record.get("novelty"), None
        if stored is not None:
            if not isinstance(stored, Mapping) or directory is None:
                raise TypeError("the novelty record is malformed or its directory unknown")
            novelty = Novelty.from_record(stored, directory)
        return cls(
            label=record["label"],
            threshold=number(record["threshold"]),
            ambiguity_threshold=number(record["ambiguity_threshold"]),
            # versions trained before the rule could undo a stack's temperature tuned their
            # threshold on the tempered confidences: reading those is right for them
            temperature=number(record.get("temperature", 1.0)),
            novelty=novelty,
        )

    def reading(self, proba: np.ndarray) -> np.ndarray:
        """The probabilities the threshold and the margin compare: ``proba`` with the model's
        temperature undone (each row's order of classes is unchanged)."""
        return retemper(np.atleast_2d(proba), 1.0 / self.temperature)

    def apply(
        self, proba: np.ndarray, classes: Sequence[str], vectors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Final label indices (−1 = fallback) and fallback flags for a (n, k) probability
        array (``vectors``: the texts' sentence vectors, needed when the rule has a novelty)."""
        return self.decide(*top_two(self.reading(proba)), classes, vectors)

    def decide(
        self,
        top: np.ndarray,
        top_p: np.ndarray,
        second_p: np.ndarray,
        classes: Sequence[str],
        vectors: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`apply` on the output of :func:`top_two` of :meth:`reading` (computed once
        when tuning)."""
        is_fallback_class = np.asarray(classes, dtype=object)[top] == self.label
        if self.novelty is None:
            unsure = top_p < self.threshold
        elif vectors is None:
            raise ValueError("this fallback rule reads sentence vectors; none were given")
        else:
            unsure = self.novelty.scores(top_p, vectors) > self.novelty.cut
        fallback = is_fallback_class | unsure | (top_p - second_p < self.ambiguity_threshold)
        return np.where(fallback, -1, top), fallback

    def falls_back(
        self, top_label: str, row: Sequence[float], top: int, second: int | None
    ) -> bool:
        """:meth:`apply` for one text's probabilities ``row``, whose top class is ``top``
        (``top_label``) and runner-up ``second`` (None: one class), in plain Python (the
        single-request serving path; a rule with a novelty decides with :meth:`apply`)."""
        if self.novelty is not None:
            raise ValueError("this fallback rule reads sentence vectors: decide with apply()")
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

    def labels(
        self, proba: np.ndarray, classes: Sequence[str], vectors: np.ndarray | None = None
    ) -> list[str]:
        index, _ = self.apply(proba, classes, vectors)
        return [self.label if i < 0 else classes[i] for i in index]


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


def with_novelty(
    rule: FallbackRule,
    choice: ThresholdChoice,
    proba: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    vectors: np.ndarray,
    reference: np.ndarray,
) -> FallbackRule:
    """``rule`` (its threshold tuned on these validation rows as ``choice``) with a novelty
    tuned on the same rows at the same in-scope cost, replacing the threshold; ``rule``
    itself when no cut helps (:func:`intently.runtime.novelty.tune_novelty`)."""
    unthresholded = FallbackRule(rule.label, 0.0, rule.ambiguity_threshold, rule.temperature)
    top, top_p, second_p = top_two(unthresholded.reading(proba))
    truth = np.asarray(labels)
    novelty = tune_novelty(
        top_p,
        vectors,
        reference,
        is_oos=truth == rule.label,
        right=np.asarray(classes, dtype=object)[top] == truth,
        always=unthresholded.decide(top, top_p, second_p, classes)[1],
        max_in_scope_drop=choice.baseline_in_scope_accuracy - choice.in_scope_accuracy,
    )
    if novelty is None:
        return rule
    return FallbackRule(rule.label, 0.0, rule.ambiguity_threshold, rule.temperature, novelty)
