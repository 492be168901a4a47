"""The automatic path: a gate fails, `tuning.auto` tunes within its budget, a second version
is trained with the best parameters, and intents still below the gate get an error analysis."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from intently.cli import app
from intently.pipeline import train
from intently.registry import Registry
from intently.spec import load_project
from intently.tuning.report import ANALYSIS_FILE, PROPOSED_FILE, TRIALS_FILE

# two intents worded alike: no parameter separates them, so the per-intent gate keeps failing
TWINS = {
    "order_status": ["where is my order", "status of my order", "my order please", "order now"],
    "order_state": ["where is my order?", "state of my order", "my order, please", "order now!"],
}


def test_a_gate_failure_tunes_retrains_and_explains_the_weak_intents(make_project, base_intents):
    intents = {**base_intents, **{k: v * 2 for k, v in TWINS.items()}}
    path = make_project(
        intents=intents,
        gates={"accuracy": 0.0, "macro_f1": 0.0, "min_intent_f1": 0.99, "coverage": 0.0},
        tuning={"auto": True, "trials": 3, "budget_minutes": 2, "folds": 2},
    )
    run = train(load_project(path), export=False)
    registry = Registry(path.parent / "models")
    versions = registry.versions("intent")
    assert run.tuned_from is not None and run.tuned_from != run.version.id
    assert {v.id for v in versions} == {run.tuned_from, run.version.id}
    assert run.study is not None and run.version.params["C"] == run.study.best_params["C"]
    assert not run.passed  # the twins stay confused: reported, not hidden
    analysis = json.loads((run.model_dir / ANALYSIS_FILE).read_text())
    weak = {row["intent"]: row for row in analysis["intents"]}
    assert set(weak) & set(TWINS)
    twin = weak[next(iter(set(weak) & set(TWINS)))]
    assert twin["more_examples_estimate"] >= 1
    assert {c["intent"] for c in twin["confused_with"]} & set(TWINS)
    assert (run.model_dir / PROPOSED_FILE).is_file() and (run.model_dir / TRIALS_FILE).is_file()


def test_without_auto_a_failed_gate_stays_one_rejected_version(make_project, base_intents):
    path = make_project(
        intents={**base_intents, **TWINS},
        gates={"accuracy": 0.0, "macro_f1": 0.0, "min_intent_f1": 0.99, "coverage": 0.0},
    )
    run = train(load_project(path), export=False, write_reports=False)
    assert run.tuned_from is None and run.study is None
    assert len(Registry(path.parent / "models").versions("intent")) == 1


def test_the_tune_command_prints_the_proposed_block_and_registers_the_best(make_project):
    path = make_project()
    arguments = ["tune", "--project", str(path), "--trials", "3", "--no-deploy", "--no-export"]
    result = CliRunner().invoke(app, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Proposed:" in result.output and "training:" in result.output
    block = result.output[result.output.index("# best of study") :]
    proposed = yaml.safe_load(block.split("\n\n")[0].split("\n", 1)[1])
    assert proposed["training"]["backend"] == "linear"
    (info,) = Registry(path.parent / "models").versions("intent")
    assert info.version is not None
    assert info.version.params["C"] == proposed["training"]["params"]["C"]


def test_rerunning_tune_on_a_finished_study_says_no_trial_ran(make_project):
    path = make_project()
    arguments = ["tune", "--project", str(path), "--trials", "2", "--no-train"]
    first = CliRunner().invoke(app, arguments, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "No trial ran" not in first.output
    again = CliRunner().invoke(app, arguments, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "No trial ran" in again.output and "already holds 2 finished trials" in again.output
