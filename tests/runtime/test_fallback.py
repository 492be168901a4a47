import numpy as np
import pytest

from intently.runtime import FallbackRule, ThresholdChoice, tune_threshold
from intently.runtime.mixing import retemper

CLASSES = ("a", "b", "oos")


def test_confident_top_class_is_kept():
    rule = FallbackRule("oos", threshold=0.5)
    index, fallback = rule.apply(np.array([[0.7, 0.2, 0.1]]), CLASSES)
    assert index.tolist() == [0]
    assert fallback.tolist() == [False]
    assert rule.labels(np.array([[0.7, 0.2, 0.1]]), CLASSES) == ["a"]


def test_low_confidence_falls_back():
    rule = FallbackRule("oos", threshold=0.5)
    proba = np.array([[0.45, 0.35, 0.20], [0.5, 0.3, 0.2]])
    index, fallback = rule.apply(proba, CLASSES)
    assert fallback.tolist() == [True, False]  # the threshold itself is confident enough
    assert index.tolist() == [-1, 0]
    assert rule.labels(proba, CLASSES) == ["oos", "a"]


def test_small_gap_to_runner_up_falls_back_with_ambiguity_threshold():
    proba = np.array([[0.50, 0.45, 0.05], [0.60, 0.30, 0.10]])
    assert FallbackRule("oos").labels(proba, CLASSES) == ["a", "a"]
    ambiguous = FallbackRule("oos", ambiguity_threshold=0.1)
    assert ambiguous.labels(proba, CLASSES) == ["oos", "a"]
    _, fallback = ambiguous.apply(proba, CLASSES)
    assert fallback.tolist() == [True, False]


def test_top_class_equal_to_fallback_label_falls_back():
    rule = FallbackRule("oos", threshold=0.0)
    index, fallback = rule.apply(np.array([[0.1, 0.1, 0.8]]), CLASSES)
    assert fallback.tolist() == [True]
    assert index.tolist() == [-1]


def test_one_dimensional_and_single_class_input():
    rule = FallbackRule("none", threshold=0.3)
    _, fallback = rule.apply(np.array([0.2, 0.8]), ("x", "y"))
    assert fallback.tolist() == [False]
    _, fallback = rule.apply(np.array([[0.9]]), ("x",))
    assert fallback.tolist() == [False]


def _proba_for(top: list[str], confidence: list[float]) -> np.ndarray:
    """Rows whose top class is ``top[i]`` with probability ``confidence[i]``."""
    proba = np.zeros((len(top), len(CLASSES)))
    for i, (label, p) in enumerate(zip(top, confidence, strict=True)):
        proba[i] = (1 - p) / (len(CLASSES) - 1)
        proba[i, CLASSES.index(label)] = p
    return proba


def test_tune_threshold_needs_out_of_scope_and_in_scope_examples():
    proba = _proba_for(["a", "b"], [0.9, 0.8])
    assert tune_threshold(proba, ["a", "b"], CLASSES, fallback_label="oos") is None
    assert tune_threshold(proba, ["oos", "oos"], CLASSES, fallback_label="oos") is None


def test_tune_threshold_separates_confident_in_scope_from_unsure_out_of_scope():
    # In-scope texts are right and confident; out-of-scope ones are guessed as 'a' or 'b'.
    top = ["a", "a", "b", "b", "a", "b"]
    confidence = [0.9, 0.85, 0.8, 0.95, 0.55, 0.5]
    truth = ["a", "a", "b", "b", "oos", "oos"]
    proba = _proba_for(top, confidence)
    choice = tune_threshold(proba, truth, CLASSES, fallback_label="oos")
    assert isinstance(choice, ThresholdChoice)
    assert 0.55 < choice.threshold <= 0.8
    assert choice.in_scope_accuracy == 1.0
    assert choice.oos_recall == 1.0
    assert choice.baseline_in_scope_accuracy == 1.0
    final = FallbackRule("oos", choice.threshold).labels(proba, CLASSES)
    assert final == truth


def _objective(proba, truth, threshold):
    predicted = np.asarray(FallbackRule("oos", threshold).labels(proba, CLASSES))
    truth = np.asarray(truth)
    oos = truth == "oos"
    in_scope = float(np.mean(predicted[~oos] == truth[~oos]))
    recall = float(np.mean(predicted[oos] == "oos"))
    return in_scope, recall


@pytest.mark.parametrize("max_drop", [0.0, 0.03, 0.15, 1.0])
def test_tune_threshold_respects_max_in_scope_drop(max_drop):
    rng = np.random.default_rng(0)
    n_in, n_out = 40, 20
    # In-scope confidences overlap the out-of-scope ones: catching OOS costs in-scope answers.
    confidence = np.concatenate([rng.uniform(0.4, 1.0, n_in), rng.uniform(0.35, 0.7, n_out)])
    top = ["a"] * n_in + ["b"] * n_out
    truth = ["a"] * n_in + ["oos"] * n_out
    proba = _proba_for(top, list(confidence))
    choice = tune_threshold(proba, truth, CLASSES, fallback_label="oos", max_in_scope_drop=max_drop)
    assert choice is not None
    baseline, base_recall = _objective(proba, truth, 0.0)
    assert base_recall == 0.0
    assert choice.baseline_in_scope_accuracy == baseline == 1.0
    assert choice.in_scope_accuracy >= baseline - max_drop - 1e-12
    assert _objective(proba, truth, choice.threshold) == (
        choice.in_scope_accuracy,
        choice.oos_recall,
    )
    # No allowed threshold (checked on a fine grid) scores better on the balanced objective.
    best = choice.in_scope_accuracy + choice.oos_recall
    for threshold in np.linspace(0, 1, 201):
        in_scope, recall = _objective(proba, truth, threshold)
        if in_scope >= baseline - max_drop - 1e-12:
            assert in_scope + recall <= best + 1e-12
    if max_drop == 0.0:
        assert choice.in_scope_accuracy == 1.0
    if max_drop == 1.0:
        assert choice.oos_recall > 0.5


def test_tune_threshold_improves_the_balanced_objective():
    top = ["a"] * 6 + ["b"] * 4
    confidence = [0.95, 0.9, 0.85, 0.8, 0.75, 0.4, 0.6, 0.5, 0.45, 0.9]
    truth = ["a"] * 6 + ["oos"] * 4
    proba = _proba_for(top, confidence)
    choice = tune_threshold(proba, truth, CLASSES, fallback_label="oos", max_in_scope_drop=0.2)
    assert choice is not None
    before = sum(_objective(proba, truth, 0.0)) / 2
    after = (choice.in_scope_accuracy + choice.oos_recall) / 2
    assert after > before
    # The cut lies halfway between the confidences it separates (0.6 and 0.75).
    assert choice.threshold == pytest.approx(0.675)


def _tune_by_scanning(proba, truth, max_drop, ambiguity):
    """The definition, one threshold at a time: every candidate cut scored by the rule itself."""
    from intently.runtime.fallback import operating_point, top_two

    ranked = top_two(proba)
    observed = np.unique(ranked[1])
    best, baseline = None, None
    for threshold in np.concatenate([[0.0], (observed[:-1] + observed[1:]) / 2]):
        rule = FallbackRule("oos", float(threshold), ambiguity)
        in_scope, recall = operating_point(rule, ranked, np.asarray(truth), CLASSES)
        baseline = in_scope if baseline is None else baseline
        if in_scope < baseline - max_drop - 1e-12:
            continue
        if best is None or in_scope + recall > best[1] + best[2] + 1e-12:
            best = (float(threshold), in_scope, recall)
    return best


@pytest.mark.parametrize("seed", range(40))
def test_tune_threshold_equals_scanning_every_cut(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    # coarse probabilities so that ties between confidences happen
    proba = rng.dirichlet(np.ones(len(CLASSES)) * rng.uniform(0.3, 3), size=n).round(2) + 1e-3
    truth = list(rng.choice(CLASSES, size=n, p=[0.4, 0.35, 0.25]))
    truth[:2] = ["a", "oos"]
    max_drop = float(rng.choice([0.0, 0.01, 0.05, 1.0]))
    ambiguity = float(rng.choice([0.0, 0.0, 0.1]))
    choice = tune_threshold(
        proba,
        truth,
        CLASSES,
        fallback_label="oos",
        ambiguity_threshold=ambiguity,
        max_in_scope_drop=max_drop,
    )
    expected = _tune_by_scanning(proba, truth, max_drop, ambiguity)
    assert (choice.threshold, choice.in_scope_accuracy, choice.oos_recall) == expected


FIVE = ("a", "b", "c", "d", "oos")


def test_a_rule_given_the_models_temperature_reads_its_probabilities_with_it_undone():
    raw = np.random.default_rng(3).dirichlet(np.full(len(FIVE), 0.4), size=300)
    tempered = retemper(raw, 0.6)
    rule = FallbackRule("oos", threshold=0.45, ambiguity_threshold=0.05, temperature=0.6)
    plain = FallbackRule("oos", threshold=0.45, ambiguity_threshold=0.05)
    index, fallback = rule.apply(tempered, FIVE)
    expected_index, expected_fallback = plain.apply(raw, FIVE)
    assert index.tolist() == expected_index.tolist()
    assert fallback.tolist() == expected_fallback.tolist()
    # the sharpened confidences themselves would rank the rows differently
    assert plain.apply(tempered, FIVE)[1].tolist() != fallback.tolist()
    for row, flag in zip(tempered.tolist(), fallback.tolist(), strict=True):
        top, second = np.argsort(row)[::-1][:2].tolist()
        assert rule.falls_back(FIVE[top], row, top, second) is flag


def test_tune_threshold_given_a_temperature_tunes_on_the_probabilities_before_it():
    rng = np.random.default_rng(4)
    raw = rng.dirichlet(np.full(len(FIVE), 0.5), size=400)
    labels = [FIVE[i] for i in raw.argmax(axis=1)]
    labels = [label if rng.random() < 0.8 else "oos" for label in labels]
    before = tune_threshold(raw, labels, FIVE, fallback_label="oos", max_in_scope_drop=0.05)
    tempered = retemper(raw, 0.5)
    after = tune_threshold(
        tempered, labels, FIVE, fallback_label="oos", max_in_scope_drop=0.05, temperature=0.5
    )
    assert before is not None and after is not None
    assert after.threshold == pytest.approx(before.threshold)
    assert (after.in_scope_accuracy, after.oos_recall) == (
        before.in_scope_accuracy,
        before.oos_recall,
    )


def test_the_rule_round_trips_through_its_record_and_older_records_read_confidences_as_given():
    rule = FallbackRule("oos", threshold=0.3, ambiguity_threshold=0.05, temperature=0.7)
    assert FallbackRule.from_record(rule.record()) == rule
    older = {"label": "oos", "threshold": 0.3, "ambiguity_threshold": 0.0}
    assert FallbackRule.from_record(older).temperature == 1.0
    with pytest.raises(TypeError, match="not a number"):
        FallbackRule.from_record({**older, "temperature": "0.7"})
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        FallbackRule("oos", temperature=0.0)
