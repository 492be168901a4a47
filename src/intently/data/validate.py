"""Checks on a task's examples before training: what `intently data validate` reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from intently.data.clean import Finding, Severity
from intently.data.example import Example

WARN_BELOW = 10
ERROR_BELOW = 2
IMBALANCE_WARN = 10.0


@dataclass(frozen=True)
class ValidationReport:
    task: str
    counts: dict[str, int]
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def imbalance(self) -> float:
        """Largest class size over smallest (1.0 when balanced, inf when a class is empty)."""
        sizes = [n for n in self.counts.values() if n > 0]
        return max(sizes) / min(sizes) if sizes else float("inf")

    def ok(self, *, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)


def validate_examples(
    task: str,
    examples: Sequence[Example],
    *,
    defined_labels: Collection[str] | None,
    fallback_label: str,
    cleaning: Sequence[Finding] = (),
) -> ValidationReport:
    """Findings for ``examples`` against the labels the project defines (None: any label)."""
    counts = Counter(example.label for example in examples)
    findings: list[Finding] = list(cleaning)
    if not examples:
        findings.append(
            Finding(
                Severity.ERROR,
                "empty_dataset",
                f"task '{task}' has no examples",
            )
        )
    if defined_labels is not None:
        allowed = set(defined_labels) | {fallback_label}
        for label in sorted(set(counts) - allowed):
            findings.append(
                Finding(
                    Severity.ERROR,
                    "undefined_label",
                    f"{counts[label]} example(s) use undefined label '{label}'"
                    + _first_origin(examples, label),
                    label=label,
                    count=counts[label],
                )
            )
        for label in sorted(set(defined_labels) - set(counts)):
            findings.append(
                Finding(
                    Severity.ERROR,
                    "label_without_examples",
                    f"'{label}' is defined but has no examples",
                    label=label,
                    count=0,
                )
            )
    for label, n in sorted(counts.items()):
        if n < ERROR_BELOW:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "too_few_examples",
                    f"'{label}' has {n} example (at least {ERROR_BELOW} needed)",
                    label=label,
                    count=n,
                )
            )
        elif n < WARN_BELOW:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "few_examples",
                    f"'{label}' has {n} examples ({WARN_BELOW}+ recommended)",
                    label=label,
                    count=n,
                )
            )
    if len(counts) == 1:
        findings.append(
            Finding(
                Severity.ERROR,
                "single_label",
                f"only one label ('{next(iter(counts))}') — nothing to classify",
            )
        )
    report = ValidationReport(task, dict(sorted(counts.items())), tuple(findings))
    if len(counts) > 1 and report.imbalance > IMBALANCE_WARN:
        biggest, smallest = max(counts, key=counts.__getitem__), min(counts, key=counts.__getitem__)
        report = ValidationReport(
            task,
            report.counts,
            (
                *report.findings,
                Finding(
                    Severity.WARNING,
                    "imbalance",
                    f"imbalance ratio {report.imbalance:.1f} ('{biggest}' {counts[biggest]} vs "
                    f"'{smallest}' {counts[smallest]})",
                ),
            ),
        )
    return report


def _first_origin(examples: Sequence[Example], label: str) -> str:
    """' (first at file:line)' for imported examples, '' for ones from the project file."""
    for example in examples:
        if example.label == label and example.origin:
            return f" (first at {example.origin})"
    return ""
