"""Choices made on validation rows, cross-fitted so that the rows' probabilities stay honest.

A backend that picks something on its validation split (the epoch it early-stops at, the
checkpoint it keeps, a softmax temperature) and then reports probabilities for those same rows
hands the out-of-scope threshold tuner rows that flatter it: that epoch was kept *because* it
classifies them well. :func:`cross_fitted` makes the choice ``k`` times, each time on the rows
of the other folds, and fills each fold's rows with the probabilities of the choice that did
not see them. The fitted model still uses the choice made on every row; only the rows handed to
the threshold tuner (and to a stack with given weights) are cross-fitted, as a stack's
out-of-fold rows are (issue 14, item 6).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from intently.evaluation.metrics import macro_f1

VALIDATION_FOLDS = 5
"""Folds of the validation rows; fewer when there are fewer rows."""

Choice = TypeVar("Choice")


def cross_fitted(
    targets: np.ndarray,
    choose: Callable[[np.ndarray], Choice],
    apply: Callable[[Choice, np.ndarray], np.ndarray],
    *,
    k: int = VALIDATION_FOLDS,
    seed: int = 13,
) -> tuple[np.ndarray, list[Choice]]:
    """Probabilities of every validation row from a choice made without it, and the choices.

    ``choose(rows)`` makes the choice on those row indices; ``apply(choice, rows)`` returns the
    probabilities of those rows under it. With fewer than two rows there is nothing to hold
    out: the one choice is made on all of them.
    """
    rows = np.arange(len(targets))
    k = min(k, len(targets))
    if k < 2:
        choice = choose(rows)
        return apply(choice, rows), [choice]
    fold = validation_folds(targets, k, seed=seed)
    choices = [choose(rows[fold != f]) for f in range(k)]
    held_proba = [apply(choice, rows[fold == f]) for f, choice in enumerate(choices)]
    proba = np.zeros((len(targets), held_proba[0].shape[1]), dtype=held_proba[0].dtype)
    for f, fold_proba in enumerate(held_proba):
        proba[fold == f] = fold_proba
    return proba, choices


def validation_folds(targets: np.ndarray, k: int, *, seed: int) -> np.ndarray:
    """Fold index per row: rows sorted by class (shuffled within it, from ``seed``) and dealt
    round-robin, so each class is spread evenly and every fold holds ``len // k`` rows or one
    more; none is empty, even when every class has a single row."""
    order = np.lexsort((np.random.default_rng(seed).permutation(len(targets)), targets))
    fold = np.empty(len(targets), dtype=int)
    fold[order] = np.arange(len(targets)) % k
    return fold


def best_candidate(
    candidates: Sequence[np.ndarray], targets: np.ndarray, rows: np.ndarray, *, latest: bool
) -> int:
    """Index of the candidate probabilities with the highest macro-F1 on ``rows``; ties go
    to the earliest candidate, or with ``latest`` to the last (as spaCy's loop keeps them)."""
    scores = [macro_f1(targets[rows], proba[rows].argmax(axis=1)) for proba in candidates]
    order = range(len(scores) - 1, -1, -1) if latest else range(len(scores))
    return max(order, key=lambda i: scores[i])


def cross_fitted_candidates(
    candidates: Sequence[np.ndarray],
    targets: np.ndarray,
    *,
    latest: bool = False,
    k: int = VALIDATION_FOLDS,
    seed: int = 13,
) -> tuple[np.ndarray, list[int]]:
    """:func:`cross_fitted` for a pick among ``candidates`` (per-epoch or per-checkpoint
    probabilities of the validation rows) by macro-F1: each fold's rows come from the candidate
    that scores best on the other folds. Returns the rows and each fold's candidate index."""
    if not candidates:
        raise ValueError("no candidate probabilities to choose from.")
    return cross_fitted(
        targets,
        lambda rows: best_candidate(candidates, targets, rows, latest=latest),
        lambda index, rows: candidates[index][rows],
        k=k,
        seed=seed,
    )
