"""Deploy policy: the first model deploys, later ones only when not worse on a common set."""

from __future__ import annotations

import pytest
import yaml

import intently
from intently.deploy import auto_deploy, compare_with_active, deploy_version
from intently.registry import Registry


def test_first_model_deploys_and_an_equal_one_replaces_it(make_project, oos_queries):
    project = intently.load_project(make_project(oos=oos_queries))
    first = intently.train(project, write_reports=False)
    decision = auto_deploy(project, version=first.version.id, passed=first.passed)
    assert decision.deployed and decision.comparison.active is None
    second = intently.train(project, write_reports=False)
    decision = auto_deploy(project, version=second.version.id, passed=second.passed)
    assert decision.deployed
    c = decision.comparison
    assert c.active == first.version.id and c.candidate_macro_f1 == pytest.approx(c.active_macro_f1)
    assert Registry(project.model_root()).active("intent").id == second.version.id


def test_a_worse_model_is_not_deployed(make_project, oos_queries, tmp_path):
    path = make_project(oos=oos_queries)
    project = intently.load_project(path)
    good = intently.train(project, write_reports=False)
    auto_deploy(project, version=good.version.id, passed=True)
    # Train a weak model: a char-free, heavily regularised linear model on the same data.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["training"]["params"] = {"C": 0.0005, "char_ngrams": None}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    weak_project = intently.load_project(path)
    weak = intently.train(weak_project, write_reports=False)
    comparison = compare_with_active(weak_project, "intent", weak.version.id)
    assert comparison.candidate_macro_f1 < comparison.active_macro_f1 - 0.05
    decision = deploy_version(weak_project, "intent", weak.version.id, if_improved=True)
    assert not decision.deployed and "below the active" in decision.reason
    assert Registry(project.model_root()).active("intent").id == good.version.id


def test_manual_policy_and_failed_gates_never_deploy(make_project):
    project = intently.load_project(make_project(deploy={"policy": "manual"}))
    run = intently.train(project, write_reports=False)
    assert not auto_deploy(project, version=run.version.id, passed=True).deployed
    assert not auto_deploy(project, version=run.version.id, passed=False).deployed
    assert Registry(project.model_root()).active("intent") is None


def test_train_records_the_active_version_as_parent(make_project):
    project = intently.load_project(make_project())
    first = intently.train(project, write_reports=False)
    assert first.version.parent is None
    deploy_version(project, "intent", first.version.id)
    second = intently.train(project, write_reports=False)
    assert second.version.parent == first.version.id


def test_too_small_a_test_split_compares_recorded_scores_never_training_data(make_project):
    few = {"greeting": ["hello", "hi there", "hey"], "goodbye": ["bye", "see you", "farewell"]}
    project = intently.load_project(make_project(intents=few))
    first = intently.train(project, write_reports=False)
    deploy_version(project, "intent", first.version.id)
    second = intently.train(project, write_reports=False)
    comparison = compare_with_active(project, "intent", second.version.id)
    assert comparison.n_examples == 0 and "too small" in comparison.measured_on
    assert comparison.candidate_macro_f1 == second.version.metrics["macro_f1"]
    assert comparison.active_macro_f1 == first.version.metrics["macro_f1"]
    # on its training data either model would score 1.0; the recorded CV scores do not
    assert comparison.candidate_macro_f1 < 1.0
