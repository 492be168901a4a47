"""Stack weights are learned on cross-fitted (out-of-fold) probabilities, not on what members
report for a validation split they may have tuned on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pytest

from intently.backends import base, make_backend


class Memorizer:
    """A member that is perfect on every text it has seen and uniform on the rest, and whose
    ``validation_proba_`` is perfect too (it trained on the validation split: a leak)."""

    name: ClassVar[str] = "memorizer"

    def __init__(self, *, seed: int = 13):
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        weights: np.ndarray | None = None,
        *,
        valid: tuple[Sequence[str], Sequence[str]] | None = None,
        progress: Any = None,
    ) -> Self:
        seen = dict(zip(texts, labels, strict=True))
        if valid is not None:
            seen.update(zip(*valid, strict=True))
        self.classes_ = tuple(sorted(set(labels)))
        self.seen_ = seen
        self.validation_proba_ = None if valid is None else self.predict_proba(valid[0])
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        proba = np.full((len(texts), len(self.classes_)), 1 / len(self.classes_))
        for row, text in enumerate(texts):
            if text in self.seen_:
                proba[row] = 0.0
                proba[row, self.classes_.index(self.seen_[text])] = 1.0
        return proba


@pytest.fixture
def memorizer() -> Iterator[None]:
    base.register_backend("memorizer", lambda: Memorizer)  # type: ignore[arg-type, return-value]
    yield
    del base._BACKENDS["memorizer"]


def test_a_member_that_leaked_the_validation_split_gets_no_weight(memorizer, base_intents):
    texts = [t for ts in base_intents.values() for t in ts[:8]]
    labels = [label for label, ts in base_intents.items() for _ in ts[:8]]
    valid_texts = [ts[8] for ts in base_intents.values()]
    valid_labels = list(base_intents)
    members = [{"backend": "linear", "params": {}}, {"backend": "memorizer", "params": {}}]
    stack = make_backend("stack", {"members": members, "folds": 4}).fit(
        texts, labels, valid=(valid_texts, valid_labels)
    )
    # on its own validation probabilities the memorizer is perfect and would take all weight;
    # out of fold it knows nothing
    leaked = stack.members_[1].validation_proba_
    assert leaked is not None
    assert [stack.classes_[i] for i in leaked.argmax(axis=1)] == valid_labels
    assert stack.weights_[1] == pytest.approx(0.0)
    assert stack.weights_[0] == pytest.approx(1.0)
    # the threshold is tuned on the mixed out-of-fold rows of the validation texts
    assert stack.validation_proba_ is not None
    assert stack.validation_proba_.shape == (len(valid_texts), len(stack.classes_))
    assert stack.validation_proba_.max() < 1.0
