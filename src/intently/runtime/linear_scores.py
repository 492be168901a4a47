"""Margins of a linear model over TF-IDF features (:mod:`intently.runtime.featurize`), with
NumPy alone; the linear backend predicts through :class:`LinearScorer`.

A text's char space costs a handful of rows instead of one coefficient row per n-gram: the
scorer caches each token's margin row ``T_t = Σ_j n_tj · idf_j · coef_j`` and squared-norm share
``P_t = Σ_j n_tj · idf_j²`` (``n_tj``: how often the token holds n-gram ``j``). Both are linear
in the counts, so a text's char part is the sum over its tokens, corrected only for the n-grams
the text holds ``c > 1`` times, where ``1 + ln c`` differs from ``c``. On BANKING77 a text then
gathers about 40 rows of 77 floats instead of 160.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from itertools import chain

import numpy as np

from intently.runtime.featurize import Featurizer, _Analysis, _Growing, _runs

_BLOCK = 128
"""Texts per padded gather: a block's coefficient rows stay in cache."""
_FEW = 2048
"""Entries up to which new tokens' margin rows are summed without padding."""
_LOG_TF = [0.0, *(1.0 + math.log(c) for c in range(1, 64))]
"""Sublinear term frequency ``1 + ln c`` of small counts."""
_LOGGED = len(_LOG_TF)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``scores`` (any float array; the last axis sums to 1)."""
    if scores.size == scores.shape[-1]:  # one row (the serving path): scalar reductions
        exp = scores - scores.max()
        np.exp(exp, out=exp)
        exp /= exp.sum()
        return exp
    exp = scores - scores.max(axis=-1, keepdims=True)
    np.exp(exp, out=exp)
    exp /= exp.sum(axis=-1, keepdims=True)
    return exp


def _merge_by_text(n: int, owners: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Where each entry of several lists, each sorted by text, goes in one list sorted by text
    (list after list within a text), and the number of entries of each text."""
    counts = [np.bincount(owner, minlength=n) for owner in owners]
    total = np.sum(counts, axis=0) if counts else np.zeros(n, np.int64)
    start = np.cumsum(total) - total
    positions = []
    for owner, count in zip(owners, counts, strict=True):
        first = np.cumsum(count) - count
        positions.append(start[owner] + np.arange(len(owner)) - first[owner])
        start = start + count
    return positions, total


def _weighted_sum(
    matrix: np.ndarray,
    index: np.ndarray,
    weight: np.ndarray,
    lengths: np.ndarray,
    *,
    exact: bool = False,
) -> np.ndarray:
    """``out[i] = Σ weight[e] · matrix[index[e]]`` over text ``i``'s entries ``e``, which come
    ``lengths[i]`` at a time in text order; float32 of shape ``(len(lengths), matrix.shape[1])``.

    Texts of similar entry counts are padded into blocks (padding gathers row 0 with weight 0)
    and each block is one ``np.take`` and one batched product: ``np.add.reduceat`` over the
    gathered rows is several times slower, and a block's rows stay in cache. ``exact`` sums in
    float64 and rounds once, so that the result does not depend on the summation order (the
    block's width, or :func:`_token_margins`' other way).
    """
    n = len(lengths)
    out = np.zeros((n, matrix.shape[1]), dtype=np.float64 if exact else np.float32)
    first = np.cumsum(lengths) - lengths
    order = np.argsort(lengths, kind="stable")
    # One buffer for every block's gathered rows: a fresh array of megabytes per block would
    # be mapped and page-faulted anew each time.
    width = matrix.shape[1]
    most = int(lengths.max(initial=0)) * min(n, _BLOCK) * width
    buffer = np.empty(most, dtype=matrix.dtype)
    for b in range(int(np.searchsorted(lengths[order], 1)), n, _BLOCK):
        block = order[b : b + _BLOCK]
        size = lengths[block]
        slot = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
        line = np.repeat(np.arange(len(block)), size)
        source = np.repeat(first[block], size) + slot
        where = np.zeros((len(block), int(size[-1])), dtype=np.int64)
        weights = np.zeros(where.shape, dtype=out.dtype)
        where[line, slot] = index[source]
        weights[line, slot] = weight[source]
        gathered = buffer[: where.size * width].reshape(*where.shape, width)
        # "clip" (every index is a row of the matrix): with "raise", take buffers its output.
        np.take(matrix, where, axis=0, out=gathered, mode="clip")
        rows = gathered.astype(out.dtype, copy=False)
        out[block] = np.matmul(weights[:, None, :], rows)[:, 0]
    return out.astype(np.float32, copy=False)


def _token_margins(
    matrix: np.ndarray, columns: np.ndarray, weight: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Each token's ``Σ weight · matrix[column]`` over its ``lengths[i]`` entries, in float64
    rounded once to float32: cached rows outlive the call that made them, so a row must not
    depend on which other tokens shared the call. Few entries (one text's new tokens): one
    gather and ``np.add.reduceat``, fewer NumPy calls than the padded blocks."""
    if len(columns) > _FEW:
        return _weighted_sum(matrix, columns, weight, lengths, exact=True)
    out = np.zeros((len(lengths), matrix.shape[1]), dtype=np.float32)
    filled = np.flatnonzero(lengths)
    if len(filled):
        rows = np.take(matrix, columns, axis=0).astype(np.float64)
        rows *= weight[:, None]
        out[filled] = np.add.reduceat(rows, (np.cumsum(lengths) - lengths)[filled], axis=0)
    return out


class LinearScorer:
    """Margins ``x @ coef + intercept`` of the TF-IDF vectors ``x`` of texts, never built whole.

    Parameters
    ----------
    featurizer : Featurizer
    coef : array of shape (n_features, n_classes)
        Kept as float32.
    intercept : array of shape (n_classes,)

    Word n-grams, and the char n-grams a text repeats, gather coefficient rows; the rest of a
    char space goes through per-token margin rows, stored after the coefficients in one matrix
    so that a text is one gather (module docstring).
    """

    def __init__(self, featurizer: Featurizer, coef: np.ndarray, intercept: np.ndarray):
        coef = np.asarray(coef)
        self.featurizer = featurizer
        self.intercept = np.asarray(intercept, dtype=np.float64)
        if coef.ndim != 2 or coef.shape[0] != featurizer.n_features:
            raise ValueError(f"coefficients of shape {coef.shape} for {featurizer.n_features}")
        if self.intercept.shape != coef.shape[1:]:
            raise ValueError(f"intercept of shape {self.intercept.shape} for {coef.shape}")
        n_features, width = coef.shape
        self._matrix = _Growing(np.float32, width, capacity=n_features + 4096)
        self._matrix.extend(coef)
        self._token_row: dict[int, tuple[_Growing, list[int]]] = {}
        self._generation = -1
        self._rows_known = 0
        # Each space's IDF as a list: the one-text path reads a few dozen of them.
        self._idf = [
            featurizer.idf[a:b].tolist()
            for a, b in zip(featurizer.offsets, featurizer.offsets[1:], strict=False)
        ]
        # A fresh model would otherwise pay for each new token in its first texts: ~0.15 ms a
        # text on BANKING77 until the common tokens are cached.
        featurizer.warm(featurizer.likely_tokens())
        with featurizer.lock:
            self._token_rows()

    @property
    def coef(self) -> np.ndarray:
        return self._matrix.array[: self.featurizer.n_features]

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Margins of shape (len(texts), n_classes), float64."""
        with self.featurizer.lock:  # the token rows grow with the featurizer's cache
            if len(texts) == 1:
                return self._one(texts[0])[None, :]
            out = np.empty((len(texts), len(self.intercept)), dtype=np.float64)
            for a, b in self.featurizer._chunks(texts):
                out[a:b] = self._many(self.featurizer._analyse(texts[a:b]))
            return out

    def _token_rows(self) -> dict[int, tuple[np.ndarray, list[int]]]:
        """Per char space, the matrix row of each cached token's margin row ``T_t`` (as an array
        and as a list); computed for new tokens, all dropped when the cache has started over."""
        featurizer = self.featurizer
        cache = featurizer._cache
        if self._generation != cache.generation:
            self._matrix.size = featurizer.n_features
            self._token_row = {s: (_Growing(np.int64), []) for s in cache.chars}
            self._generation = cache.generation
        for s, (known, listed) in self._token_row.items():
            packed = cache.columns[s]
            if known.size < packed.size:
                new = range(known.size, packed.size)
                columns = packed.expand(new) + featurizer.offsets[s]
                weight = featurizer.idf[columns]
                lengths = packed.lengths.array[known.size :]
                margins = _token_margins(self._matrix.array, columns, weight, lengths)
                rows = np.arange(self._matrix.size, self._matrix.size + len(new))
                known.extend(rows)
                listed.extend(rows.tolist())
                self._matrix.extend(margins)
        self._rows_known = len(cache.tokens)
        return {s: (known.array, listed) for s, (known, listed) in self._token_row.items()}

    def _one(self, text: str) -> np.ndarray:
        """One text's margins: its ~40 (row, weight) pairs in plain Python, one gather."""
        featurizer = self.featurizer
        cache = featurizer._cache
        rows = cache.rows(text.lower().split())
        if self._generation != cache.generation or self._rows_known != len(cache.tokens):
            self._token_rows()
        index: list[int] = []
        weights: list[float] = []
        for s, space in enumerate(featurizer.spaces):
            offset, norm, idf = featurizer.offsets[s], featurizer.weights[s], self._idf[s]
            if space.analyzer == "word":
                table = featurizer._table(s)
                ids = cache.words(s, table).runs
                found = table.find(list(chain.from_iterable(map(ids.__getitem__, rows))))
                if not found:
                    continue
                if len(set(found)) < len(found):
                    counts = Counter(found)
                    found = list(counts)
                    values = [
                        (_LOG_TF[c] if c < _LOGGED else 1.0 + math.log(c)) * idf[j]
                        for j, c in counts.items()
                    ]
                else:
                    values = list(map(idf.__getitem__, found))
                scale = norm / math.hypot(*values)
                index += map(offset.__add__, found)
                weights += map(scale.__mul__, values)
                continue
            packed = cache.columns[s]
            norm2 = sum(map(packed.norm2_list.__getitem__, rows))
            if not norm2 > 0:  # no known n-gram
                continue
            columns = np.sort(packed.expand(rows))
            following = columns[1:]
            repeats = following[following == columns[:-1]].tolist()
            fixes = []
            if repeats:
                repeated = Counter(repeats)
                for j, extra in repeated.items():
                    c, w = extra + 1, idf[j]
                    log_tf = _LOG_TF[c] if c < _LOGGED else 1.0 + math.log(c)
                    norm2 += (log_tf * log_tf - c) * w * w
                    fixes.append((log_tf - c) * w)
                index += map(offset.__add__, repeated)
            scale = norm / math.sqrt(norm2)
            weights += map(scale.__mul__, fixes)
            index += map(self._token_row[s][1].__getitem__, rows)
            weights += [scale] * len(rows)
        if not index:
            return self.intercept.copy()
        rows_of = np.take(self._matrix.array, index, axis=0)  # faster than matrix[index]
        return self.intercept + np.asarray(weights, dtype=np.float32) @ rows_of

    def _many(self, analysis: _Analysis) -> np.ndarray:
        featurizer = self.featurizer
        n, rows, token_text = analysis.n, analysis.token_rows, analysis.token_text
        token_rows = self._token_rows() if analysis.chars else {}
        owners, index, weight = [], [], []
        for s, space in enumerate(featurizer.spaces):
            offset, norm = featurizer.offsets[s], featurizer.weights[s]
            if s in analysis.words:
                text, column, count = analysis.words[s]
                value = (1.0 + np.log(count)) * featurizer.idf[column + offset]
                norm2 = np.bincount(text, value * value, minlength=n)
                scale = np.divide(norm, np.sqrt(norm2), out=np.zeros(n), where=norm2 > 0)
                owners.append(text)
                index.append(column + offset)
                weight.append(value * scale[text])
                continue
            keys = analysis.chars[s]
            repeated, extra = _runs(keys[1:][keys[1:] == keys[:-1]])
            text = repeated // space.size
            column = repeated - text * space.size + offset
            count = extra + 1
            log_tf, idf = 1.0 + np.log(count), featurizer.idf[column]
            norm2 = np.bincount(
                token_text, featurizer._cache.columns[s].norm2.array[rows], minlength=n
            )
            norm2 += np.bincount(text, (log_tf * log_tf - count) * idf * idf, minlength=n)
            scale = np.divide(norm, np.sqrt(norm2), out=np.zeros(n), where=norm2 > 0)
            owners += [text, token_text]
            index += [column, token_rows[s][0][rows]]
            weight += [(log_tf - count) * idf * scale[text], scale[token_text]]
        positions, lengths = _merge_by_text(n, owners)
        size = int(lengths.sum())
        merged_index, merged_weight = np.empty(size, np.int64), np.empty(size, np.float32)
        for at, i, w in zip(positions, index, weight, strict=True):
            merged_index[at] = i
            merged_weight[at] = w
        margins = _weighted_sum(self._matrix.array, merged_index, merged_weight, lengths)
        return margins + self.intercept
