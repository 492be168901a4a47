"""Filters every generated set passes: exact duplicates (of the originals too), near-duplicates
among the new examples of an intent, and length bounds.

Near-duplicates are found with MinHash over character 3-grams and locality-sensitive hashing
(bands of the signature), then confirmed with the exact Jaccard of the 3-gram sets, so the cost
stays near linear in the number of examples.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from intently.data.example import Example

NGRAM = 3
PERMUTATIONS = 32
BANDS = 16
"""16 bands of 2 rows: a pair at Jaccard 0.5 shares a band with probability 0.99, at 0.3 0.77."""
_PRIME = (1 << 61) - 1
_SALTS = np.random.default_rng(20240613).integers(
    1, 1 << 31, size=(2, PERMUTATIONS), dtype=np.int64
)
_PUNCT = re.compile(r"[^\w\s]")


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: the key of exact duplicates."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def char_ngrams(text: str, n: int = NGRAM) -> frozenset[str]:
    padded = f" {normalise(text)} "
    return frozenset(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def minhash(grams: frozenset[str]) -> np.ndarray:
    """A ``PERMUTATIONS``-long MinHash signature of a 3-gram set."""
    hashed = np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.int64, count=len(grams))
    return ((hashed[:, None] * _SALTS[0] + _SALTS[1]) % _PRIME).min(axis=0)


@dataclass(frozen=True)
class FilterBounds:
    min_words: int = 1
    max_words: int = 64
    near_duplicate: float = 0.9


@dataclass(frozen=True)
class Filtered:
    """What survived, and how many each filter dropped."""

    kept: tuple[Example, ...]
    dropped: Counter[str] = field(default_factory=Counter)


def filter_generated(
    originals: Sequence[Example], generated: Sequence[Example], bounds: FilterBounds
) -> Filtered:
    """``generated`` without exact duplicates (of each other or of any original, whatever its
    label), near-duplicates of an earlier kept example of the same label, and texts outside
    the word bounds; order is kept."""
    dropped: Counter[str] = Counter()
    seen = {normalise(e.text) for e in originals}
    near = _NearDuplicates(bounds.near_duplicate)
    kept: list[Example] = []
    for example in generated:
        key = normalise(example.text)
        words = len(key.split())
        if not bounds.min_words <= words <= bounds.max_words:
            dropped["length"] += 1
        elif key in seen:
            dropped["duplicate"] += 1
        elif near.is_duplicate(example.label, char_ngrams(example.text)):
            dropped["near_duplicate"] += 1
        else:
            seen.add(key)
            kept.append(example)
    return Filtered(tuple(kept), dropped)


class _NearDuplicates:
    """Kept 3-gram sets per label, indexed by MinHash band for candidate lookup."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._grams: list[frozenset[str]] = []
        self._buckets: dict[tuple[str, int, bytes], list[int]] = defaultdict(list)

    def is_duplicate(self, label: str, grams: frozenset[str]) -> bool:
        """True when a kept set of ``label`` is at least ``threshold`` similar; else keep it."""
        bands = np.array_split(minhash(grams), BANDS)
        keys = [(label, b, band.tobytes()) for b, band in enumerate(bands)]
        candidates = {i for key in keys for i in self._buckets.get(key, ())}
        if any(jaccard(grams, self._grams[i]) >= self.threshold for i in candidates):
            return True
        for key in keys:
            self._buckets[key].append(len(self._grams))
        self._grams.append(grams)
        return False
