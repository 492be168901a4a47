"""intently.backends.fitting: fit checks, validation split, hold-out and softmax."""

import numpy as np
import pytest

from intently.backends.fitting import (
    check_fit_inputs,
    fit_failures,
    holdout_split,
    softmax,
    usable_valid,
)
from intently.errors import DataError, TrainingError


def test_holdout_split_is_stratified_seeded_and_spares_tiny_classes():
    targets = np.array([0] * 10 + [1] * 10 + [2] * 2)
    train, held = holdout_split(targets, 0.2, seed=3)
    assert sorted([*train, *held]) == list(range(22))
    assert np.bincount(targets[held], minlength=3).tolist() == [2, 2, 0]
    np.testing.assert_array_equal(held, holdout_split(targets, 0.2, seed=3)[1])
    assert not np.array_equal(held, holdout_split(targets, 0.2, seed=4)[1])
    assert len(holdout_split(targets, 0.0, seed=3)[1]) == 0


def test_a_class_of_three_holds_out_one_example_even_when_the_share_rounds_to_none():
    labels = ["a"] * 3 + ["b"] * 4 + ["c"] * 20
    _, held = holdout_split(labels, 0.1, seed=0)
    counts = {label: sum(labels[i] == label for i in held) for label in "abc"}
    assert counts == {"a": 1, "b": 1, "c": 2}


def test_string_labels_and_their_class_indices_hold_out_the_same_rows():
    labels = ["refund", "greet", "order"] * 7
    targets = np.searchsorted(sorted(set(labels)), labels)
    for a, b in zip(holdout_split(labels, 0.3, 5), holdout_split(targets, 0.3, 5), strict=True):
        np.testing.assert_array_equal(a, b)


def test_check_fit_inputs_returns_lists_unit_weights_and_sorted_classes():
    texts, labels, weights, classes = check_fit_inputs(("x", "y", "z"), ("b", "a", "b"))
    assert texts == ["x", "y", "z"] and labels == ["b", "a", "b"]
    np.testing.assert_array_equal(weights, [1.0, 1.0, 1.0])
    assert classes == ("a", "b")
    *_, described = check_fit_inputs([], [], described={"greet": ["hi"], "bye": ["ciao"]})
    assert described == ("bye", "greet")


@pytest.mark.parametrize(
    ("texts", "labels", "weights", "match"),
    [
        (["x", "y"], ["a"], None, "2 texts but 1 labels"),
        (["x", "y"], ["a", "b"], [1.0, -1.0], "non-negative"),
        (["x", "y"], ["a", "b"], [1.0, float("nan")], "finite"),
        (["x", "y"], ["a", "b"], [1.0], "one finite"),
        (["x", "y"], ["a", "a"], None, "at least two labels"),
    ],
)
def test_check_fit_inputs_refuses_bad_data(texts, labels, weights, match):
    with pytest.raises(TrainingError, match=match):
        check_fit_inputs(texts, labels, weights)


def test_the_two_label_error_carries_the_callers_hint():
    with pytest.raises(TrainingError) as info:
        check_fit_inputs(["x"], ["a"], hint="describe each intent.")
    assert info.value.hint == "describe each intent."


def test_usable_valid_needs_texts_and_known_labels():
    classes = ("a", "b")
    assert usable_valid(None, classes) == ([], [])
    assert usable_valid(([], []), classes) == ([], [])
    assert usable_valid((("x",), ("c",)), classes) == ([], [])  # an unseen label
    assert usable_valid((("x", "y"), ("b", "a")), classes) == (["x", "y"], ["b", "a"])
    with pytest.raises(TrainingError, match="2 validation texts but 1 labels"):
        usable_valid((["x", "y"], ["a"]), classes)


def test_softmax_rows_sum_to_one_without_overflow():
    proba = softmax(np.array([[1000.0, 1000.0, 0.0], [0.0, 1.0, 2.0]]))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[0], [0.5, 0.5, 0.0], atol=1e-12)
    assert np.all(np.diff(proba[1]) > 0)


def test_fit_failures_turns_numerical_errors_into_training_errors() -> None:
    failed = "the linear backend failed to fit fold 2/5"
    with pytest.raises(TrainingError, match=f"{failed}: NaN") as info, fit_failures(failed):
        raise ValueError("NaN in input")
    assert isinstance(info.value.__cause__, ValueError)
    # Intently's own errors pass as they are
    with pytest.raises(DataError, match="already clear"), fit_failures(failed):
        raise DataError("already clear")
