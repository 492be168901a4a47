"""Automatic retraining: the trigger, deploy-if-improved both ways, failures, the run lock."""

from __future__ import annotations

import intently
from conftest import Deployed, Record
from intently.db import Database, RunStatus, TrainingRunStore
from intently.db.interactions import USED, InteractionStore
from intently.loop.retrain import retrain_task
from intently.registry import Registry
from intently.runtime import Classifier
from tiny_project import INTENTS

GOOD_FEEDBACK = [
    ("hello, good to see you", "greeting"),
    ("bye for today", "goodbye"),
    ("where is the order I placed", "order_status"),
    ("cancel that purchase", "cancel_order"),
    ("I would like my money refunded", "refund"),
]


def _review_all(database: Database, records: list, labels: list[str] | None = None) -> None:
    store = InteractionStore(database)
    for i, record in enumerate(records):
        label = record.label if labels is None else labels[i]
        store.correct(record.id, label, reviewer="test")


def _active(deployed: Deployed) -> str | None:
    pointer = Registry(deployed.root / "models").pointer("intent")
    return None if pointer is None else pointer.active


def test_fewer_new_labels_than_the_threshold_start_no_run(
    deployed: Deployed, database: Database, record: Record
) -> None:
    _review_all(database, record(GOOD_FEEDBACK[:4]))
    outcome = retrain_task(deployed.path, "intent", database, export=False)
    assert not outcome.started
    assert outcome.new_labels == 4
    assert "needs 5" in outcome.reason
    assert TrainingRunStore(database).list("intent") == []
    assert _active(deployed) == deployed.weak


def test_enough_labels_retrain_and_a_better_model_is_deployed(
    deployed: Deployed, database: Database, record: Record
) -> None:
    records = record([(text, "refund") for text, _ in GOOD_FEEDBACK])  # the model answered wrong
    _review_all(database, records, [label for _, label in GOOD_FEEDBACK])
    outcome = retrain_task(deployed.path, "intent", database, export=False)
    assert outcome.started and outcome.deployed, outcome.reason
    assert outcome.before is not None and outcome.after is not None
    assert outcome.after > outcome.before
    assert outcome.merge["added"] == 5
    assert _active(deployed) == outcome.version != deployed.weak
    run = TrainingRunStore(database).list("intent")[0]
    assert run.status == RunStatus.SUCCEEDED and run.version == outcome.version
    assert run.metrics is not None
    assert run.metrics["deploy"]["deployed"] is True
    assert run.metrics["deploy"]["macro_f1_before"] == outcome.before
    assert run.metrics["feedback"]["new_labels"] == 5
    store = InteractionStore(database)
    assert {store.require(r.id).review_status for r in records} == {USED}
    # the labels are used: the next check has nothing new to train on
    assert not retrain_task(deployed.path, "intent", database, export=False).started


def test_a_worse_model_is_kept_out_and_the_decision_stored(
    deployed: Deployed, database: Database, record: Record
) -> None:
    good = retrain_task(deployed.path, "intent", database, force=True, export=False)
    assert good.deployed
    # reviewers (wrongly) call every kind of request a goodbye
    wrong = [(f"{text} today", label) for label, texts in INTENTS.items() for text in texts]
    _review_all(database, record(wrong), ["goodbye"] * len(wrong))
    outcome = retrain_task(deployed.path, "intent", database, export=False)
    assert outcome.started and not outcome.deployed
    assert outcome.after is not None and outcome.before is not None
    assert outcome.after < outcome.before
    assert "below the active" in outcome.reason
    assert _active(deployed) == good.version
    run = TrainingRunStore(database).list("intent")[0]
    assert run.version == outcome.version and run.metrics is not None
    assert run.metrics["deploy"] == {
        "deployed": False,
        "reason": outcome.reason,
        "macro_f1_before": outcome.before,
        "macro_f1_after": outcome.after,
        "measured_on": run.metrics["deploy"]["measured_on"],
    }
    assert Registry(deployed.root / "models").get("intent", outcome.version).status.value == (
        "candidate"
    )


def test_a_failed_retrain_leaves_the_active_model_serving(
    deployed: Deployed, database: Database, record: Record
) -> None:
    records = record(GOOD_FEEDBACK)
    _review_all(database, records)
    deployed.write(learning={"retrain_after": 5}, datasets=["missing.jsonl"])
    outcome = retrain_task(deployed.path, "intent", database, export=False)
    assert outcome.started and outcome.failed and not outcome.deployed
    assert "missing.jsonl" in outcome.reason
    run = TrainingRunStore(database).list("intent")[0]
    assert run.status == RunStatus.FAILED and "missing.jsonl" in (run.error or "")
    assert _active(deployed) == deployed.weak
    model = Registry(deployed.root / "models").active("intent")
    assert model is not None
    assert Classifier.load(model.path).predict("hello").model_version == deployed.weak
    # the labels stay new, so the next check tries again
    assert InteractionStore(database).count_reviewed("intent") == 5


def test_one_run_per_task_at_a_time(deployed: Deployed, database: Database, record: Record) -> None:
    _review_all(database, record(GOOD_FEEDBACK))
    under_way = TrainingRunStore(database).create("intent")
    outcome = retrain_task(deployed.path, "intent", database, export=False)
    assert not outcome.started
    assert under_way.id in outcome.reason


def test_no_deploy_while_an_ab_test_runs(
    deployed: Deployed, database: Database, record: Record
) -> None:
    from intently.loop import ab

    project = intently.load_project(deployed.path)
    challenger = intently.train(project, write_reports=False, export=False).version.id
    test = ab.start(project, database, "intent", challenger)
    _review_all(database, record(GOOD_FEEDBACK))
    outcome = retrain_task(deployed.path, "intent", database, export=False)
    assert outcome.started and not outcome.deployed
    assert test.id in outcome.reason
    assert _active(deployed) == deployed.weak


def test_reviewed_texts_the_models_are_scored_on_are_never_trained_on(
    deployed: Deployed, database: Database, record: Record
) -> None:
    from intently.collect import build_dataset

    scored = build_dataset(intently.load_project(deployed.path)).test[0]
    records = record([(scored.text.upper(), "refund"), *GOOD_FEEDBACK[:4]])
    _review_all(database, records, [scored.label] + [label for _, label in GOOD_FEEDBACK[:4]])
    outcome = retrain_task(deployed.path, "intent", database, export=False)
    assert outcome.started
    assert (outcome.merge["held_out"], outcome.merge["added"]) == (1, 4)
