"""Monitoring: PSI against hand-computed values, live metrics from recorded answers, alert
rules, snapshots, and drift against a model version's reference."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import Record
from intently.db import Database
from intently.db.interactions import InteractionStore
from intently.loop.alerts import evaluate_alerts
from intently.loop.drift import confidence_bins, psi, task_drift, version_reference
from intently.loop.monitor import live_metrics, snapshots, take_snapshots, task_metrics
from intently.runtime import Classifier
from intently.spec.models import AlertRules


def test_psi_matches_a_hand_computed_value() -> None:
    # (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5) = 0.141001 + 0.274887
    assert psi({"a": 50, "b": 50}, {"a": 80, "b": 20}) == pytest.approx(0.415888, abs=1e-6)
    assert psi({"a": 3, "b": 1}, {"a": 30, "b": 10}) == 0.0
    # a bin missing on one side counts with the 1e-4 floor instead of dividing by zero
    assert psi({"a": 1}, {"b": 1}) == pytest.approx(2 * (1 - 1e-4) * math.log(1e4))


def test_confidence_bins_and_task_drift() -> None:
    assert confidence_bins([0.05, 0.95, 1.0, 0.1]) == {"0.0": 1, "0.9": 2, "0.1": 1}
    drift = task_drift(
        "intent",
        reference_labels=["a"] * 50 + ["b"] * 50,
        reference_confidence=[0.95] * 100,
        labels=["a"] * 80 + ["b"] * 20,
        confidence=[0.95] * 100,
    ).to_json()
    assert drift["label_psi"] == pytest.approx(0.4159, abs=1e-4)
    assert drift["label_drift"] == "significant"
    assert (drift["confidence_psi"], drift["confidence_drift"]) == (0.0, "stable")


def test_version_reference_reads_the_held_out_examples(trained_model_dir: Path) -> None:
    classifier = Classifier.load(trained_model_dir)
    labels, confidence = version_reference(classifier, trained_model_dir)
    assert len(labels) == len(confidence) > 0
    assert all(0 <= c <= 1 for c in confidence)


def _reviewed_traffic(database: Database, record: Record) -> None:
    """30 answers: 20 'refund' (12 right, 8 really cancel_order), 10 fallbacks to 'oos'."""
    store = InteractionStore(database)
    refunds = record([("refund please", "refund")] * 20, confidence=0.8)
    record([("what", "oos")] * 10, confidence=0.2, fallback=True)
    for i, item in enumerate(refunds):
        store.correct(item.id, "refund" if i < 12 else "cancel_order", reviewer="t")


def test_live_metrics_from_recorded_and_reviewed_answers(
    database: Database, record: Record
) -> None:
    _reviewed_traffic(database, record)
    old = record([("hi", "greeting")], created_at=datetime.now(UTC) - timedelta(hours=30))
    assert old
    live = live_metrics(database, ("intent",), hours=24)["tasks"]["intent"]
    assert live["volume"] == 30
    assert live["fallback_rate"] == pytest.approx(10 / 30, abs=1e-4)
    assert live["mean_confidence"] == pytest.approx((20 * 0.8 + 10 * 0.2) / 30, abs=1e-4)
    assert live["top_intents"] == [{"label": "refund", "count": 20}, {"label": "oos", "count": 10}]
    assert live["reviewed"] == 20
    assert live["review_accuracy"] == 0.6
    assert live["correction_rate"] == pytest.approx(8 / 30, abs=1e-4)
    assert live["top_confusions"] == [{"label": "cancel_order", "predicted": "refund", "count": 8}]
    assert live["per_intent"]["refund"]["precision"] == 0.6
    assert live["per_intent"]["cancel_order"]["confused_as"] == {"label": "refund", "share": 1.0}


def test_alert_rules_fire_on_their_thresholds(database: Database, record: Record) -> None:
    _reviewed_traffic(database, record)
    metrics = task_metrics(database, "intent", since=datetime.now(UTC) - timedelta(hours=1))
    fired = {(a.rule, a.label) for a in evaluate_alerts(metrics, AlertRules(min_reviews=5))}
    assert fired == {
        ("accuracy", None),  # 0.6 < 0.70
        ("fallback_rate", None),  # 0.33 > 0.30
        ("intent_f1", "cancel_order"),  # recall 0: F1 0
        ("misclassification", "cancel_order"),  # answered as refund in 100% > 15%
    }
    # with the defaults, 20 reviews are needed per rule: cancel_order has 8, so it is quiet
    assert {a.rule for a in evaluate_alerts(metrics, AlertRules())} == {"accuracy", "fallback_rate"}
    lenient = AlertRules(accuracy=0.5, fallback_rate=0.5, intent_f1=0.0, misclassification=1.0)
    assert evaluate_alerts(metrics, lenient) == []


def test_snapshots_are_stored_once_per_task_and_period(database: Database, record: Record) -> None:
    now = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    record([("hi", "greeting")] * 3, created_at=datetime(2026, 3, 2, 9, 15, tzinfo=UTC))
    record([("hi", "greeting")] * 2, created_at=datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
    assert take_snapshots(database, ("intent",), now=now) == 2  # 09:00-10:00 and March 1st
    assert take_snapshots(database, ("intent",), now=now) == 0
    hourly = snapshots(database, "intent", "hour")
    assert [s["period_start"] for s in hourly] == ["2026-03-02T09:00:00+00:00"]
    assert hourly[0]["metrics"]["volume"] == 3
    assert snapshots(database, "intent", "day")[0]["metrics"]["volume"] == 2
