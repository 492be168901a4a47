import dataclasses

import pytest

from intently.evaluation import check_gates, evaluate_predictions, gates_passed, weak_intents
from intently.spec import Gates


def _report():
    # a: 4/4 right; b: 2 of 4 (2 → a); c: 1 of 4 (2 → b, 1 → a); oos: 1 of 2.
    rows = [
        ("a", "a"),
        ("a", "a"),
        ("a", "a"),
        ("a", "a"),
        ("b", "b"),
        ("b", "b"),
        ("b", "a"),
        ("b", "a"),
        ("c", "c"),
        ("c", "b"),
        ("c", "b"),
        ("c", "a"),
        ("oos", "oos"),
        ("oos", "c"),
    ]
    truth = [t for t, _ in rows]
    predicted = [p for _, p in rows]
    return evaluate_predictions(
        [f"text {i}" for i in range(len(rows))],
        truth,
        predicted,
        [0.8] * len(rows),
        defined_labels=["a", "b", "c", "d"],
        fallback_label="oos",
    )


def test_each_gate_passes_or_fails_on_its_own_metric():
    report = _report()
    results = {r.name: r for r in check_gates(report, Gates())}
    assert list(results) == ["accuracy", "macro_f1", "min_intent_f1", "coverage"]
    assert results["accuracy"].actual == pytest.approx(report.accuracy)
    assert results["coverage"].actual == pytest.approx(3 / 4)  # 'd' has no example
    assert all(not r.passed for r in results.values())

    lenient = Gates(accuracy=0.5, macro_f1=0.4, min_intent_f1=0.2, coverage=0.75)
    results = check_gates(report, lenient)
    assert [r.passed for r in results] == [True, True, True, True]
    assert gates_passed(results)

    one_strict = Gates(accuracy=0.5, macro_f1=0.4, min_intent_f1=0.2, coverage=1.0)
    results = check_gates(report, one_strict)
    assert [r.name for r in results if not r.passed] == ["coverage"]
    assert not gates_passed(results)


def test_a_gate_equal_to_the_metric_passes():
    report = _report()
    exact = Gates(accuracy=report.accuracy, macro_f1=0, min_intent_f1=0, coverage=report.coverage)
    assert gates_passed(check_gates(report, exact))


def test_a_metric_that_cannot_be_computed_fails_its_gate():
    report = dataclasses.replace(_report(), lowest_f1=None)
    results = {r.name: r for r in check_gates(report, Gates(min_intent_f1=0.0))}
    assert results["min_intent_f1"].actual is None
    assert results["min_intent_f1"].passed is False


def test_only_out_of_scope_examples_give_no_intent_f1():
    report = evaluate_predictions(
        ["x", "y"],
        ["oos", "oos"],
        ["oos", "oos"],
        [0.9, 0.9],
        defined_labels=[],
        fallback_label="oos",
    )
    assert report.lowest_f1 is None
    gate = {r.name: r for r in check_gates(report, Gates(min_intent_f1=0.0))}["min_intent_f1"]
    assert gate.passed is False


def test_weak_intents_worst_first_without_the_fallback_label():
    report = _report()
    # F1: a = 8/11 ≈ 0.73, b = 0.5, c = 1/3, oos = 2/3.
    gates = Gates(min_intent_f1=0.7)
    weak = weak_intents(report, gates, {"a": 10, "b": 8, "c": 6}, fallback_label="oos")
    assert [w.label for w in weak] == ["c", "b"]  # 'a' passes; 'oos' is never listed
    assert weak[0].f1 < weak[1].f1
    c = weak[0]
    assert c.support == 4
    assert c.train_examples == 6
    assert c.confused_with == (("b", 2), ("a", 1))
    assert weak[1].confused_with == (("a", 2),)


def test_examples_needed_estimate_formula():
    report = _report()
    gates = Gates(min_intent_f1=0.7)
    counts = {"b": 8, "c": 6}
    weak = {w.label: w for w in weak_intents(report, gates, counts, fallback_label="oos")}
    for label, have in counts.items():
        f1 = report.per_label[label].f1
        needed = have * ((1 - f1) / (1 - 0.7)) ** 2
        assert weak[label].more_examples == max(round(needed - have), 1)
    # c: precision 1/2, recall 1/4, F1 1/3: 6·((2/3)/0.3)² − 6 ≈ 23.6 → 24.
    assert weak["c"].more_examples == 24
    # b: F1 1/2: 8·((1/2)/0.3)² − 8 ≈ 14.2 → 14.
    assert weak["b"].more_examples == 14


def test_examples_needed_with_a_perfect_gate_and_unknown_train_counts():
    report = _report()
    weak = weak_intents(report, Gates(min_intent_f1=1.0), {}, fallback_label="oos")
    assert [w.label for w in weak] == ["c", "b", "a"]
    c = weak[0]
    assert c.train_examples == 0
    # Target error is floored at 0.02 and at least one example is assumed.
    assert c.more_examples == round(1 * ((1 - c.f1) / 0.02) ** 2 - 1)


def test_weak_intents_limit():
    weak = weak_intents(_report(), Gates(min_intent_f1=1.0), {}, fallback_label="oos", limit=1)
    assert [w.label for w in weak] == ["c"]
