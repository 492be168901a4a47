"""The token features of spaCy's tok2vec textcats (``TextCatReduce``, ``TextCatCNN``, the
ensemble) in pure Python + NumPy, for ONNX serving.

A ``spacy_tok2vec`` export keeps spaCy out of the runtime: this module turns a text into the
rows of the exported ``HashEmbed`` tables exactly as spaCy 3 / thinc 8 pick them, and the graph
sums those rows and runs the CNN. docs/SPACY_ONNX.md is the language-neutral specification; in
short, for each token of :class:`~intently.runtime.spacy_features.SpacyTokenizer`:

1. **Attributes** (spaCy's lexeme attribute getters): ``NORM`` (the special-case rule's NORM,
   else the exported norm exceptions looked up by the token's ORTH key, else ``lower()``),
   ``LOWER``, ``PREFIX`` (first character), ``SUFFIX`` (last three), ``SHAPE``
   (:func:`word_shape`), ``ORTH``; each as its 64-bit string key
   (:meth:`~intently.runtime.spacy_features.BowFeatures.keys`' keys: MurmurHash64A, seed 1, or a
   reserved symbol's id).
2. **Rows**: each ``HashEmbed`` table reads one attribute and hashes its key with
   ``MurmurHash3_x64_128`` (8 little-endian bytes, the table's seed) into four 32-bit words;
   each word modulo the table's row count, plus the table's offset in the exported stack of
   tables, is a row (thinc ``NumpyOps.hash`` + ``HashEmbed``).

Imports only the standard library and NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.runtime.spacy_features import (
    BowFeatures,
    SpacyTokenizer,
    murmurhash64a,
    preprocessor_spec,
    reader,
)

PREPROCESSOR_FORMAT = "intently.spacy_tok2vec.v1"
ATTRIBUTES = ("ORTH", "NORM", "LOWER", "PREFIX", "SUFFIX", "SHAPE")
"""Token attributes the preprocessor computes (spaCy's names)."""
_CACHE_LIMIT = 200_000
_M64 = (1 << 64) - 1
_C1, _C2 = 0x87C37B91114253D5, 0x4CF5AD432745937F


def word_shape(text: str) -> str:
    """spaCy's ``SHAPE``: letters as ``X``/``x``, digits as ``d``, other characters kept, runs
    of one shape character cut at four; ``"LONG"`` from 100 characters on."""
    if len(text) >= 100:
        return "LONG"
    shape: list[str] = []
    last, run = "", 0
    for char in text:
        if char.isalpha():
            kind = "X" if char.isupper() else "x"
        elif char.isdigit():
            kind = "d"
        else:
            kind = char
        if kind == last:
            run += 1
        else:
            run, last = 0, kind
        if run < 4:
            shape.append(kind)
    return "".join(shape)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def murmurhash3_128(keys: np.ndarray, seed: int) -> np.ndarray:
    """``MurmurHash3_x64_128`` of each uint64 in ``keys`` as 8 little-endian bytes, with a
    32-bit ``seed``, as four uint32 words ``[h1 low, h1 high, h2 low, h2 high]`` per key
    (thinc ``NumpyOps.hash``); shape ``[len(keys), 4]``."""
    keys = np.asarray(keys, dtype=np.uint64)
    k = keys * np.uint64(_C1)
    k = (k << np.uint64(31)) | (k >> np.uint64(33))
    k *= np.uint64(_C2)
    h1 = k ^ np.uint64(seed) ^ np.uint64(8)
    h2 = np.full_like(h1, np.uint64(seed) ^ np.uint64(8))
    h1 += h2
    h2 += h1
    h1, h2 = _fmix64(h1), _fmix64(h2)
    h1 += h2
    h2 += h1
    low = np.uint64(0xFFFFFFFF)
    words = [h1 & low, h1 >> np.uint64(32), h2 & low, h2 >> np.uint64(32)]
    return np.stack(words, axis=1).astype(np.uint32)


class Tok2VecFeatures:
    """Text → the ``HashEmbed`` rows of each token, ``[n_tokens, 4 · n_tables]`` int64.

    Parameters
    ----------
    tokenize : callable
        Text → token texts (special-case pieces that set a NORM as
        :class:`~intently.runtime.spacy_features.SpecialPiece`).
    attributes : sequence of str
        The feature columns, in spaCy's order (``["NORM", "PREFIX", "SUFFIX", "SHAPE"]``).
    tables : sequence of mappings
        One per ``HashEmbed``: ``column`` (index into ``attributes``), ``seed``, ``rows`` and
        ``offset`` (its first row in the stacked table).
    symbols : mapping
        spaCy's reserved strings and their ids (``spacy.symbols.IDS``).
    norm_exceptions : mapping
        ORTH key (decimal string) → NORM string: the vocabulary's norm look-ups, first wins.
    """

    def __init__(
        self,
        tokenize: Callable[[str], list[str]],
        *,
        attributes: Sequence[str],
        tables: Sequence[Mapping[str, int]],
        symbols: Mapping[str, int],
        norm_exceptions: Mapping[str, str],
    ):
        unknown = sorted(set(attributes) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"unsupported token attributes {unknown}")
        self.tokenize = tokenize
        self.attributes = tuple(attributes)
        self.tables = [
            (int(t["column"]), int(t["seed"]), np.uint32(t["rows"]), int(t["offset"]))
            for t in tables
        ]
        self.width = 4 * len(self.tables)
        self.symbols = {str(text): int(key) for text, key in symbols.items()}
        self.norms = {int(key): str(norm) for key, norm in norm_exceptions.items()}
        self._cache: dict[tuple[str, str | None], np.ndarray] = {}

    def key(self, text: str) -> int:
        """spaCy's string key: a reserved symbol's id, else MurmurHash64A(utf-8, seed 1)."""
        symbol = self.symbols.get(text)
        if symbol is not None:
            return symbol
        return murmurhash64a(text.encode("utf-8"), 1) if text else 0

    def attribute_keys(self, token: str) -> list[int]:
        """The keys of ``token``'s attributes, in :attr:`attributes` order."""
        orth_key = self.key(token)
        norm = getattr(token, "norm", None)
        if norm is None:
            norm = self.norms.get(orth_key)
        values = {
            "ORTH": token,
            "NORM": token.lower() if norm is None else norm,
            "LOWER": token.lower(),
            "PREFIX": token[:1],
            "SUFFIX": token[-3:],
            "SHAPE": word_shape(token),
        }
        return [orth_key if a == "ORTH" else self.key(values[a]) for a in self.attributes]

    def _token_rows(self, tokens: Sequence[str]) -> list[np.ndarray]:
        cache = self._cache
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        out: list[np.ndarray | None] = []
        missing: list[int] = []
        for i, token in enumerate(tokens):
            found = cache.get((str(token), getattr(token, "norm", None)))
            out.append(found)
            if found is None:
                missing.append(i)
        if missing:
            keys = np.asarray(
                [self.attribute_keys(tokens[i]) for i in missing], dtype=np.uint64
            ).reshape(len(missing), len(self.attributes))
            rows = np.empty((len(missing), self.width), dtype=np.int64)
            for t, (column, seed, size, offset) in enumerate(self.tables):
                words = murmurhash3_128(keys[:, column], seed) % size
                rows[:, 4 * t : 4 * t + 4] = words.astype(np.int64) + offset
            for j, i in enumerate(missing):
                token = tokens[i]
                out[i] = cache[(str(token), getattr(token, "norm", None))] = rows[j]
        return out  # type: ignore[return-value]

    def rows(self, text: str) -> np.ndarray:
        """The rows of ``text``'s tokens, int64 ``[n_tokens, 4 · n_tables]``."""
        found = self._token_rows(self.tokenize(text))
        if not found:
            return np.zeros((0, self.width), dtype=np.int64)
        return np.stack(found)


def read_tok2vec_preprocessor(path: Path) -> tuple[Tok2VecFeatures, BowFeatures | None, int]:
    """The token features of a ``spacy_tok2vec`` export's ``spacy_tok2vec.json``, its BOW
    features (the ensemble's linear model; None otherwise) and the padding row; ModelError
    when the file is unreadable or of another format."""
    with preprocessor_spec(path, PREPROCESSOR_FORMAT) as spec:
        tokenizer = reader(SpacyTokenizer(spec["tokenizer"]), lowercase=bool(spec["lowercase"]))
        features = Tok2VecFeatures(
            tokenizer,
            attributes=spec["attributes"],
            tables=spec["tables"],
            symbols=spec["symbols"],
            norm_exceptions=spec["norm_exceptions"],
        )
        bow = None
        if spec.get("bow"):
            bow = BowFeatures(
                tokenizer,
                ngram_size=int(spec["bow"]["ngram_size"]),
                length=int(spec["bow"]["length"]),
                symbols=spec["symbols"],
            )
        return features, bow, int(spec["pad_row"])


def spacy_tok2vec_encoder(
    manifest: dict[str, Any], locate: Callable[[str], Path], batch_size: int
) -> Callable[[Sequence[str]], tuple[list[dict[str, np.ndarray]], np.ndarray]]:
    """Texts → feeds of a ``spacy_tok2vec`` graph, batches of similar length: ``rows``
    (int64 ``[batch, tokens, 4 · n_tables]``, padded with the all-zero ``pad_row``), and for
    the ensemble the BOW ``bow_rows``/``bow_counts`` (as a ``spacy_bow`` graph's)."""
    features, bow, pad = read_tok2vec_preprocessor(locate(manifest["preprocessor"]))
    bow_pad = int(bow.length) if bow is not None else 0

    def encode(texts: Sequence[str]) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
        encoded = [features.rows(text) for text in texts]
        order = np.argsort([len(rows) for rows in encoded], kind="stable")
        feeds = []
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            longest = max(1, max(len(encoded[i]) for i in chosen))
            rows = np.full((len(chosen), longest, features.width), pad, dtype=np.int64)
            for r, i in enumerate(chosen):
                rows[r, : len(encoded[i])] = encoded[i]
            feed = {"rows": rows}
            if bow is not None:
                found = [bow.rows(texts[i]) for i in chosen]
                width = max(1, max(len(ids) for ids, _ in found))
                bow_rows = np.full((len(chosen), width), bow_pad, dtype=np.int64)
                bow_counts = np.zeros((len(chosen), width), dtype=np.float32)
                for r, (ids, values) in enumerate(found):
                    bow_rows[r, : len(ids)] = ids
                    bow_counts[r, : len(values)] = values
                feed |= {"bow_rows": bow_rows, "bow_counts": bow_counts}
            feeds.append(feed)
        return feeds, order

    return encode
