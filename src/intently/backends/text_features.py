"""TF-IDF n-gram features computed in plain Python + NumPy, identically at fit and predict time.

Vocabulary, IDF and vectors follow scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``
definitions but are computed here, at fit and predict time alike, so the runtime path needs no
scikit-learn and produces the fit-time vectors by construction. Each space (word, char) is
L2-normalised on its own, like a ``FeatureUnion``.

Character n-grams never cross a whitespace-separated token, so a text's char counts are the sum
of its tokens' counts. Each distinct token's counts are computed once and cached; a batch then
becomes one sparse (texts × tokens) @ (tokens × n-grams) product instead of a Python loop over
hundreds of n-grams per text.

SciPy is imported only by the batch paths (``count_matrix``, ``fit_space``, ``tfidf``,
``Featurizer.transform``): ``Featurizer.sparse_row`` and loading a featurizer need only NumPy,
so the ONNX runtime can featurise texts where SciPy is not installed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

_WORD = re.compile(r"(?u)\b\w+\b")
TOKEN_CACHE_LIMIT = 200_000


def word_ngrams(text: str, n_min: int = 1, n_max: int = 2) -> list[str]:
    tokens = _WORD.findall(text.lower())
    grams = list(tokens) if n_min == 1 else []
    for n in range(max(n_min, 2), n_max + 1):
        grams.extend(map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)))
    return grams


def _token_char_ngrams(token: str, n_min: int, n_max: int) -> list[str]:
    padded = f" {token} "
    length = len(padded)
    return [
        padded[i : i + n]
        for n in range(n_min, min(n_max, length) + 1)
        for i in range(length - n + 1)
    ]


def char_wb_ngrams(text: str, n_min: int = 2, n_max: int = 5) -> list[str]:
    """Character n-grams inside word boundaries, each whitespace token padded with one space."""
    grams: list[str] = []
    for token in text.lower().split():
        grams.extend(_token_char_ngrams(token, n_min, n_max))
    return grams


ANALYZERS: dict[str, Callable[[str, int, int], list[str]]] = {
    "word": word_ngrams,
    "char_wb": char_wb_ngrams,
}


@dataclass
class _TokenCache:
    """Per-token n-gram counts of a char space, as growing CSR rows."""

    rows: dict[str, int] = field(default_factory=dict)
    cols: list[list[int]] = field(default_factory=list)
    counts: list[list[float]] = field(default_factory=list)
    matrix: sparse.csr_matrix | None = None
    flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # indptr, cols, counts
    generation: int = 0  # bumped when the cache is cleared: earlier row numbers are void


@dataclass(frozen=True)
class FeatureSpace:
    """One analyzer with its fitted vocabulary and IDF weights."""

    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray
    _cache: _TokenCache = field(default_factory=_TokenCache, repr=False, compare=False)

    def grams(self, text: str) -> list[str]:
        return ANALYZERS[self.analyzer](text, *self.ngram_range)

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    def to_json(self) -> dict[str, object]:
        ordered = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return {"analyzer": self.analyzer, "ngram_range": list(self.ngram_range), "terms": ordered}

    @classmethod
    def from_json(cls, data: dict[str, Any], idf: np.ndarray) -> FeatureSpace:
        """The inverse of :meth:`to_json`; ``idf`` holds one weight per term.

        Raises ValueError when the analyzer is unknown or ``idf`` does not match the terms.
        """
        terms = data["terms"]
        if data["analyzer"] not in ANALYZERS:
            raise ValueError(f"unknown analyzer {data['analyzer']!r}")
        if idf.shape != (len(terms),):
            raise ValueError(f"IDF of shape {idf.shape} does not match {len(terms)} terms")
        low, high = (int(n) for n in data["ngram_range"])
        return cls(data["analyzer"], (low, high), {t: j for j, t in enumerate(terms)}, idf)

    # -- raw counts ---------------------------------------------------------------------------

    def counts(self, text: str) -> dict[int, float]:
        """Vocabulary column → raw count for one text."""
        if self.analyzer == "char_wb":
            merged: dict[int, float] = {}
            for token in text.lower().split():
                row = self._token_row(token)
                for col, count in zip(self._cache.cols[row], self._cache.counts[row], strict=True):
                    merged[col] = merged.get(col, 0.0) + count
            return merged
        vocabulary = self.vocabulary
        found = Counter(vocabulary[g] for g in self.grams(text) if g in vocabulary)
        return {col: float(c) for col, c in found.items()}

    def count_matrix(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Raw counts of many texts as a (len(texts), size) CSR matrix."""
        from scipy import sparse

        if self.analyzer == "char_wb":
            return self._char_count_matrix(texts)
        lookup = self.vocabulary.get
        grams = self.grams
        indptr = [0]
        indices: list[int] = []
        for text in texts:
            indices.extend([col for col in map(lookup, grams(text)) if col is not None])
            indptr.append(len(indices))
        matrix = sparse.csr_matrix(
            (
                np.ones(len(indices), dtype=np.float32),
                np.asarray(indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(texts), self.size),
        )
        matrix.sum_duplicates()
        return matrix

    def _char_count_matrix(self, texts: Sequence[str]) -> sparse.csr_matrix:
        from scipy import sparse

        indptr = [0]
        token_rows: list[int] = []
        row_of = self._cache.rows
        generation = self._cache.generation
        for text in texts:
            for token in text.lower().split():
                row = row_of.get(token)
                token_rows.append(self._token_row(token) if row is None else row)
            indptr.append(len(token_rows))
        cache = self._cache
        if cache.generation != generation:  # the cache was cleared mid-batch: count one by one
            rows, cols, counts = _coo([self.counts(text) for text in texts])
            return sparse.csr_matrix(
                (counts.astype(np.float32), (rows, cols)), shape=(len(texts), self.size)
            )
        if cache.matrix is None or cache.matrix.shape[0] != len(cache.cols):
            lengths = [len(c) for c in cache.cols]
            total = sum(lengths)
            cache.matrix = sparse.csr_matrix(
                (
                    np.fromiter(chain.from_iterable(cache.counts), np.float32, count=total),
                    np.fromiter(chain.from_iterable(cache.cols), np.int32, count=total),
                    np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                ),
                shape=(len(cache.cols), self.size),
            )
        tokens = sparse.csr_matrix(
            (
                np.ones(len(token_rows), dtype=np.float32),
                np.asarray(token_rows, dtype=np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(texts), cache.matrix.shape[0]),
        )
        return (tokens @ cache.matrix).tocsr()

    def count_arrays(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw counts of many texts as (row, column, count) arrays, with NumPy only.

        Duplicates are summed; entries are sorted by row, then column.
        """
        if self.analyzer != "char_wb":
            lookup, grams = self.vocabulary.get, self.grams
            per_text = [
                [col for col in map(lookup, grams(text)) if col is not None] for text in texts
            ]
            rows = np.repeat(np.arange(len(texts)), [len(cols) for cols in per_text])
            cols = np.fromiter(chain.from_iterable(per_text), np.int64, count=len(rows))
            return _sum_duplicates(rows, cols, np.ones(len(rows)), self.size)
        cache = self._cache
        generation = cache.generation
        token_rows: list[int] = []
        per_text_tokens: list[int] = []
        row_of = cache.rows
        for text in texts:
            tokens = text.lower().split()
            per_text_tokens.append(len(tokens))
            for token in tokens:
                row = row_of.get(token)
                token_rows.append(self._token_row(token) if row is None else row)
        if cache.generation != generation:  # the cache was cleared mid-batch: count one by one
            return _sum_duplicates(*_coo([self.counts(text) for text in texts]), self.size)
        if cache.flat is None or len(cache.flat[0]) != len(cache.cols) + 1:
            lengths = [len(c) for c in cache.cols]
            total = sum(lengths)
            cache.flat = (
                np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]),
                np.fromiter(chain.from_iterable(cache.cols), np.int64, count=total),
                np.fromiter(chain.from_iterable(cache.counts), np.float64, count=total),
            )
        indptr, flat_cols, flat_counts = cache.flat
        token_index = np.asarray(token_rows, dtype=np.int64)
        starts = indptr[token_index]
        lengths = indptr[token_index + 1] - starts
        # Position of every (token occurrence, n-gram) pair in the flat cache.
        ends = np.cumsum(lengths)
        flat = np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(
            starts - ends + lengths, lengths
        )
        text_of_token = np.repeat(np.arange(len(texts)), per_text_tokens)
        rows = np.repeat(text_of_token, lengths)
        return _sum_duplicates(rows, flat_cols[flat], flat_counts[flat], self.size)

    def _token_row(self, token: str) -> int:
        cache = self._cache
        row = cache.rows.get(token)
        if row is not None:
            return row
        if len(cache.rows) >= TOKEN_CACHE_LIMIT:  # bound memory under adversarial input
            cache.rows.clear()
            cache.cols.clear()
            cache.counts.clear()
            cache.matrix = None
            cache.flat = None
            cache.generation += 1
        vocabulary = self.vocabulary
        found = Counter(
            vocabulary[g] for g in _token_char_ngrams(token, *self.ngram_range) if g in vocabulary
        )
        cache.cols.append(list(found.keys()))
        cache.counts.append([float(c) for c in found.values()])
        row = cache.rows[token] = len(cache.cols) - 1
        return row


def _coo(counted: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, count) arrays of per-text ``counts`` dicts."""
    rows = np.repeat(np.arange(len(counted)), [len(c) for c in counted])
    cols = np.fromiter(chain.from_iterable(counted), np.int64, count=len(rows))
    values = np.fromiter(
        chain.from_iterable(c.values() for c in counted), np.float64, count=len(rows)
    )
    return rows, cols, values


def _sum_duplicates(
    rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO entries with equal (row, col) summed, sorted by row then column."""
    keys = rows.astype(np.int64) * size + cols
    unique, inverse = np.unique(keys, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=counts, minlength=len(unique))
    return unique // size, unique % size, summed


def fit_space(
    texts: Sequence[str], analyzer: str, ngram_range: tuple[int, int], *, min_df: int = 1
) -> tuple[FeatureSpace, sparse.csr_matrix]:
    """Fit vocabulary and IDF on ``texts``; also returns their normalised TF-IDF matrix.

    Same definitions as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``: smooth IDF
    ``ln((1 + n) / (1 + df)) + 1``, terms sorted alphabetically, ``min_df`` in documents. Counting
    reuses the per-token cache, so a char space costs one n-gram pass per distinct token.
    """
    low, high = ngram_range
    terms: set[str] = set()
    if analyzer == "char_wb":
        for token in {token for text in texts for token in text.lower().split()}:
            terms.update(_token_char_ngrams(token, low, high))
    else:
        for text in texts:
            terms.update(ANALYZERS[analyzer](text, low, high))
    ordered = sorted(terms)
    draft = FeatureSpace(
        analyzer,
        (low, high),
        {t: i for i, t in enumerate(ordered)},
        np.ones(len(ordered), dtype=np.float32),
    )
    counts = draft.count_matrix(texts)
    df = np.bincount(counts.indices, minlength=len(ordered))
    keep = np.flatnonzero(df >= min_df)
    if len(keep) < len(ordered):
        counts = counts[:, keep].tocsr()
        df = df[keep]
        ordered = [ordered[i] for i in keep]
    idf = (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)
    space = FeatureSpace(analyzer, (low, high), {t: i for i, t in enumerate(ordered)}, idf)
    return space, tfidf(counts, idf)


def tfidf(counts: sparse.csr_matrix, idf: np.ndarray, weight: float = 1.0) -> sparse.csr_matrix:
    """Sublinear TF × IDF, each row scaled to L2 norm ``weight`` (empty rows stay empty)."""
    from scipy import sparse

    matrix = counts.astype(np.float32, copy=True)
    matrix.data = (1.0 + np.log(matrix.data)) * idf[matrix.indices]
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(weight, norms, out=np.zeros_like(norms), where=norms > 0)
    return (sparse.diags(scale.astype(np.float32)) @ matrix).tocsr()


class Featurizer:
    """Concatenated, per-space L2-normalised sublinear TF-IDF over several spaces."""

    def __init__(self, spaces: Sequence[FeatureSpace], weights: Sequence[float]):
        self.spaces = tuple(spaces)
        self.weights = tuple(float(w) for w in weights)
        self.offsets = [int(o) for o in np.cumsum([0, *(space.size for space in self.spaces)])]

    @property
    def n_features(self) -> int:
        return self.offsets[-1]

    @classmethod
    def from_json(cls, data: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> Featurizer:
        """A featurizer from its JSON part (``spaces``, ``space_weights``) and ``idf_<i>`` arrays.

        This is the layout the linear backend saves; loading needs only NumPy. Raises KeyError
        or ValueError when the parts are incomplete or inconsistent.
        """
        spaces = [
            FeatureSpace.from_json(space, np.asarray(arrays[f"idf_{i}"]))
            for i, space in enumerate(data["spaces"])
        ]
        weights = data["space_weights"]
        if len(weights) != len(spaces):
            raise ValueError(f"{len(weights)} space weights for {len(spaces)} spaces")
        return cls(spaces, weights)

    def sparse_row(self, text: str) -> tuple[list[int], list[float]]:
        """Column indices and values of one text's feature vector."""
        indices: list[int] = []
        values: list[float] = []
        for space, offset, weight in zip(self.spaces, self.offsets, self.weights, strict=False):
            counts = space.counts(text)
            if not counts:
                continue
            idf = space.idf
            vals = [(1.0 + math.log(c)) * float(idf[col]) for col, c in counts.items()]
            scale = weight / math.sqrt(sum(v * v for v in vals))
            indices.extend(col + offset for col in counts)
            values.extend(v * scale for v in vals)
        return indices, values

    def sparse_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feature vectors of many texts as CSR parts ``(indptr, indices, values)``, NumPy only.

        Row ``i`` is ``indices[indptr[i]:indptr[i + 1]]`` with its ``values`` (float64), the
        vector :meth:`sparse_row` gives (columns sorted; values equal up to rounding).
        """
        n = len(texts)
        all_rows, all_cols, all_values = [], [], []
        for space, offset, weight in zip(self.spaces, self.offsets, self.weights, strict=False):
            rows, cols, counts = space.count_arrays(texts)
            values = (1.0 + np.log(counts)) * space.idf[cols].astype(np.float64)
            norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n))
            values *= weight / norms[rows]
            all_rows.append(rows)
            all_cols.append(cols + offset)
            all_values.append(values)
        rows = np.concatenate(all_rows) if all_rows else np.zeros(0, np.int64)
        order = np.argsort(rows, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
        cols = np.concatenate(all_cols)[order] if all_cols else np.zeros(0, np.int64)
        values = np.concatenate(all_values)[order] if all_values else np.zeros(0)
        return indptr, cols, values

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        from scipy import sparse

        blocks = [
            tfidf(space.count_matrix(texts), space.idf, weight)
            for space, weight in zip(self.spaces, self.weights, strict=True)
        ]
        return sparse.hstack(blocks, format="csr", dtype=np.float32)
