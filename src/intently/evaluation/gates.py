"""Quality gates: thresholds a model must meet before it may be deployed."""

from __future__ import annotations

from dataclasses import dataclass

from intently.evaluation.metrics import EvaluationReport
from intently.spec import Gates


@dataclass(frozen=True)
class GateResult:
    name: str
    required: float
    actual: float | None
    passed: bool


def check_gates(report: EvaluationReport, gates: Gates) -> list[GateResult]:
    """One result per gate; a metric that cannot be computed fails its gate."""
    actual = {
        "accuracy": report.accuracy,
        "macro_f1": report.macro_f1,
        "min_intent_f1": report.lowest_f1[1] if report.lowest_f1 else None,
        "coverage": report.coverage,
    }
    return [
        GateResult(
            name,
            required,
            actual[name],
            actual[name] is not None and actual[name] >= required - 1e-9,
        )
        for name, required in gates.model_dump().items()
    ]


def gates_passed(results: list[GateResult]) -> bool:
    return all(result.passed for result in results)


@dataclass(frozen=True)
class WeakIntent:
    label: str
    f1: float
    support: int
    train_examples: int
    confused_with: tuple[tuple[str, int], ...]
    more_examples: int


def weak_intents(
    report: EvaluationReport,
    gates: Gates,
    train_counts: dict[str, int],
    *,
    fallback_label: str,
    limit: int = 10,
) -> list[WeakIntent]:
    """Intents below the per-intent gate, worst first, with an estimate of examples to add.

    The estimate assumes error falls like 1/sqrt(n) with more examples (a common learning-curve
    shape for linear text classifiers): reaching the gate needs n·((1−f1)/(1−gate))² examples.
    It is a rough guide, not a promise.
    """
    weak = sorted(
        (
            label
            for label, score in report.per_label.items()
            if label != fallback_label and score.f1 < gates.min_intent_f1
        ),
        key=lambda label: report.per_label[label].f1,
    )[:limit]
    index = {label: i for i, label in enumerate(report.labels)}
    out = []
    for label in weak:
        row = report.confusion[index[label]]
        confusions = sorted(
            ((report.labels[j], c) for j, c in enumerate(row) if c and report.labels[j] != label),
            key=lambda pair: -pair[1],
        )[:3]
        f1 = report.per_label[label].f1
        have = max(train_counts.get(label, 0), 1)
        target_error = max(1.0 - gates.min_intent_f1, 0.02)
        needed = have * ((1.0 - f1) / target_error) ** 2
        out.append(
            WeakIntent(
                label,
                f1,
                report.per_label[label].support,
                train_counts.get(label, 0),
                tuple(confusions),
                max(round(needed - have), 1),
            )
        )
    return out
