"""The consistency filter: a model trained on the original examples votes on generated ones.

A generated example that this model confidently gives another intent has probably drifted
from its label (a synonym that changed the meaning, a paraphrase of something else) and is
dropped. Examples of an intent the model never saw are kept: there is no evidence against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from intently.backends import make_backend
from intently.data import Example, columns


@dataclass(frozen=True)
class Rejection:
    index: int
    """Position in the generated examples."""
    preferred: str
    """The intent the model gave the example instead."""
    probability: float


def consistency_filter(
    originals: Sequence[Example],
    generated: Sequence[Example],
    *,
    threshold: float,
    backend: str = "linear",
    seed: int = 13,
) -> list[Rejection]:
    """The generated examples whose top prediction is another label with probability
    ``>= threshold``, by a ``backend`` model fitted on ``originals`` only."""
    texts, labels, weights = columns(originals)
    if not generated or len(set(labels)) < 2:
        return []
    model = make_backend(backend, {}, seed=seed).fit(texts, labels, weights)
    proba = model.predict_proba([e.text for e in generated])
    rejected = []
    for index, (example, row) in enumerate(zip(generated, proba, strict=True)):
        best = int(row.argmax())
        winner = model.classes_[best]
        if example.label in model.classes_ and winner != example.label and row[best] >= threshold:
            rejected.append(Rejection(index, winner, float(row[best])))
    return rejected
