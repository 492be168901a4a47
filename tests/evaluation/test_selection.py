"""Cross-fitted choices on validation rows: no row's probabilities come from a choice it made."""

from __future__ import annotations

import numpy as np
import pytest

from intently.evaluation.metrics import macro_f1
from intently.evaluation.selection import (
    best_candidate,
    cross_fitted,
    cross_fitted_candidates,
    validation_folds,
)


def _one_hot(predicted: list[int], n_classes: int = 2) -> np.ndarray:
    return np.eye(n_classes)[predicted]


def test_each_row_is_predicted_by_the_candidate_the_other_rows_chose():
    # Two rows, one per class, so two folds of one row. Candidate 0 is right on row 0 only,
    # candidate 1 on row 1 only: each row alone would choose the candidate that is right on
    # it, so cross-fitted every row gets the candidate that is wrong on it.
    targets = np.array([0, 1])
    candidates = [_one_hot([0, 0]), _one_hot([1, 1])]
    proba, choices = cross_fitted_candidates(candidates, targets)
    assert sorted(choices) == [0, 1]
    np.testing.assert_array_equal(proba.argmax(axis=1), [1, 0])
    # chosen on both rows (a tie), candidate 0 would have been right on half of them
    assert best_candidate(candidates, targets, np.arange(2), latest=False) == 0


def test_a_candidate_best_everywhere_fills_every_fold():
    rng = np.random.default_rng(0)
    targets = np.repeat(np.arange(3), 10)
    noisy = rng.dirichlet(np.ones(3), size=30)
    exact = np.eye(3)[targets] * 0.9 + 0.05
    proba, choices = cross_fitted_candidates([noisy, exact, noisy[::-1]], targets)
    assert choices == [1] * 5
    np.testing.assert_array_equal(proba, exact)


def test_ties_go_to_the_earliest_or_with_latest_to_the_last_candidate():
    targets = np.array([0, 1, 0, 1])
    same = _one_hot([0, 1, 0, 1])
    rows = np.arange(4)
    assert best_candidate([same, same, same], targets, rows, latest=False) == 0
    assert best_candidate([same, same, same], targets, rows, latest=True) == 2


def test_a_continuous_choice_is_fitted_on_the_other_folds_only():
    targets = np.repeat([0, 1], 6)

    def choose(rows: np.ndarray) -> frozenset[int]:
        return frozenset(rows.tolist())

    def apply(fitted_on: frozenset[int], rows: np.ndarray) -> np.ndarray:
        return np.array([[row in fitted_on, len(fitted_on)] for row in rows], dtype=float)

    proba, fitted = cross_fitted(targets, choose, apply, k=3, seed=1)
    assert not proba[:, 0].any()  # no row was among the rows its choice was made on
    assert set(proba[:, 1]) == {8.0}  # each choice saw the other two folds: 8 of 12 rows
    assert frozenset().union(*fitted) == frozenset(range(12))


def test_folds_are_stratified_balanced_and_never_empty():
    targets = np.array([0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4])
    fold = validation_folds(targets, 3, seed=5)
    assert sorted(np.bincount(fold, minlength=3)) == [3, 4, 4]
    assert sorted(np.bincount(fold[targets == 4], minlength=3)) == [2, 2, 3]
    np.testing.assert_array_equal(fold, validation_folds(targets, 3, seed=5))


def test_fewer_rows_than_folds_and_a_single_row():
    targets = np.array([0, 1, 1])
    candidates = [_one_hot([0, 1, 1]), _one_hot([1, 1, 1])]
    proba, choices = cross_fitted_candidates(candidates, targets, k=5)
    assert len(choices) == 3 and proba.shape == (3, 2)
    single, only = cross_fitted_candidates([_one_hot([1])], np.array([1]))
    assert only == [0] and single.argmax(axis=1).tolist() == [1]
    with pytest.raises(ValueError, match="no candidate"):
        cross_fitted_candidates([], targets)


def test_a_choice_made_on_the_scored_rows_flatters_them_and_cross_fitting_does_not():
    # Selection on the rows it is scored on is optimistic; cross-fitting removes that, so
    # over many random draws of pure-noise candidates the in-sample pick looks better.
    # A pick at random would score the candidates' average; the cross-fitted rows should too.
    rng = np.random.default_rng(3)
    in_sample, crossed, any_pick = [], [], []
    for _ in range(300):
        targets = rng.integers(0, 4, size=40)
        candidates = [rng.dirichlet(np.ones(4), size=40) for _ in range(6)]
        scores = [macro_f1(targets, c.argmax(axis=1)) for c in candidates]
        any_pick.append(np.mean(scores))
        in_sample.append(scores[best_candidate(candidates, targets, np.arange(40), latest=False)])
        proba, _ = cross_fitted_candidates(candidates, targets, seed=int(rng.integers(100)))
        crossed.append(macro_f1(targets, proba.argmax(axis=1)))
    assert np.mean(in_sample) > np.mean(any_pick) + 0.05
    assert abs(np.mean(crossed) - np.mean(any_pick)) < 0.02
