"""The interaction store on SQLite and PostgreSQL: idempotent recording, the review queue,
corrections, approvals, training data, errors, stats, export paging and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from intently.db.interactions import InteractionRecord, InteractionStore, new_interaction_id
from intently.errors import InteractionNotFound, UnknownLabel

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
LABELS = ("greeting", "order_status", "refund")


def record(
    confidence: float, label: str = "refund", *, task: str = "intent", minutes: int = 0, **extra
) -> InteractionRecord:
    values = {
        "id": new_interaction_id(),
        "task": task,
        "text": f"text at {confidence}",
        "label": label,
        "confidence": confidence,
        "ranking": ((label, confidence), ("greeting", 1 - confidence)),
        "model_version": "v1",
        "runtime": "native",
        "latency_ms": 0.2,
        "created_at": T0 + timedelta(minutes=minutes),
    }
    values.update(extra)
    return InteractionRecord(**values)


@pytest.fixture
def store(database):
    return InteractionStore(database)


def test_add_many_is_idempotent_and_round_trips(store):
    records = [record(0.5, minutes=i, user_id="u1", conversation_id="c1") for i in range(3)]
    assert store.add_many(records) == 3
    assert store.add_many([*records, record(0.9)]) == 1  # a replayed batch adds only the new
    got = store.get(records[0].id)
    assert got == records[0]
    assert got.ranking == (("refund", 0.5), ("greeting", 0.5))
    assert got.created_at.tzinfo is not None
    assert store.get("nope") is None
    assert InteractionRecord.from_json(records[1].to_json()) == records[1]


def test_pending_is_lowest_confidence_first_with_filters(store):
    low, mid, high = record(0.2, minutes=1), record(0.5, "greeting"), record(0.9, minutes=2)
    fallback = record(0.1, "oos", fallback=True, model_version="v2", minutes=3)
    other_task = record(0.05, task="topic")
    store.add_many([high, mid, low, fallback, other_task])
    assert [r.id for r in store.pending(task="intent")] == [fallback.id, low.id, mid.id, high.id]
    assert [r.id for r in store.pending(task="intent", label="refund")] == [low.id, high.id]
    assert [r.id for r in store.pending(fallback_only=True)] == [fallback.id]
    assert [r.id for r in store.pending(model_version="v2")] == [fallback.id]
    window = store.pending(
        task="intent", since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)
    )
    assert [r.id for r in window] == [low.id, high.id]
    assert len(store.pending(limit=2)) == 2
    assert [r.id for r in store.pending(task="intent", exclude=[fallback.id], limit=1)] == [low.id]


def test_correct_approve_skip_and_the_training_data(store):
    a, b, c, d = (record(0.3 + i / 10, minutes=i) for i in range(4))
    store.add_many([a, b, c, d])
    corrected = store.correct(a.id, "order_status", reviewer="ana", note="tracking", labels=LABELS)
    assert corrected.review_status == "corrected" and corrected.reviewed_label == "order_status"
    assert corrected.true_label == "order_status"
    (trail,) = store.corrections(a.id)
    assert (trail.old_label, trail.new_label, trail.reviewer, trail.note) == (
        "refund",
        "order_status",
        "ana",
        "tracking",
    )
    same = store.correct(b.id, "refund", reviewer="ana", labels=LABELS)  # the model was right
    assert same.review_status == "approved" and store.corrections(b.id) == []
    assert store.approve([c.id, c.id, a.id, "unknown"], reviewer="bo") == 1  # a: already reviewed
    assert store.get(c.id).reviewed_label == "refund" and store.get(c.id).reviewer == "bo"
    assert store.skip([d.id], reviewer="bo") == 1
    assert store.pending() == []
    assert [r.id for r in store.reviewed("intent")] == [a.id, b.id, c.id]
    assert store.count_reviewed("intent") == 3
    assert store.mark_used([a.id, d.id]) == 1  # skipped rows are not training data
    assert store.count_reviewed("intent") == 2
    assert store.count_reviewed("intent", include_used=True) == 3
    assert [r.id for r in store.errors("intent")] == [a.id]  # used rows still count as errors
    stats = store.stats("intent")
    assert stats["total"] == 4 and stats["reviewed"] == 3 and stats["corrected"] == 1
    assert stats["by_status"]["skipped"] == 1 and stats["review_accuracy"] == 0.6667


def test_unknown_labels_and_new_labels(store):
    a, b = record(0.4), record(0.5)
    store.add_many([a, b])
    with pytest.raises(UnknownLabel, match=r"refnd.*Did you mean 'refund'"):
        store.correct(a.id, "refnd", reviewer="ana", labels=LABELS)
    assert store.get(a.id).review_status == "pending"
    store.correct(a.id, "cancel_order", reviewer="ana", new_label=True, labels=LABELS)
    assert store.corrections(a.id)[0].is_new_label
    # once proposed, the new label is known to later reviews
    assert store.correct(b.id, "cancel_order", reviewer="bo", labels=LABELS).reviewed_label
    with pytest.raises(InteractionNotFound):
        store.correct("missing", "refund", reviewer="ana")


def test_iter_records_pages_through_everything_in_order(store):
    records = [record(0.5, minutes=i % 7) for i in range(23)]
    store.add_many(records)
    got = list(store.iter_records("intent", chunk=5))
    assert sorted(r.id for r in got) == sorted(r.id for r in records)
    assert [(r.created_at, r.id) for r in got] == sorted((r.created_at, r.id) for r in got)
    assert list(store.iter_records(statuses=["approved"])) == []


def test_prune_deletes_old_interactions_and_their_corrections(store):
    old, new = record(0.4), record(0.5, minutes=60 * 24 * 100)
    store.add_many([old, new])
    store.correct(old.id, "greeting", reviewer="ana", labels=LABELS)
    assert store.prune(timedelta(days=90), now=T0 + timedelta(days=100)) == 1
    assert store.get(old.id) is None and store.corrections(old.id) == []
    assert store.get(new.id) is not None
