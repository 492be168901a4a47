"""TF-IDF n-gram features at inference time, with NumPy alone.

Definitions are scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``: a text's value for a
term counted ``c`` times is ``(1 + ln c) · idf``; each space (``word`` n-grams, ``char_wb``
n-grams) is L2-normalised on its own and scaled by its weight, like a ``FeatureUnion``. The
fitting half (vocabulary, IDF, SciPy matrices) is ``intently.backends.text_features``, which
builds the :class:`FeatureSpace` objects defined here, so a fitted model and a loaded one
featurise with the same code. :mod:`intently.runtime.linear_scores` turns these features into
a linear model's margins without building the vectors.

How it is fast (bench/linear_speed.py measures it):

* Neither analyzer crosses whitespace (char n-grams are padded tokens; a ``\\w+`` word holds no
  space), so each distinct whitespace-separated token is analysed once and cached: the columns
  of its char n-grams and the ids of its words, as packed integers, so that a text's are one
  ``b"".join``. :meth:`Featurizer.warm` fills the cache ahead of traffic with the tokens the
  word vocabulary suggests (:meth:`Featurizer.likely_tokens`), so a fresh model is as fast.
* A batch is lowered and joined into one string, texts separated by ``" Z "`` (``str.lower``
  never returns an ASCII capital, so no text holds that token): one ``split`` and one pass of
  dictionary lookups tokenise it. Word n-grams are found as integer token ids in sorted tables,
  one per n-gram length, and one sort of ``text · n_terms + column`` keys counts repeats.
"""

from __future__ import annotations

import math
import re
import threading
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain
from typing import Any

import numpy as np

_WORD = re.compile(r"(?u)\b\w+\b")
TOKEN_CACHE_LIMIT = 200_000
"""Distinct tokens whose char n-grams a featurizer caches; past it the cache starts over, which
bounds memory under adversarial input."""
_SEPARATOR = "Z"
_JOIN = f" {_SEPARATOR} "
_CHUNK_CHARS = 1 << 18
"""Characters of one batch pass: bounds its arrays and the cache growth within a pass."""
_INT32_MAX = int(np.iinfo(np.int32).max)
_LIKELY_LIMIT = TOKEN_CACHE_LIMIT // 8
"""Tokens :meth:`Featurizer.warm` caches at most: the rest of the cache is left to traffic."""
_TRAILING = ("?", ".", ",", "!")
"""Punctuation that commonly ends a whitespace token (``card?``), for the warm-up."""
_CLITICS = frozenset({"t", "s", "m", "ve", "re", "ll", "d"})
"""Second words of bigrams that are the halves of a contraction (``don t`` → ``don't``)."""
_NONE = np.zeros(0, np.int64)
_ARRAY_CODES = {4: "i", 8: "q"}
"""``array`` type codes of the packed int32 columns and int64 word ids."""


def word_ngrams(text: str, n_min: int = 1, n_max: int = 2) -> list[str]:
    """Word n-grams of the lowercased text, tokens matched by ``\\b\\w+\\b``."""
    return _word_grams(text.lower(), n_min, n_max)


def _word_grams(lowered: str, n_min: int, n_max: int) -> list[str]:
    tokens = _WORD.findall(lowered)
    grams = list(tokens) if n_min == 1 else []
    for n in range(max(n_min, 2), n_max + 1):
        grams.extend(map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False)))
    return grams


def token_char_ngrams(token: str, n_min: int, n_max: int) -> list[str]:
    """Character n-grams of one token padded with one space on each side."""
    padded = f" {token} "
    length = len(padded)
    return [
        padded[i : i + n]
        for n in range(n_min, min(n_max, length) + 1)
        for i in range(length - n + 1)
    ]


def char_wb_ngrams(text: str, n_min: int = 2, n_max: int = 5) -> list[str]:
    """Character n-grams inside word boundaries, each whitespace token padded with one space."""
    return [g for token in text.lower().split() for g in token_char_ngrams(token, n_min, n_max)]


ANALYZERS = {"word": word_ngrams, "char_wb": char_wb_ngrams}


@dataclass(frozen=True)
class FeatureSpace:
    """One analyzer with its fitted vocabulary (term → column) and IDF weights."""

    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray

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


class _Growing:
    """A NumPy array that grows at its end with amortised copies."""

    def __init__(self, dtype: Any, width: int | None = None, capacity: int = 64):
        self._shape = () if width is None else (width,)
        self._data = np.empty((capacity, *self._shape), dtype=dtype)
        self.size = 0

    @property
    def array(self) -> np.ndarray:
        return self._data[: self.size]

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.empty((max(end, 2 * len(self._data)), *self._shape), self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = values
        self.size = end


class _Packed:
    """One run of integers per cached token (packed bytes, so that the runs of many tokens are
    one ``b"".join``), with each run's length and, for char spaces, the token's squared-norm
    share ``Σ_j n_tj · idf_j²``."""

    def __init__(self, dtype: Any):
        self.dtype = np.dtype(dtype)
        self.packed: list[bytes] = []
        self.lengths = _Growing(np.int64)
        self.norm2 = _Growing(np.float64)
        self.norm2_list: list[float] = []
        self.runs: list[tuple[int, ...]] = []  # word ids only: the one-text path reads tuples

    @property
    def size(self) -> int:
        return len(self.packed)

    def extend(self, runs: Sequence[Sequence[int]]) -> None:
        """Append one run per token (with the ``array`` module: a text's few new tokens are
        cheaper to pack without NumPy calls)."""
        code = _ARRAY_CODES[self.dtype.itemsize]
        self.packed.extend(array(code, run).tobytes() for run in runs)
        self.lengths.extend(list(map(len, runs)))

    def expand(self, rows: Iterable[int]) -> np.ndarray:
        """The runs of ``rows``, end to end (read-only)."""
        return np.frombuffer(b"".join(map(self.packed.__getitem__, rows)), dtype=self.dtype)


class _TokenCache:
    """Distinct whitespace-separated tokens → row, and per space what a row holds: the columns
    of its char n-grams (repeats kept), or the ids of its word tokens for a
    :class:`_WordTable` (filled when a batch first needs them).

    Both analyzers work token by token: char n-grams never cross whitespace, and neither does
    a ``\\w+`` word. ``generation`` counts restarts (past :data:`TOKEN_CACHE_LIMIT`); rows of
    an older generation are void.
    """

    def __init__(self, spaces: Sequence[FeatureSpace]):
        self.chars = {s: space for s, space in enumerate(spaces) if space.analyzer == "char_wb"}
        self.word_spaces = [s for s, space in enumerate(spaces) if space.analyzer == "word"]
        self.idf2 = {
            s: (np.asarray(sp.idf, np.float64) ** 2).tolist() for s, sp in self.chars.items()
        }
        self.generation = 0
        self._start()

    def _start(self) -> None:
        self.row_of: dict[str, int] = {_SEPARATOR: -1}
        self.tokens: list[str] = []
        self.columns = {s: _Packed(np.int32) for s in self.chars}
        self.word_ids = {s: _Packed(np.int64) for s in self.word_spaces}

    def rows(self, tokens: list[str]) -> list[int]:
        """Cache row of each token (-1 for the batch separator), adding unseen tokens."""
        rows = list(map(self.row_of.get, tokens))
        if None in rows:
            # Distinct unseen tokens only: a batch repeats most of its tokens, and most are known.
            missing = list(
                dict.fromkeys([t for t, r in zip(tokens, rows, strict=True) if r is None])
            )
            if len(self.tokens) + len(missing) > TOKEN_CACHE_LIMIT:
                self.generation += 1
                self._start()
                self._add(list(dict.fromkeys(t for t in tokens if t != _SEPARATOR)))
                return list(map(self.row_of.__getitem__, tokens))
            self._add(missing)
            get = self.row_of.__getitem__
            rows = [get(t) if r is None else r for t, r in zip(tokens, rows, strict=True)]
        return rows

    def _add(self, tokens: list[str]) -> None:
        start = len(self.tokens)
        self.row_of.update(zip(tokens, range(start, start + len(tokens)), strict=True))
        self.tokens.extend(tokens)
        for s, space in self.chars.items():
            low, high = space.ngram_range
            vocabulary, columns, idf2 = space.vocabulary, self.columns[s], self.idf2[s]
            runs = [_found(vocabulary, token_char_ngrams(token, low, high)) for token in tokens]
            columns.extend(runs)
            norm2 = [sum(map(idf2.__getitem__, run)) for run in runs]
            columns.norm2.extend(norm2)
            columns.norm2_list.extend(norm2)

    def words(self, s: int, table: _WordTable) -> _Packed:
        """The word-token ids of every cached token for word space ``s``."""
        ids = self.word_ids[s]
        if ids.size < len(self.tokens):
            get = table.token_id.get
            runs = [tuple(get(w, -1) for w in _WORD.findall(t)) for t in self.tokens[ids.size :]]
            ids.extend(runs)
            ids.runs.extend(runs)
        return ids


class _WordTable:
    """A word space's n-grams as integers: token ids, then per length ``n`` a sorted table of
    ``node(first n-1 tokens) · n_tokens + last token`` keys (a trie), with each node's column
    (-1 when it is only the prefix of longer terms)."""

    def __init__(self, space: FeatureSpace):
        self.n_min, self.n_max = space.ngram_range
        self.token_id: dict[str, int] = {}
        levels: list[dict[tuple[int, ...], int]] = [{} for _ in range(self.n_max)]
        for term, column in space.vocabulary.items():
            ids = tuple(self.token_id.setdefault(t, len(self.token_id)) for t in term.split(" "))
            if not self.n_min <= len(ids) <= self.n_max:
                continue  # the analyzer never produces it
            for n in range(1, len(ids)):
                levels[n - 1].setdefault(ids[:n], -1)
            levels[len(ids) - 1][ids] = column
        self.width = len(self.token_id)
        unigram = np.full(self.width, -1, dtype=np.int64)
        for (token,), column in levels[0].items():
            unigram[token] = column
        self.keys: list[np.ndarray] = [np.arange(self.width, dtype=np.int64)]
        self.columns: list[np.ndarray] = [unigram]
        node: dict[tuple[int, ...], int] = {(t,): t for t in range(self.width)}
        for level in levels[1:]:
            grams = list(level)
            keys = np.fromiter(
                (node[g[:-1]] * self.width + g[-1] for g in grams), np.int64, count=len(grams)
            )
            order = np.argsort(keys)
            self.keys.append(keys[order])
            self.columns.append(np.fromiter(level.values(), np.int64, count=len(grams))[order])
            node = {grams[i]: rank for rank, i in enumerate(order.tolist())}
        # The same tables as dicts and lists for one text, where NumPy's per-call cost
        # dominates; each list ends with -1, which index -1 (an unknown id or node) reads.
        self._unigram = [*unigram.tolist(), -1]
        self._levels = [
            (dict(zip(keys.tolist(), range(len(keys)), strict=True)), [*columns.tolist(), -1])
            for keys, columns in zip(self.keys[1:], self.columns[1:], strict=True)
        ]

    def find(self, ids: list[int]) -> list[int]:
        """Columns of the n-grams that are terms in one text's token ids, repeats kept."""
        found = (
            [c for c in map(self._unigram.__getitem__, ids) if c >= 0] if self.n_min == 1 else []
        )
        width, node = self.width, ids
        for n, (level, columns) in enumerate(self._levels, start=2):
            node = [
                level.get(a * width + b, -1) if a >= 0 and b >= 0 else -1
                for a, b in zip(node, ids[n - 1 :], strict=False)
            ]
            if n >= self.n_min:
                found += [c for c in map(columns.__getitem__, node) if c >= 0]
        return found

    def lookup(self, ids: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(text, column) of every n-gram that is a term, given the token ids (-1: unknown) of
        texts end to end and the text of each token (ascending)."""
        texts, columns = [], []
        node = ids
        for n in range(1, self.n_max + 1):
            if n > 1:
                keys = self.keys[n - 1]
                following = ids[n - 1 :]
                before = node[: len(following)]
                same = text[n - 1 :] == text[: len(following)]
                known = np.flatnonzero((before >= 0) & (following >= 0) & same)
                if not len(keys) or not len(known):
                    break
                wanted = node[known] * self.width + following[known]
                at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
                hit = keys[at] == wanted
                node = np.full(len(following), -1, dtype=np.int64)
                node[known[hit]] = at[hit]
            if n >= self.n_min:
                present = np.flatnonzero(node >= 0)
                found = self.columns[n - 1][node[present]]
                texts.append(text[present[found >= 0]])
                columns.append(found[found >= 0])
        if not texts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(texts), np.concatenate(columns)


@dataclass
class _Analysis:
    """A chunk of ``n`` texts: the cache row of each token and the text of each, and per space
    (index into ``Featurizer.spaces``) its n-grams counted.

    ``words``: the distinct (text, column, count) of a word space, sorted by text then column.
    ``chars``: a char space's ``text · size + column`` keys, sorted, repeats kept.
    ``merged``: instead of both, the distinct (text, global column, count) of all spaces.
    """

    n: int
    token_rows: np.ndarray
    token_text: np.ndarray
    words: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    chars: dict[int, np.ndarray] = field(default_factory=dict)
    merged: tuple[np.ndarray, np.ndarray, np.ndarray] = (_NONE, _NONE, _NONE)


class Featurizer:
    """Concatenated, per-space L2-normalised sublinear TF-IDF over several spaces.

    Parameters
    ----------
    spaces : sequence of FeatureSpace
    weights : sequence of float
        Each space's L2 norm in a text's vector (its scale relative to the others).
    """

    def __init__(self, spaces: Sequence[FeatureSpace], weights: Sequence[float]):
        self.spaces = tuple(spaces)
        self.weights = tuple(float(w) for w in weights)
        if len(self.weights) != len(self.spaces):
            raise ValueError(f"{len(self.weights)} space weights for {len(self.spaces)} spaces")
        self.offsets = [int(o) for o in np.cumsum([0, *(space.size for space in self.spaces)])]
        self.idf = np.concatenate(
            [np.asarray(s.idf, np.float64) for s in self.spaces] or [np.zeros(0)]
        )
        self._idf = self.idf.tolist()
        self._cache = _TokenCache(self.spaces)
        self._tables: dict[int, _WordTable] = {}
        # Held while the cache is read or grown: the server featurises batches in a thread
        # pool while single texts run on the event loop (the GIL alone does not keep a
        # multi-step cache update whole).
        self.lock = threading.RLock()

    @property
    def n_features(self) -> int:
        return self.offsets[-1]

    @classmethod
    def from_json(cls, data: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> Featurizer:
        """A featurizer from its JSON part (``spaces``, ``space_weights``) and ``idf_<i>`` arrays.

        This is the layout the linear backend saves. Raises KeyError or ValueError when the
        parts are incomplete or inconsistent.
        """
        spaces = [
            FeatureSpace.from_json(space, np.asarray(arrays[f"idf_{i}"]))
            for i, space in enumerate(data["spaces"])
        ]
        return cls(spaces, data["space_weights"])

    def likely_tokens(self, limit: int = _LIKELY_LIMIT) -> list[str]:
        """At most ``limit`` whitespace tokens that texts likely hold, most frequent first: the
        word spaces' unigrams by ascending IDF, contractions their bigrams spell, then both
        followed by common punctuation (on BANKING77 these are 98.6% of the test tokens)."""
        scored: dict[str, float] = {}
        for s in self._cache.word_spaces:
            space = self.spaces[s]
            for term, column in space.vocabulary.items():
                first, _, second = term.partition(" ")
                if not second:
                    token = term
                elif second in _CLITICS and " " not in second:
                    token = f"{first}'{second}"
                else:
                    continue
                scored[token] = min(float(space.idf[column]), scored.get(token, math.inf))
        tokens = sorted(scored, key=scored.__getitem__)[:limit]
        if len(tokens) < limit:
            tokens += [t + p for t in tokens for p in _TRAILING][: limit - len(tokens)]
        return tokens

    def warm(self, tokens: Sequence[str]) -> None:
        """Analyse ``tokens`` (lowercased whitespace tokens) ahead of the texts that hold them,
        so that a freshly loaded model answers its first texts as fast as later ones."""
        with self.lock:
            cache = self._cache
            if len(cache.tokens) + len(tokens) > TOKEN_CACHE_LIMIT:
                return  # warming would start the cache over
            cache.rows(list(tokens))
            for s in cache.word_spaces:
                cache.words(s, self._table(s))

    def sparse_row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Columns (int64, each space's in turn) and values (float64) of one text's vector."""
        with self.lock:
            return self._sparse_row(text)

    def _sparse_row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        cache, idf = self._cache, self._idf
        rows = cache.rows(text.lower().split())
        columns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for s, space in enumerate(self.spaces):
            offset, norm = self.offsets[s], self.weights[s]
            if space.analyzer == "word":
                table = self._table(s)
                ids = cache.words(s, table).runs
                found = table.find(list(chain.from_iterable(map(ids.__getitem__, rows))))
                if not found:
                    continue
                counts = Counter(found)
                value = [(1.0 + math.log(c)) * idf[j + offset] for j, c in counts.items()]
                scale = norm / math.hypot(*value)
                columns.append(np.fromiter(counts, np.int64, len(counts)) + offset)
                values.append(np.asarray(value) * scale)
                continue
            found = np.sort(cache.columns[s].expand(rows))
            if not len(found):
                continue
            first = np.empty(len(found), dtype=bool)
            first[0] = True
            np.not_equal(found[1:], found[:-1], out=first[1:])
            starts = np.flatnonzero(first)
            column = found[starts].astype(np.int64) + offset
            value = (1.0 + np.log(np.diff(starts, append=len(found)))) * self.idf[column]
            columns.append(column)
            values.append(value * (norm / math.sqrt(value @ value)))
        if not columns:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(columns), np.concatenate(values)

    def sparse_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feature vectors of many texts as CSR parts ``(indptr, indices, values)``: row ``i``
        is ``indices[indptr[i]:indptr[i + 1]]`` (sorted) with its ``values`` (float64)."""
        indptr, columns, values = [np.zeros(1, np.int64)], [], []
        for a, b in self._chunks(texts):
            with self.lock:
                analysis = self._analyse(texts[a:b], merged=True)
            lengths, column, value = self._vectors(analysis)
            indptr.append(indptr[-1][-1] + np.cumsum(lengths))
            columns.append(column)
            values.append(value)
        if not columns:
            return indptr[0], np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(indptr), np.concatenate(columns), np.concatenate(values)

    def count_entries(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw counts as (text, column, count) arrays, sorted by text then column (fitting uses
        them to build its matrices)."""
        parts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
        for a, b in self._chunks(texts):
            with self.lock:
                text, column, count = self._analyse(texts[a:b], merged=True).merged
            for part, found in zip(parts, (text + a, column, count), strict=True):
                part.append(found)
        text, column, count = (np.concatenate(part) for part in parts)
        return text, column, count

    # -- internals -----------------------------------------------------------------------

    def _table(self, s: int) -> _WordTable:
        table = self._tables.get(s)
        if table is None:
            table = self._tables[s] = _WordTable(self.spaces[s])
        return table

    def _chunks(self, texts: Sequence[str]) -> Iterator[tuple[int, int]]:
        """Consecutive (start, stop) slices of at most ``_CHUNK_CHARS`` characters (but at least
        one text) whose ``text · n_features + column`` keys fit in int32."""
        most = max(1, _INT32_MAX // max(1, self.n_features))
        ends = list(accumulate(map(len, texts)))
        start = 0
        while start < len(texts):
            budget = (ends[start - 1] if start else 0) + _CHUNK_CHARS
            stop = min(max(bisect_right(ends, budget), start + 1), start + most, len(texts))
            yield start, stop
            start = stop

    def _analyse(self, texts: Sequence[str], *, merged: bool = False) -> _Analysis:
        """Tokenise and count a chunk. ``merged``: one sort over all spaces' global columns
        (what feature vectors need); else each space counted on its own (what scores need)."""
        n = len(texts)
        cache = self._cache
        tokens = _JOIN.join([text.lower() for text in texts]).split()
        rows = np.asarray(cache.rows(tokens), dtype=np.int64)
        separator = rows < 0
        keep = np.flatnonzero(~separator)
        token_rows, token_text = rows[keep], np.cumsum(separator)[keep]
        listed = token_rows.tolist()
        analysis = _Analysis(n, token_rows, token_text)
        every: list[np.ndarray] = []
        for s, space in enumerate(self.spaces):
            stride, offset = (self.n_features, self.offsets[s]) if merged else (space.size, 0)
            dtype = np.int32 if n * stride <= _INT32_MAX else np.int64
            if space.analyzer == "word":
                table = self._table(s)
                ids = cache.words(s, table)
                owner = np.repeat(token_text, ids.lengths.array[token_rows])
                text, column = table.lookup(ids.expand(listed), owner)
                keys = text.astype(dtype) * dtype(stride) + (column + offset).astype(dtype)
            else:
                columns = cache.columns[s]
                lengths = columns.lengths.array[token_rows]
                keys = np.repeat((token_text * stride + offset).astype(dtype), lengths)
                keys += columns.expand(listed)
            if merged:
                every.append(keys)
                continue
            keys.sort()
            if space.analyzer == "word":
                unique, count = _runs(keys)
                text = unique // stride
                analysis.words[s] = (text, unique - text * stride, count)
            else:
                analysis.chars[s] = keys
        if merged:
            keys = np.concatenate(every) if every else np.zeros(0, np.int64)
            keys.sort()
            unique, count = _runs(keys)
            text = unique // self.n_features
            analysis.merged = (text, unique - text * self.n_features, count)
        return analysis

    def _vectors(self, analysis: _Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries per text, then columns and values of the TF-IDF vectors of a chunk counted
        with ``merged``."""
        n, n_spaces = analysis.n, len(self.spaces)
        text, column, count = analysis.merged
        value = (1.0 + np.log(count)) * self.idf[column]
        key = text * n_spaces + np.searchsorted(self.offsets[1:-1], column, side="right")
        norms = np.sqrt(np.bincount(key, value * value, minlength=n * n_spaces))
        value *= np.asarray(self.weights * n)[key] / norms[key]
        return np.bincount(text, minlength=n), column, value


def _found(vocabulary: dict[str, int], grams: list[str]) -> list[int]:
    """Columns of the ``grams`` that are terms of ``vocabulary``, in order, repeats kept."""
    return [c for c in map(vocabulary.get, grams) if c is not None]


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of sorted ``keys`` (as int64) and how often each occurs (float64)."""
    if not len(keys):
        return np.zeros(0, np.int64), np.zeros(0)
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    count = np.diff(starts, append=len(keys)).astype(np.float64)
    return keys[starts].astype(np.int64), count
