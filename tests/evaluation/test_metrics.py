import numpy as np
import pytest
from sklearn import metrics as skm

from intently.evaluation import evaluate_predictions
from intently.evaluation.metrics import expected_calibration_error, macro_f1


def _random_case(seed: int = 7, n: int = 300):
    rng = np.random.default_rng(seed)
    truth_labels = ["a", "b", "c", "d", "e"]
    truth = list(rng.choice(truth_labels, size=n, p=[0.4, 0.25, 0.15, 0.15, 0.05]))
    # 60% right; the rest guessed among the truth labels plus 'f', which never occurs in truth.
    guesses = rng.choice([*truth_labels, "f"], size=n)
    predicted = [t if rng.random() < 0.6 else str(g) for t, g in zip(truth, guesses, strict=True)]
    confidence = list(rng.uniform(0.2, 1.0, size=n))
    return [f"text {i}" for i in range(n)], truth, predicted, confidence


@pytest.fixture(scope="module")
def random_report():
    texts, truth, predicted, confidence = _random_case()
    report = evaluate_predictions(
        texts,
        truth,
        predicted,
        confidence,
        defined_labels=["a", "b", "c", "d", "e"],
        fallback_label="oos",
    )
    return report, truth, predicted


def test_headline_metrics_match_scikit_learn(random_report):
    report, truth, predicted = random_report
    present = sorted(set(truth))
    assert "f" in predicted and "f" not in present
    assert report.n == len(truth)
    assert report.accuracy == pytest.approx(skm.accuracy_score(truth, predicted))
    p, r, f, _ = skm.precision_recall_fscore_support(
        truth, predicted, labels=present, average="macro", zero_division=0
    )
    assert report.macro_precision == pytest.approx(p)
    assert report.macro_recall == pytest.approx(r)
    assert report.macro_f1 == pytest.approx(f)
    _, _, weighted, _ = skm.precision_recall_fscore_support(
        truth, predicted, labels=present, average="weighted", zero_division=0
    )
    assert report.weighted_f1 == pytest.approx(weighted)


def test_per_label_scores_match_scikit_learn(random_report):
    report, truth, predicted = random_report
    present = sorted(set(truth))
    p, r, f, support = skm.precision_recall_fscore_support(
        truth, predicted, labels=present, average=None, zero_division=0
    )
    assert sorted(report.per_label) == present  # labels only predicted get no row
    for i, label in enumerate(present):
        score = report.per_label[label]
        assert score.precision == pytest.approx(p[i])
        assert score.recall == pytest.approx(r[i])
        assert score.f1 == pytest.approx(f[i])
        assert score.support == support[i]
    lowest = min(present, key=lambda label: report.per_label[label].f1)
    assert report.lowest_f1 == (lowest, pytest.approx(report.per_label[lowest].f1))


def test_confusion_matrix_matches_scikit_learn(random_report):
    report, truth, predicted = random_report
    assert report.labels == ("a", "b", "c", "d", "e", "f")
    expected = skm.confusion_matrix(truth, predicted, labels=list(report.labels))
    np.testing.assert_array_equal(np.array(report.confusion), expected)


def test_confused_with_lists_off_diagonal_pairs_by_count():
    truth = ["a", "a", "a", "b", "b", "c"]
    predicted = ["b", "b", "a", "a", "b", "c"]
    report = evaluate_predictions(
        ["t"] * 6, truth, predicted, [0.5] * 6, defined_labels=["a", "b", "c"], fallback_label="x"
    )
    assert report.confused_with == [
        {"label": "a", "predicted": "b", "count": 2},
        {"label": "b", "predicted": "a", "count": 1},
    ]
    assert report.confusion == [[1, 2, 0], [1, 1, 0], [0, 0, 1]]


def test_misclassified_are_listed_most_confident_first():
    report = evaluate_predictions(
        ["one", "two", "three", "four"],
        ["a", "a", "b", "b"],
        ["b", "a", "a", "b"],
        [0.3, 0.99, 0.8, 0.6],
        defined_labels=["a", "b"],
        fallback_label="oos",
    )
    assert [row["text"] for row in report.misclassified] == ["three", "one"]
    assert report.misclassified[0] == {
        "text": "three",
        "label": "b",
        "predicted": "a",
        "confidence": 0.8,
    }
    assert report.correct == [False, True, False, True]


def test_out_of_scope_metrics():
    truth = ["a", "a", "b", "b", "oos", "oos", "oos", "oos"]
    predicted = ["a", "oos", "b", "a", "oos", "oos", "oos", "b"]
    report = evaluate_predictions(
        ["t"] * 8,
        truth,
        predicted,
        [0.9] * 8,
        defined_labels=["a", "b"],
        fallback_label="oos",
        threshold=0.42,
    )
    assert report.oos is not None
    assert report.oos.in_scope_accuracy == pytest.approx(2 / 4)
    assert report.oos.oos_recall == pytest.approx(3 / 4)
    assert report.oos.threshold == 0.42
    assert report.fallback_rate == pytest.approx(4 / 8)
    # The fallback label is scored but never the "weakest intent".
    assert report.per_label["oos"].recall == pytest.approx(0.75)
    assert report.lowest_f1 is not None and report.lowest_f1[0] in ("a", "b")
    headline = report.headline()
    assert headline["in_scope_accuracy"] == pytest.approx(0.5)
    assert headline["oos_recall"] == pytest.approx(0.75)


def test_no_out_of_scope_examples_means_no_oos_metrics():
    report = evaluate_predictions(
        ["t", "u"],
        ["a", "b"],
        ["a", "b"],
        [1.0, 1.0],
        defined_labels=["a", "b"],
        fallback_label="x",
    )
    assert report.oos is None
    assert report.headline()["oos_recall"] is None
    assert report.accuracy == 1.0
    assert report.ece == pytest.approx(0.0)


def test_coverage_counts_defined_labels_with_examples():
    report = evaluate_predictions(
        ["t", "u", "v"],
        ["a", "b", "oos"],
        ["a", "a", "oos"],
        [0.9, 0.9, 0.9],
        defined_labels=["a", "b", "c", "d", "oos"],
        fallback_label="oos",
    )
    assert report.coverage == pytest.approx(2 / 4)  # the fallback label is not an intent
    assert report.uncovered == ("c", "d")
    assert set(report.labels) == {"a", "b", "c", "d", "oos"}
    assert "c" not in report.per_label


def test_empty_evaluation_set():
    report = evaluate_predictions([], [], [], [], defined_labels=["a"], fallback_label="oos")
    assert report.n == 0
    assert report.accuracy == 0.0
    assert report.coverage == 0.0
    assert report.lowest_f1 is None
    assert report.ece == 0.0


def test_expected_calibration_error_hand_computed():
    confidence = np.array([0.9, 0.9, 0.3, 0.3])
    correct = np.array([True, False, False, False])
    # Two occupied bins of 15: |0.5 - 0.9| * 2 and |0 - 0.3| * 2, over 4 predictions.
    assert expected_calibration_error(confidence, correct) == pytest.approx((0.8 + 0.6) / 4)
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([True, True])) == 0.0
    # Same bin: accuracy 2/3 vs mean confidence 0.7.
    assert expected_calibration_error(
        np.array([0.68, 0.7, 0.72]), np.array([True, True, False])
    ) == pytest.approx(abs(2 / 3 - 0.7))
    assert expected_calibration_error(np.array([]), np.array([], dtype=bool)) == 0.0


def test_report_to_json_is_plain_data(random_report):
    import json

    report, _, _ = random_report
    data = report.to_json()
    assert json.loads(json.dumps(data))["accuracy"] == report.accuracy
    assert data["lowest_f1"]["label"] == report.lowest_f1[0]
    assert data["per_label"]["a"]["support"] == report.per_label["a"].support


def test_macro_f1_is_the_reports_macro_f1_on_plain_label_arrays(random_report):
    report, truth, predicted = random_report
    assert macro_f1(truth, predicted) == pytest.approx(report.macro_f1)
    # class indices work too; a label only predicted ('f' -> 5) is not averaged in
    index = {label: i for i, label in enumerate("abcdef")}
    as_ints = macro_f1(np.array([index[t] for t in truth]), [index[p] for p in predicted])
    assert as_ints == pytest.approx(report.macro_f1)
    assert macro_f1([0, 0, 1], [0, 2, 1]) == pytest.approx((2 / 3 + 1) / 2)
    assert macro_f1([], []) == 0.0
