"""Reviewed answers become training examples, merged with the project's own by trust.

An approved answer is an example of the label the model gave (``interaction_correct``, weight
0.9); a correction is an example of the reviewer's label (``interaction_correction``, 1.9: a
human correction counts double). Merging follows the project's cleaning rule
(:func:`intently.data.clean_examples`): one normalised text under several labels keeps the
label of the most trusted source, and equal trust drops every copy. Trust is the example's
weight, by default::

    correction 1.9 > definition 1.0 = imported 1.0 > variation 0.95 > approved answer 0.9
      > template 0.85 = LLM-labeled 0.85 > paraphrase 0.8 > augmentation 0.75 > synthetic 0.7

so a reviewer's correction overrules a definition, and an approved answer never does.

Feedback is training data only. A reviewed text that is also a held-out text (the validation
or test split the model is scored on, or the fold being scored in cross-validation) is left
out: the deploy-if-improved rule re-measures the old and new model on that split, and a model
trained on it would win by memory. A label the task does not have (a reviewer's proposal of a
new intent) waits until the project file defines it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from intently.data import Example, Source, clean_examples
from intently.text import normalize_text

FEEDBACK_SOURCES = frozenset({Source.INTERACTION_CORRECT, Source.INTERACTION_CORRECTION})


class ReviewedAnswer(Protocol):
    """What a reviewed interaction offers (``intently.db.interactions.InteractionRecord``)."""

    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def reviewed_label(self) -> str | None: ...


@dataclass(frozen=True)
class MergeResult:
    """The training examples after a merge, and what happened to the feedback."""

    examples: tuple[Example, ...]
    feedback: int  # feedback examples offered
    added: int  # feedback examples now in the training part
    held_out: int  # left out: the text is one the model is scored on
    unknown_label: int  # left out: the task has no such label yet
    overruled: int  # lost to a more (or equally) trusted example of the same text
    replaced: int  # project training examples a more trusted feedback example overruled

    def to_json(self) -> dict[str, int]:
        return {
            "feedback": self.feedback,
            "added": self.added,
            "held_out": self.held_out,
            "unknown_label": self.unknown_label,
            "overruled": self.overruled,
            "replaced": self.replaced,
        }


def feedback_examples(answers: Iterable[ReviewedAnswer]) -> list[Example]:
    """One example per reviewed answer: the reviewer's label when it differs from the model's
    (a correction), the model's label otherwise (an approval)."""
    examples = []
    for answer in answers:
        corrected = answer.reviewed_label is not None and answer.reviewed_label != answer.label
        examples.append(
            Example(
                answer.text,
                answer.reviewed_label if corrected and answer.reviewed_label else answer.label,
                Source.INTERACTION_CORRECTION if corrected else Source.INTERACTION_CORRECT,
                meta={"interaction_id": answer.id},
            )
        )
    return examples


def _key(text: str) -> str:
    return normalize_text(text).casefold()  # the identity clean_examples merges texts by


def merge_feedback(
    train: Sequence[Example], held_out: Sequence[Example], feedback: Sequence[Example]
) -> MergeResult:
    """``train`` plus the ``feedback`` that may be trained on, conflicts resolved by trust."""
    known = {e.label for e in train} | {e.label for e in held_out}
    scored = {_key(e.text) for e in held_out}
    unknown = [e for e in feedback if e.label not in known]
    usable = [e for e in feedback if e.label in known]
    eligible = [e for e in usable if _key(e.text) not in scored]
    merged = clean_examples([*train, *eligible]).examples
    added = sum(e.source in FEEDBACK_SOURCES for e in merged)
    own_keys = {_key(e.text) for e in train}
    own_after = {_key(e.text) for e in merged if e.source not in FEEDBACK_SOURCES}
    return MergeResult(
        examples=merged,
        feedback=len(feedback),
        added=added,
        held_out=len(usable) - len(eligible),
        unknown_label=len(unknown),
        overruled=len(eligible) - added,
        replaced=len(own_keys - own_after),
    )
