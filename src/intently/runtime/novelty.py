"""Out-of-scope novelty: how far a text lies from the training texts, fused with how sure the
model is of its top intent.

Probabilities say which intent wins, not whether a text resembles any training text at all. A
model with a sentence encoder (an ``embedding`` model, or a ``stack`` with an ``embedding``
member) gives every text a vector; a text's *dissimilarity* is minus the mean cosine of its
``neighbours`` nearest in-scope training texts. Its *novelty* is
``z(-log p_top) + z(dissimilarity)``, both standardised with the mean and standard deviation
over the validation rows the cut was tuned on (``p_top``: the top probability as the fallback
reads it, with a stack's temperature undone). A text whose novelty is above ``cut`` falls back.

Decided on pseudo projects drawn from train + valid texts only (bench/stack_novelty_score.py,
docs/BENCHMARKS.md): with the cut tuned to cost no more in-scope accuracy on validation than
the probability threshold would (:func:`tune_novelty`), the rule caught more out-of-scope
texts on fresh draws (mean (in-scope + OOS recall) / 2 0.9187 vs 0.9121, budget broken in 0
draws vs 1). Nearest neighbours alone, or a Mahalanobis distance, did worse than the
probability at the same cost. For an ``embedding`` model alone, tuned on its own validation
rows, the same rule on further fresh draws: 0.9128 vs 0.9018, budget broken in 3 draws vs 4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NEIGHBOURS = 10
REFERENCE_FILE = "novelty_reference.npy"
"""The in-scope training texts' vectors (float16) in the version directory."""
SMALL_REQUEST = 16
"""Up to this many texts, the similarity is summed by NumPy's own loop (:func:`similarity`)."""


def similarity(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The cosines ``(len(vectors), len(reference))`` of L2-normalised rows.

    A request of a few texts is a matrix-vector product that reads the whole reference (CLINC150:
    46 MB) once, bound by memory, not arithmetic. BLAS splits it over every core, where the
    encoder that ran just before still has its own threads spinning: the two fought, and one
    CLINC150 request took 24 ms p50 / 118 ms p99 instead of 15 / 19 (docs/BENCHMARKS.md).
    ``einsum`` without optimisation runs NumPy's single-threaded loop instead; batches, which are
    bound by arithmetic, keep BLAS and its threads."""
    vectors = np.asarray(vectors, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    if len(vectors) <= SMALL_REQUEST:
        return np.einsum("ij,kj->ik", vectors, reference, optimize=False)
    return vectors @ reference.T


def dissimilarity(vectors: np.ndarray, reference: np.ndarray, neighbours: int) -> np.ndarray:
    """Minus the mean cosine of each L2-normalised vector's ``neighbours`` nearest rows of
    ``reference`` (L2-normalised too)."""
    cosines = similarity(vectors, reference)
    k = min(neighbours, cosines.shape[1])
    nearest = np.partition(cosines, cosines.shape[1] - k, axis=1)[:, -k:]
    return -nearest.mean(axis=1, dtype=np.float64)


def raw_scores(
    top_p: np.ndarray, vectors: np.ndarray, reference: np.ndarray, neighbours: int
) -> np.ndarray:
    """``(n, 2)``: ``-log p_top`` and the dissimilarity of each text."""
    surprise = -np.log(np.clip(np.asarray(top_p, dtype=np.float64), 1e-12, None))
    return np.stack([surprise, dissimilarity(vectors, reference, neighbours)], axis=1)


@dataclass(frozen=True, eq=False)
class Novelty:
    """The fused out-of-scope score and its cut; ``reference`` holds the in-scope training
    vectors (float16 values as float32; stored beside the version as :data:`REFERENCE_FILE`,
    float16, never pickled)."""

    centre: tuple[float, float]
    scale: tuple[float, float]
    cut: float
    reference: np.ndarray = field(repr=False)
    neighbours: int = NEIGHBOURS

    def __post_init__(self) -> None:
        numbers = (*self.centre, *self.scale, self.cut)
        if len(self.centre) != 2 or len(self.scale) != 2 or not np.isfinite(numbers).all():
            raise ValueError("novelty needs two finite centres, two finite scales and a finite cut")
        if min(self.scale) <= 0 or not isinstance(self.neighbours, int) or self.neighbours < 1:
            raise ValueError("novelty scales must be positive and neighbours a positive integer")
        if self.reference.ndim != 2 or not len(self.reference):
            raise ValueError("novelty needs a non-empty (texts, dimensions) reference array")

    def scores(self, top_p: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """The novelty of each text from its top probability and its vector."""
        raw = raw_scores(top_p, vectors, self.reference, self.neighbours)
        return ((raw - np.asarray(self.centre)) / np.asarray(self.scale)).sum(axis=1)

    def record(self) -> dict[str, object]:
        """What the version's ``fallback`` record stores (the vectors go to a file)."""
        return {
            "centre": list(self.centre),
            "scale": list(self.scale),
            "cut": self.cut,
            "neighbours": self.neighbours,
            "reference": REFERENCE_FILE,
        }

    def save(self, directory: Path) -> None:
        reference = self.reference.astype(np.float16)  # exact: tuned on float16 values
        np.save(Path(directory) / REFERENCE_FILE, reference, allow_pickle=False)

    @classmethod
    def from_record(cls, record: Mapping[str, object], directory: Path) -> Novelty:
        """The novelty a version stored; KeyError, TypeError, ValueError or OSError when the
        record or its reference file is damaged."""
        if record.get("reference") != REFERENCE_FILE:
            raise ValueError(f"the novelty reference must be {REFERENCE_FILE}")
        reference = np.load(Path(directory) / REFERENCE_FILE, allow_pickle=False)
        if reference.dtype != np.float16:
            raise ValueError(f"{REFERENCE_FILE} must hold float16 vectors")
        return cls(
            centre=_pair(record["centre"]),
            scale=_pair(record["scale"]),
            cut=number(record["cut"]),
            reference=reference.astype(np.float32),  # once here, not per request
            neighbours=int(number(record["neighbours"])),
        )


def _pair(value: object) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise TypeError(f"{value!r} is not a pair of numbers")
    return number(value[0]), number(value[1])


def number(value: object) -> float:
    """``value`` as a float, from a stored record: TypeError unless it is an int or a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def tune_novelty(
    top_p: np.ndarray,
    vectors: np.ndarray,
    reference: np.ndarray,
    *,
    is_oos: np.ndarray,
    right: np.ndarray,
    always: np.ndarray,
    max_in_scope_drop: float,
) -> Novelty | None:
    """The novelty rule tuned on validation rows: standardised on them, and the cut that
    maximises in-scope accuracy + OOS recall among those costing at most
    ``max_in_scope_drop`` of in-scope accuracy against no cut (the highest such cut on ties).

    Per row: ``is_oos`` (labelled out-of-scope), ``right`` (top class correct), ``always``
    (falls back whatever the cut: the fallback class on top, or an ambiguous lead).
    ``reference`` is rounded to float16, as the version stores it, before tuning, so a loaded
    version decides exactly as tuned. None without both kinds of rows, or when no cut helps.
    """
    if not is_oos.any() or is_oos.all():
        return None
    # float16 values (what the version stores), held as float32 (what every request multiplies)
    reference = np.asarray(reference, dtype=np.float16).astype(np.float32)
    raw = raw_scores(top_p, vectors, reference, NEIGHBOURS)
    centre, scale = raw.mean(axis=0), raw.std(axis=0)
    if not (scale > 0).all():
        return None
    novelty = ((raw - centre) / scale).sum(axis=1)
    # Every cut at once, from no cut down: the kept right answers and the caught OOS rows
    # above each candidate, counted by binary search in the sorted scores.
    observed = np.unique(novelty)[::-1]
    cuts = np.concatenate([[np.inf], (observed[:-1] + observed[1:]) / 2])
    kept_right = np.sort(novelty[right & ~is_oos & ~always])
    other_oos = np.sort(novelty[is_oos & ~always])
    in_scope = np.searchsorted(kept_right, cuts, side="right") / np.count_nonzero(~is_oos)
    caught = np.count_nonzero(is_oos) - np.searchsorted(other_oos, cuts, side="right")
    objective = np.where(
        in_scope >= in_scope[0] - max_in_scope_drop - 1e-12,
        in_scope + caught / np.count_nonzero(is_oos),
        -np.inf,
    )
    cut = cuts[int(np.argmax(objective))]
    if not np.isfinite(cut):
        return None
    return Novelty(
        centre=(float(centre[0]), float(centre[1])),
        scale=(float(scale[0]), float(scale[1])),
        cut=float(cut),
        reference=reference,
    )
