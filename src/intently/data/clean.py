"""Cleaning: normalise texts, drop empty/over-long ones, merge duplicates, resolve conflicts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from intently.data.example import Example
from intently.text import normalize_text

MAX_TEXT_CHARS = 2000


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One problem in the data, for `intently data validate` and the training log."""

    severity: Severity
    code: str
    message: str
    label: str | None = None
    count: int = 1
    samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanResult:
    examples: tuple[Example, ...]
    findings: tuple[Finding, ...]


def clean_examples(examples: Iterable[Example], *, max_chars: int = MAX_TEXT_CHARS) -> CleanResult:
    """Return cleaned examples (a new tuple) and what was changed or dropped.

    Exact duplicates (same text and label after normalisation) keep the first copy with the
    highest weight. One text under several labels is a conflict: the label from the most trusted
    source wins; when sources tie, every copy is dropped.
    """
    findings: list[Finding] = []
    empty: list[str] = []
    too_long: list[str] = []
    by_text: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        text = normalize_text(example.text)
        if not text:
            empty.append(example.label)
            continue
        if len(text) > max_chars:
            too_long.append(text[:60] + "…")
            continue
        by_text[text.casefold()].append(replace(example, text=text))
    if empty:
        findings.append(
            Finding(
                Severity.WARNING,
                "empty_text",
                f"{len(empty)} empty text(s) dropped",
                count=len(empty),
            )
        )
    if too_long:
        findings.append(
            Finding(
                Severity.WARNING,
                "text_too_long",
                f"{len(too_long)} text(s) longer than {max_chars} characters dropped",
                count=len(too_long),
                samples=tuple(too_long[:3]),
            )
        )
    kept: list[Example] = []
    duplicates = 0
    for copies in by_text.values():
        labels = {example.label for example in copies}
        if len(labels) > 1:
            winner = _resolve_conflict(copies)
            findings.append(
                Finding(
                    Severity.WARNING,
                    "conflict",
                    f"'{copies[0].text}' is labeled {', '.join(sorted(labels))}; "
                    + (f"kept '{winner.label}' (most trusted source)" if winner else "dropped all"),
                    label=sorted(labels)[0],
                    samples=(copies[0].text,),
                )
            )
            if winner is not None:
                kept.append(winner)
            continue
        duplicates += len(copies) - 1
        kept.append(max(copies, key=lambda example: example.weight or 0.0))
    if duplicates:
        findings.append(
            Finding(
                Severity.INFO,
                "duplicate",
                f"{duplicates} exact duplicate(s) merged",
                count=duplicates,
            )
        )
    return CleanResult(tuple(kept), tuple(findings))


def _resolve_conflict(copies: Sequence[Example]) -> Example | None:
    ranked = sorted(copies, key=lambda example: example.weight or 0.0, reverse=True)
    best = ranked[0]
    rivals = [e for e in ranked if e.label != best.label and e.weight == best.weight]
    return None if rivals else best
