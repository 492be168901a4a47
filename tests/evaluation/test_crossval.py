from collections import Counter

import numpy as np
import pytest

from intently.data import Example
from intently.errors import DataError
from intently.evaluation import cross_validate
from intently.evaluation.crossval import fold_assignment

SIZES = {"a": 12, "b": 7, "c": 5, "d": 2}
EXAMPLES = [Example(f"{label} text {i}", label) for label, n in SIZES.items() for i in range(n)]


class RecordingPredictor:
    """Predicts the truth except for texts ending in 0; records what each fold saw."""

    def __init__(self):
        self.calls = []

    def __call__(self, dataset, held):
        self.calls.append((dataset, list(held)))
        labels = [e.label if not e.text.endswith("0") else "wrong" for e in held]
        return labels, np.full(len(held), 0.75)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_fold_assignment_is_stratified_and_deterministic(k):
    fold = fold_assignment(EXAMPLES, k, seed=1)
    assert set(fold) <= set(range(k))
    np.testing.assert_array_equal(fold, fold_assignment(EXAMPLES, k, seed=1))
    for label, n in SIZES.items():
        per_fold = Counter(int(f) for f, e in zip(fold, EXAMPLES, strict=True) if e.label == label)
        counts = [per_fold.get(f, 0) for f in range(k)]
        assert max(counts) - min(counts) <= 1, (label, counts)
        assert sum(counts) == n


def _fills(label, template, n):
    return [
        Example(f"{template} {i}", label, source="template", meta={"template": template})
        for i in range(n)
    ]


def test_a_templates_fills_are_held_out_together_and_folds_stay_balanced():
    examples = (
        _fills("a", "pay {x}", 5)
        + [Example(f"a plain {i}", "a") for i in range(4)]
        + _fills("a", "send {x}", 3)
        + _fills("b", "buy {x}", 4)
        + _fills("b", "get {x}", 4)
        + [Example(f"b plain {i}", "b") for i in range(2)]
    )
    for seed in range(10):
        fold = fold_assignment(examples, 3, seed=seed)
        by_template = {}
        for f, example in zip(fold, examples, strict=True):
            by_template.setdefault(example.meta.get("template", example.text), set()).add(int(f))
        assert all(len(folds) == 1 for folds in by_template.values()), by_template
        for label in "ab":
            per_fold = Counter(
                int(f) for f, e in zip(fold, examples, strict=True) if e.label == label
            )
            # every fold's model trains on some of the label; the largest unit bounds imbalance
            assert all(per_fold[f] < sum(per_fold.values()) for f in range(3))
            assert max(per_fold.values()) - min(per_fold.get(f, 0) for f in range(3)) <= 5


def test_a_label_made_of_one_templates_fills_is_dealt_example_by_example():
    examples = _fills("a", "pay {x}", 6) + [Example(f"b {i}", "b") for i in range(6)]
    fold = fold_assignment(examples, 3, seed=2)
    assert sorted(Counter(int(f) for f in fold[:6]).values()) == [2, 2, 2]


def test_each_example_is_predicted_exactly_once_by_a_model_that_never_saw_it():
    predictor = RecordingPredictor()
    seen_folds = []
    result = cross_validate(EXAMPLES, predictor, k=3, seed=4, on_fold=seen_folds.append)
    assert seen_folds == [1, 2, 3]
    assert len(predictor.calls) == 3
    held_texts = [e.text for _, held in predictor.calls for e in held]
    assert sorted(held_texts) == sorted(e.text for e in EXAMPLES)
    for dataset, held in predictor.calls:
        trained_on = {e.text for e in dataset.train + dataset.valid}
        assert not trained_on & {e.text for e in held}
        assert len(trained_on) + len(held) == len(EXAMPLES)
        assert dataset.test == ()
        assert dataset.labels == ("a", "b", "c", "d")
        assert dataset.valid  # the training part is split again for validation
    assert [f.fold for f in result.folds] == [1, 2, 3]
    assert sum(f.n for f in result.folds) == len(EXAMPLES)


def test_pooled_report_scores_every_out_of_fold_prediction():
    result = cross_validate(EXAMPLES, RecordingPredictor(), k=4, seed=0)
    pooled = result.pooled
    assert pooled.n == len(EXAMPLES)
    wrong = sum(e.text.endswith("0") for e in EXAMPLES)
    assert pooled.accuracy == pytest.approx(1 - wrong / len(EXAMPLES))
    assert pooled.confidences == [0.75] * len(EXAMPLES)
    summary = result.summary()
    assert summary["accuracy_mean"] == pytest.approx(np.mean([f.accuracy for f in result.folds]))
    assert summary["accuracy_std"] == pytest.approx(np.std([f.accuracy for f in result.folds]))
    assert set(summary) == {"accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std"}


@pytest.mark.parametrize("k", [1, 0, -3])
def test_fewer_than_two_folds_is_a_data_error(k):
    with pytest.raises(DataError, match="at least 2 folds"):
        cross_validate(EXAMPLES, RecordingPredictor(), k=k)


def test_more_folds_than_examples_is_a_data_error():
    with pytest.raises(DataError, match="cannot be split into 5 folds"):
        cross_validate(EXAMPLES[:4], RecordingPredictor(), k=5)
