"""The out-of-scope novelty: its score, its tuning at the threshold's cost, its record."""

from __future__ import annotations

import numpy as np
import pytest

from intently.runtime.fallback import FallbackRule, ThresholdChoice, with_novelty
from intently.runtime.novelty import (
    REFERENCE_FILE,
    SMALL_REQUEST,
    Novelty,
    dissimilarity,
    similarity,
    tune_novelty,
)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_small_requests_and_batches_get_the_same_cosines():
    rng = np.random.default_rng(0)
    reference = _unit(rng.normal(size=(300, 24))).astype(np.float32)
    batch = _unit(rng.normal(size=(SMALL_REQUEST + 4, 24))).astype(np.float32)
    expected = batch.astype(np.float64) @ reference.T.astype(np.float64)
    np.testing.assert_allclose(similarity(batch, reference), expected, atol=1e-6)
    for text in range(len(batch)):  # one text per request: the small-request path
        one = similarity(batch[text : text + 1], reference)
        np.testing.assert_allclose(one[0], expected[text], atol=1e-6)


def test_dissimilarity_is_minus_the_mean_cosine_of_the_nearest_references():
    reference = np.eye(3)
    vectors = _unit(np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]))
    np.testing.assert_allclose(dissimilarity(vectors, reference, 1), [-1.0, -np.sqrt(0.5)])
    np.testing.assert_allclose(
        dissimilarity(vectors, reference, 2), [-0.5, -np.sqrt(0.5)], rtol=1e-6
    )
    # more neighbours than references: all of them
    np.testing.assert_allclose(dissimilarity(vectors, reference, 10), [-1 / 3, -np.sqrt(2) / 3])


def _rows(seed: int = 0):
    """Validation rows where out-of-scope texts are about as confident as in-scope ones but
    far from every training text: a threshold that costs no in-scope answer catches few of
    them, the novelty all."""
    rng = np.random.default_rng(seed)
    dim = 16
    centres = _unit(rng.normal(size=(2, dim)))
    reference = _unit(np.repeat(centres, 30, axis=0) + 0.05 * rng.normal(size=(60, dim)))
    near = _unit(np.repeat(centres, 20, axis=0) + 0.05 * rng.normal(size=(40, dim)))
    far = _unit(rng.normal(size=(10, dim)))
    vectors = np.vstack([near, far])
    top_p = np.concatenate([rng.uniform(0.5, 0.95, size=40), rng.uniform(0.45, 0.7, size=10)])
    truth = np.array(["a"] * 20 + ["b"] * 20 + ["oos"] * 10)
    predicted = np.array(["a"] * 20 + ["b"] * 20 + ["a"] * 10)
    return top_p, vectors, reference, truth, predicted


def _tuned(max_drop: float = 0.0) -> Novelty | None:
    top_p, vectors, reference, truth, predicted = _rows()
    return tune_novelty(
        top_p,
        vectors,
        reference,
        is_oos=truth == "oos",
        right=predicted == truth,
        always=predicted == "oos",
        max_in_scope_drop=max_drop,
    )


def test_tuning_catches_far_texts_without_costing_in_scope_accuracy():
    novelty = _tuned()
    assert novelty is not None
    top_p, vectors, _, truth, _ = _rows()
    caught = novelty.scores(top_p, vectors) > novelty.cut
    is_oos = truth == "oos"
    assert not caught[~is_oos].any()  # the budget was zero
    # a threshold costing nothing stays under the least confident in-scope text
    by_threshold = np.count_nonzero(top_p[is_oos] < top_p[~is_oos].min())
    assert np.count_nonzero(caught[is_oos]) >= by_threshold + 5
    # tuned on float16 values, as stored, so a loaded version decides as tuned
    np.testing.assert_array_equal(novelty.reference, novelty.reference.astype(np.float16))


def test_no_novelty_without_out_of_scope_rows_or_when_no_cut_helps():
    top_p, vectors, reference, truth, predicted = _rows()
    in_scope = truth != "oos"
    assert (
        tune_novelty(
            top_p[in_scope],
            vectors[in_scope],
            reference,
            is_oos=np.zeros(in_scope.sum(), bool),
            right=np.ones(in_scope.sum(), bool),
            always=np.zeros(in_scope.sum(), bool),
            max_in_scope_drop=0.01,
        )
        is None
    )
    # out-of-scope texts that lie among the training texts: no cut separates them for free
    assert (
        tune_novelty(
            top_p,
            np.vstack([vectors[:40], vectors[:10]]),
            reference,
            is_oos=truth == "oos",
            right=predicted == truth,
            always=predicted == "oos",
            max_in_scope_drop=0.0,
        )
        is None
    )


def test_the_rule_with_a_novelty_replaces_its_threshold_and_needs_vectors():
    top_p, vectors, reference, truth, predicted = _rows()
    classes = ["a", "b", "oos"]
    proba = np.zeros((len(top_p), 3))
    proba[np.arange(len(top_p)), [classes.index(p) for p in predicted]] = top_p
    proba[np.arange(len(top_p)), np.where(proba[:, 0] > 0, 1, 0)] += (1 - top_p) * 0.7
    proba[:, 2] += 1 - proba.sum(axis=1)
    choice = ThresholdChoice(0.5, 1.0, 0.0, 1.0)  # the threshold cost nothing and caught nothing
    rule = with_novelty(FallbackRule("oos", 0.5), choice, proba, truth, classes, vectors, reference)
    assert rule.novelty is not None and rule.threshold == 0.0
    labels = np.array(rule.labels(proba, classes, vectors))
    is_oos = truth == "oos"
    assert (labels[~is_oos] == predicted[~is_oos]).all()
    assert np.count_nonzero(labels[is_oos] == "oos") >= 8
    with pytest.raises(ValueError, match="sentence vectors"):
        rule.apply(proba, classes)
    with pytest.raises(ValueError, match="apply"):
        rule.falls_back("a", proba[0].tolist(), 0, 1)


def test_record_round_trip_and_damage(tmp_path):
    novelty = _tuned()
    assert novelty is not None
    rule = FallbackRule("oos", 0.0, 0.1, 0.8, novelty)
    rule.save(tmp_path)
    record = rule.record()
    assert record["novelty"]["reference"] == REFERENCE_FILE
    loaded = FallbackRule.from_record(record, tmp_path)
    assert loaded.novelty is not None and loaded.novelty.cut == novelty.cut
    np.testing.assert_array_equal(loaded.novelty.reference, novelty.reference)
    top_p, vectors, *_ = _rows()
    np.testing.assert_array_equal(
        loaded.novelty.scores(top_p, vectors), novelty.scores(top_p, vectors)
    )
    with pytest.raises(TypeError, match="directory"):
        FallbackRule.from_record(record)
    with pytest.raises(TypeError):
        FallbackRule.from_record(
            {**record, "novelty": {**record["novelty"], "cut": "high"}}, tmp_path
        )
    # a reference file holding Python objects would need unpickling: refused
    np.save(tmp_path / REFERENCE_FILE, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        FallbackRule.from_record(record, tmp_path)
    (tmp_path / REFERENCE_FILE).unlink()
    with pytest.raises(OSError):
        FallbackRule.from_record(record, tmp_path)


@pytest.mark.parametrize(
    "change",
    [{"centre": (0.0,)}, {"scale": (0.0, 1.0)}, {"cut": float("nan")}, {"neighbours": 0}],
)
def test_malformed_novelty_is_refused(change):
    fields = {"centre": (0.0, 0.0), "scale": (1.0, 1.0), "cut": 1.0, "reference": np.eye(2)}
    with pytest.raises(ValueError):
        Novelty(**(fields | change))
