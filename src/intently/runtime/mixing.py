"""How a ``stack`` turns its members' probabilities into its own: a weighted average, then a
temperature. The native stack and the ONNX runtime's stack both call :func:`mix`, so the two
cannot drift apart; the fallback rule undoes the temperature with :func:`retemper`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def mix(probas: Sequence[np.ndarray], weights: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The weighted average of the members' probabilities, rows renormalised, then
    :func:`retemper`-ed. The temperature never changes a row's top class, only how confident
    it is."""
    mixed = np.asarray(sum(w * p for w, p in zip(weights, probas, strict=True)), dtype=np.float64)
    return retemper(mixed / mixed.sum(axis=1, keepdims=True), temperature)


def retemper(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Rows sharpened (``temperature`` < 1) or softened (> 1) as ``p ** (1 / temperature)``
    renormalised; ``retemper(retemper(p, t), 1 / t)`` gives ``p`` back. The order of the classes
    within a row never changes."""
    if temperature == 1.0 or not len(proba):
        return proba
    # in log space: p ** (1 / T) underflows to an all-zero row for small T
    z = np.log(np.maximum(proba, 1e-300)) / temperature
    z -= z.max(axis=1, keepdims=True)
    sharpened = np.exp(z)
    return sharpened / sharpened.sum(axis=1, keepdims=True)


def valid_temperature(value: object) -> bool:
    """Whether ``value`` (read from a saved model) can be a stack's temperature."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < np.inf


def vector_member(members: Sequence[Any]) -> int | None:
    """The index of the first member that gives sentence vectors (``gives_vectors``: an
    ``embedding`` member, natively or exported), or None."""
    return next((i for i, m in enumerate(members) if getattr(m, "gives_vectors", False)), None)


def mix_with_vectors(
    members: Sequence[Any], weights: np.ndarray, temperature: float, texts: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mix` of the members' probabilities and the sentence vectors of
    :func:`vector_member`, whose encoder runs once for both (other members of weight 0 do not
    run: the mix renormalises its rows, so leaving them out changes nothing)."""
    index = vector_member(members)
    if index is None:
        raise ValueError("no member gives sentence vectors")
    probas, used, vectors = [], [], np.empty(0)
    for i, member in enumerate(members):
        if i == index:
            proba, vectors = member.predict_proba_and_vectors(texts)
        elif weights[i] > 0:
            proba = member.predict_proba(texts)
        else:
            continue
        probas.append(proba)
        used.append(i)
    return mix(probas, np.asarray(weights)[used], temperature), vectors
