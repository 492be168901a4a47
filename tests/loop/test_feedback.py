"""Reviewed answers as training examples: sources, weights, trust and the held-out rule."""

from __future__ import annotations

from dataclasses import dataclass

from intently.data import Example, Source
from intently.loop.feedback import feedback_examples, merge_feedback


@dataclass(frozen=True)
class Answer:
    id: str
    text: str
    label: str
    reviewed_label: str | None


def test_approved_and_corrected_answers_become_weighted_examples() -> None:
    approved, corrected = feedback_examples(
        [Answer("a", "hi there", "greeting", "greeting"), Answer("b", "bye", "refund", "goodbye")]
    )
    assert (approved.label, approved.source, approved.weight) == (
        "greeting",
        Source.INTERACTION_CORRECT,
        0.9,
    )
    assert (corrected.label, corrected.source, corrected.weight) == (
        "goodbye",
        Source.INTERACTION_CORRECTION,
        1.9,
    )
    assert corrected.meta["interaction_id"] == "b"


def test_merge_resolves_conflicts_by_trust_and_keeps_held_out_texts_out() -> None:
    train = [
        Example("where is my order", "order_status", Source.DEFINITION),
        Example("refund please", "refund", Source.VARIATION),
        Example("bye", "goodbye", Source.DEFINITION),
        Example("cancel my order", "cancel_order", Source.DEFINITION),
        Example("hello", "greeting", Source.DEFINITION),
    ]
    held_out = [Example("track my parcel", "order_status", Source.DEFINITION)]
    feedback = feedback_examples(
        [
            # a correction (1.9) overrules the project's variation (0.95)
            Answer("1", "Refund  please", "refund", "cancel_order"),
            # an approval (0.9) never overrules a definition (1.0)
            Answer("2", "BYE", "greeting", "greeting"),
            # the text is scored: left out, whatever its label
            Answer("3", "track my parcel", "refund", "order_status"),
            # a label the task does not have waits for the project file
            Answer("4", "new thing", "refund", "loyalty_points"),
            Answer("5", "cancel it all", "cancel_order", "cancel_order"),
        ]
    )
    result = merge_feedback(train, held_out, feedback)
    by_text = {e.text.casefold(): e for e in result.examples}
    assert by_text["refund please"].label == "cancel_order"
    assert by_text["refund please"].source == Source.INTERACTION_CORRECTION
    assert by_text["bye"].label == "goodbye"
    assert "track my parcel" not in by_text and "new thing" not in by_text
    assert by_text["cancel it all"].source == Source.INTERACTION_CORRECT
    assert result.to_json() == {
        "feedback": 5,
        "added": 2,
        "held_out": 1,
        "unknown_label": 1,
        "overruled": 1,
        "replaced": 1,
    }


def test_equally_trusted_conflicting_corrections_drop_every_copy() -> None:
    train = [
        Example("hello", "greeting", Source.DEFINITION),
        Example("cancel my order", "cancel_order", Source.DEFINITION),
        Example("refund please", "refund", Source.DEFINITION),
    ]
    feedback = feedback_examples(
        [
            Answer("1", "cancel now", "refund", "cancel_order"),
            Answer("2", "cancel now", "x", "refund"),
        ]
    )
    result = merge_feedback(train, [], feedback)
    assert [e.text for e in result.examples] == [e.text for e in train]
