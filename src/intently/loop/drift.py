"""Drift of live traffic against what a model was trained and validated on: the PSI.

The population stability index compares two distributions over the same bins::

    PSI = sum over bins of (current - reference) * ln(current / reference)

with shares floored at ``EPSILON`` so an empty bin does not make it infinite. Common reading:
below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a significant one.

Per task two shifts are measured (:func:`task_drift`):

- **labels**: the share of each label among recent answers against the label shares of the
  active version's held-out examples (``evaluation.jsonl``: a stratified split, so the label
  shares of the training data);
- **confidence**: recent answers' confidence in ten equal bins of [0, 1] against the model's
  confidence on those same held-out texts (what it looked like when validated).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intently.runtime import Classifier

EPSILON = 1e-4
CONFIDENCE_BINS = 10
MODERATE, SIGNIFICANT = 0.1, 0.25


def psi(reference: Mapping[str, float], current: Mapping[str, float]) -> float:
    """PSI of two count (or share) maps over the union of their bins."""
    ref_total = sum(reference.values())
    cur_total = sum(current.values())
    if ref_total <= 0 or cur_total <= 0:
        return 0.0
    total = 0.0
    for key in set(reference) | set(current):
        expected = max(reference.get(key, 0.0) / ref_total, EPSILON)
        actual = max(current.get(key, 0.0) / cur_total, EPSILON)
        total += (actual - expected) * math.log(actual / expected)
    return total


def confidence_bins(values: Iterable[float], bins: int = CONFIDENCE_BINS) -> Counter[str]:
    """Counts of ``values`` in ``bins`` equal bins of [0, 1] (1.0 falls in the last)."""
    counts: Counter[str] = Counter()
    for value in values:
        index = min(int(max(0.0, float(value)) * bins), bins - 1)
        counts[f"{index / bins:.1f}"] += 1
    return counts


def level(value: float) -> str:
    return "significant" if value > SIGNIFICANT else "moderate" if value > MODERATE else "stable"


@dataclass(frozen=True)
class Drift:
    task: str
    n: int  # recent answers compared
    reference_n: int
    label_psi: float
    confidence_psi: float

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n": self.n,
            "reference_n": self.reference_n,
            "label_psi": round(self.label_psi, 4),
            "label_drift": level(self.label_psi),
            "confidence_psi": round(self.confidence_psi, 4),
            "confidence_drift": level(self.confidence_psi),
        }


def task_drift(
    task: str,
    *,
    reference_labels: Sequence[str],
    reference_confidence: Sequence[float],
    labels: Sequence[str],
    confidence: Sequence[float],
) -> Drift:
    """Label and confidence PSI of recent answers against the reference."""
    return Drift(
        task,
        len(labels),
        len(reference_labels),
        psi(Counter(reference_labels), Counter(labels)),
        psi(confidence_bins(reference_confidence), confidence_bins(confidence)),
    )


def version_reference(classifier: Classifier, model_dir: Path) -> tuple[list[str], list[float]]:
    """The reference of a model version: the labels of its held-out examples and the model's
    confidence on their texts (empty when the version stored none)."""
    # Imported here: the export package (ONNX graph building) is not needed to serve.
    from intently.export import EVALUATION_FILE, read_texts

    path = model_dir / EVALUATION_FILE
    if not path.is_file():
        return [], []
    texts, labels = read_texts(path)
    if not texts or labels is None:
        return [], []
    predictions = classifier.predict_batch(texts)
    return [str(label) for label in labels], [p.confidence for p in predictions]
