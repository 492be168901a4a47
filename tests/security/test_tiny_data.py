"""A model is never scored on its own training data (issue 8, #10).

With 2 examples per intent the test and validation splits are empty; training used to score
the model on its training set, print "6 test examples", pass every gate at 1.0 and deploy.
"""

import json

import pytest

import intently
from intently.cli import EXIT_GATES_FAILED, main
from intently.data import Dataset, Example
from intently.deploy import auto_deploy
from intently.errors import DataError
from intently.evaluation import evaluation_method
from intently.evaluation.crossval import MIN_HELD_OUT
from intently.registry import Registry, list_versions

TWO_EACH = {
    "greeting": ["hello there", "hi friend"],
    "order_status": ["where is my order", "track my parcel"],
    "refund": ["I want a refund", "give me my money back"],
}
DEFAULT_GATES = {"accuracy": 0.85, "macro_f1": 0.80, "min_intent_f1": 0.75, "coverage": 1.0}


def examples(counts: dict[str, int]) -> list[Example]:
    return [Example(f"{label} text {i}", label) for label, n in counts.items() for i in range(n)]


def test_two_examples_per_intent_are_cross_validated_and_fail_the_gates(make_project):
    project = intently.load_project(make_project(intents=TWO_EACH, gates=DEFAULT_GATES))
    run = intently.train(project, write_reports=False, export=False)
    assert (run.evaluation.split, run.evaluation.folds, run.report.n) == ("cross-validation", 5, 6)
    assert run.report.accuracy < 0.85  # out-of-fold: 1 example of the held-out intent to learn
    assert not run.passed
    assert run.version.status == "rejected"
    assert {w.label for w in run.weak_intents} and all(
        w.more_examples >= 1 for w in run.weak_intents
    )
    meta = json.loads((run.model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["extra"]["dataset"]["evaluated_on"] == "cross-validation"
    evaluation = meta["extra"]["evaluation"]
    assert evaluation["method"] == "cross-validation" and evaluation["folds"] == 5
    assert "test split is too small" in evaluation["reason"]
    assert len(evaluation["fold_scores"]) == 5
    decision = auto_deploy(project, version=run.version.id, passed=run.passed)
    assert not decision.deployed
    assert Registry(project.model_root()).pointer("intent") is None


def test_the_cli_says_how_the_model_was_evaluated(make_project, tmp_path, capsys):
    path = make_project(intents=TWO_EACH, gates=DEFAULT_GATES)
    with pytest.raises(SystemExit) as info:
        main(["train", "-p", str(path), "--no-export"])
    out = " ".join(capsys.readouterr().out.split())
    assert info.value.code == EXIT_GATES_FAILED
    assert "6 test examples" not in out
    assert "evaluated by 5-fold cross-validation: the test split is too small" in out
    assert "not deployed" in out
    (model_dir,) = list_versions(tmp_path / "models" / "intent")
    assert json.loads((model_dir / "metadata.json").read_text())["status"] == "rejected"


def test_a_proper_test_split_is_still_what_the_model_is_scored_on(make_project):
    run = intently.train(intently.load_project(make_project()), write_reports=False)
    assert len(run.dataset.test) >= MIN_HELD_OUT
    assert (run.evaluation.split, run.evaluation.folds) == ("test", None)
    assert run.report.n == len(run.dataset.test)
    meta = json.loads((run.model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["extra"]["dataset"]["evaluated_on"] == "test"
    assert meta["extra"]["evaluation"]["fold_scores"] is None


def test_a_label_with_one_example_stops_training_before_any_version(make_project, tmp_path):
    # Cross-validation needs every label twice; validation refuses fewer before fitting.
    project = intently.load_project(
        make_project(intents={**TWO_EACH, "refund": ["I want a refund"]})
    )
    with pytest.raises(DataError, match="'refund' has 1 example \\(at least 2 needed\\)"):
        intently.train(project, write_reports=False, export=False)
    assert not (tmp_path / "models" / "intent").exists()


@pytest.mark.parametrize(
    ("train", "valid", "test", "expected"),
    [
        ({"a": 7, "b": 7}, {"a": 2, "b": 2}, {"a": 5, "b": 5}, ("test", 10, None)),
        ({"a": 8, "b": 8}, {"a": 5, "b": 5}, {}, ("valid", 10, None)),  # split: test share 0
        ({"a": 8, "b": 8}, {"a": 2, "b": 2}, {"a": 4, "b": 5}, ("cross-validation", 29, 5)),
        ({"a": 2, "b": 2}, {}, {}, ("cross-validation", 4, 4)),  # fewer examples than folds
    ],
)
def test_evaluation_method_uses_held_out_data_only_when_there_is_enough(
    train, valid, test, expected
):
    dataset = Dataset(
        task="intent",
        train=tuple(examples(train)),
        valid=tuple(examples(valid)),
        test=tuple(examples(test)),
        labels=("a", "b"),
    )
    method = evaluation_method(dataset)
    assert (method.split, method.n, method.folds) == expected
    assert (method.reason is None) == (method.folds is None)
