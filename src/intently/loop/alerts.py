"""Alert rules of the learning loop, evaluated on monitoring metrics.

=====================  ===================================================  ==============
rule                   fires when                                           needs
=====================  ===================================================  ==============
``accuracy``           review accuracy < ``learning.alerts.accuracy``       min_reviews
``fallback_rate``      fallback answers / answers > ``fallback_rate``       min_reviews
                                                                            answers
``intent_f1``          an intent's F1 from reviews < ``intent_f1``          min_reviews
                                                                            of the intent
``misclassification``  an intent answered as one other intent in more than  min_reviews
                       ``misclassification`` of its reviewed texts          of the intent
=====================  ===================================================  ==============

Defaults 0.70, 0.30, 0.70 and 0.15 (``AlertRules`` in the project file). Rules that read
reviews wait for ``min_reviews`` (default 20) so that two unlucky reviews do not page anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intently.spec.models import AlertRules


@dataclass(frozen=True)
class Alert:
    rule: str
    task: str
    value: float
    threshold: float
    message: str
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "task": self.task,
            "label": self.label,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "message": self.message,
        }


RULES = ("accuracy", "fallback_rate", "intent_f1", "misclassification")


def evaluate_alerts(metrics: dict[str, Any], rules: AlertRules) -> list[Alert]:
    """The alerts ``metrics`` (one task's :func:`intently.loop.monitor.task_metrics`) fire."""
    task = metrics["task"]
    alerts = []
    volume, reviewed = metrics["volume"], metrics["reviewed"]
    accuracy = metrics["review_accuracy"]
    if accuracy is not None and reviewed >= rules.min_reviews and accuracy < rules.accuracy:
        alerts.append(
            Alert(
                "accuracy",
                task,
                accuracy,
                rules.accuracy,
                f"review accuracy {accuracy:.2f} is below {rules.accuracy:.2f} "
                f"({reviewed} reviewed answers)",
            )
        )
    fallback = metrics["fallback_rate"]
    if fallback is not None and volume >= rules.min_reviews and fallback > rules.fallback_rate:
        alerts.append(
            Alert(
                "fallback_rate",
                task,
                fallback,
                rules.fallback_rate,
                f"{fallback:.0%} of {volume} answers fell back (limit {rules.fallback_rate:.0%})",
            )
        )
    for label, score in sorted(metrics["per_intent"].items()):
        if score["support"] >= rules.min_reviews and score["f1"] < rules.intent_f1:
            alerts.append(
                Alert(
                    "intent_f1",
                    task,
                    score["f1"],
                    rules.intent_f1,
                    f"intent '{label}' has F1 {score['f1']:.2f} in reviews "
                    f"(below {rules.intent_f1:.2f}, {score['support']} reviewed)",
                    label,
                )
            )
    for label, score in sorted(metrics["per_intent"].items()):
        confused = score["confused_as"]
        if confused is None or score["support"] < rules.min_reviews:
            continue
        if confused["share"] > rules.misclassification:
            alerts.append(
                Alert(
                    "misclassification",
                    task,
                    confused["share"],
                    rules.misclassification,
                    f"'{label}' is answered as '{confused['label']}' in {confused['share']:.0%} "
                    f"of its {score['support']} reviewed texts "
                    f"(limit {rules.misclassification:.0%})",
                    label,
                )
            )
    return alerts
