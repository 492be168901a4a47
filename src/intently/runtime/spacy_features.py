"""spaCy's tokenizer and ``TextCatBOW.v3`` features in pure Python + NumPy, for ONNX serving.

A spaCy BOW export (``kind: spacy_bow``) keeps spaCy out of the runtime: this module turns a
text into the rows of the exported weight table exactly as spaCy 3 / thinc 8 do, and the graph
sums them. docs/SPACY_ONNX.md is the language-neutral specification; in short:

1. **Tokens** (:class:`SpacyTokenizer`): spaCy's rule-based tokenizer, read from the exported
   ``rules`` (the pipeline's own prefix, suffix and infix regular expressions, ``token_match``,
   ``url_match`` and special cases), following ``spacy/tokenizer.pyx``: whitespace split,
   special cases, prefixes and suffixes stripped in turn, infixes split, then the special-case
   matcher over the tokens.
2. **Keys**: each token's ORTH key is ``MurmurHash64A(utf-8 bytes, seed 1)``
   (``nlp.vocab.strings[text]``), except for spaCy's 457 reserved symbol strings (``""``,
   ``"number"``, ``"ORTH"``...: ``spacy.symbols.IDS``), whose key is their small id; an
   n-gram's key is ``MurmurHash64A`` of its n token keys as little-endian uint64s, seed 0
   (``thinc NumpyOps.ngrams``); the keys of orders 1..n are counted (``numpy.unique``).
3. **Rows**: each key maps to two rows of the weight table, ``MurmurHash3_x86_32(key as 8
   little-endian bytes, seed 0 and 1) % length`` (``thinc SparseLinear_v2``), each with the
   key's count as its value.

Imports only the standard library and NumPy.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.errors import ModelError
from intently.runtime.model_files import CORRUPT_FILE_ERRORS

_M64 = 0xC6A4A7935BD1E995
_MASK64 = (1 << 64) - 1
_ORTH_SEED = 1
_CACHE_LIMIT = 200_000
_NEVER = re.compile("a^")
PREPROCESSOR_FORMAT = "intently.spacy_bow.v1"


def murmurhash64a(data: bytes, seed: int) -> int:
    """MurmurHash64A (Austin Appleby) of ``data``: what spaCy's ``hash_string`` (seed 1) and
    thinc's n-gram hashing (seed 0) compute."""
    length = len(data)
    h = (seed ^ (length * _M64)) & _MASK64
    end = length - length % 8
    for start in range(0, end, 8):
        k = (int.from_bytes(data[start : start + 8], "little") * _M64) & _MASK64
        k = ((k ^ (k >> 47)) * _M64) & _MASK64
        h = ((h ^ k) * _M64) & _MASK64
    if length % 8:
        h = ((h ^ int.from_bytes(data[end:], "little")) * _M64) & _MASK64
    h = ((h ^ (h >> 47)) * _M64) & _MASK64
    return h ^ (h >> 47)


def string_key(text: str) -> int:
    """spaCy's key of ``text`` (``nlp.vocab.strings[text]``; the empty string is 0)."""
    return murmurhash64a(text.encode("utf-8"), _ORTH_SEED) if text else 0


def ngram_keys(keys: np.ndarray, n: int) -> np.ndarray:
    """Keys of the n-grams of the uint64 ``keys``: MurmurHash64A of each window of ``n`` keys
    (8 little-endian bytes each), seed 0, vectorised."""
    count = len(keys) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    m, r = np.uint64(_M64), np.uint64(47)
    h = np.full(count, np.uint64((n * 8 * _M64) & _MASK64), dtype=np.uint64)  # seed 0
    for j in range(n):
        k = keys[j : j + count] * m
        k = (k ^ (k >> r)) * m
        h = (h ^ k) * m
    h = (h ^ (h >> r)) * m
    return h ^ (h >> r)


def _rotl32(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def murmurhash3_32(keys: np.ndarray, seed: int) -> np.ndarray:
    """MurmurHash3_x86_32 of each uint64 in ``keys`` as 8 little-endian bytes (thinc's
    ``MurmurHash3_x86_32_uint64``), vectorised; uint32 results."""
    c1, c2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
    h = np.full(len(keys), np.uint32(seed), dtype=np.uint32)
    for block in (keys & np.uint64(0xFFFFFFFF), keys >> np.uint64(32)):
        k = block.astype(np.uint32) * c1
        k = _rotl32(k, 15) * c2
        h = _rotl32(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
    h ^= np.uint32(8)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _compiled(spec: Any) -> re.Pattern[str]:
    """A ``{"pattern", "flags"}`` entry of the rules, compiled (None: matches nothing)."""
    if spec is None:
        return _NEVER
    return re.compile(spec["pattern"], spec.get("flags", 0))


class SpecialPiece(str):
    """A token text that comes from a special case whose rule sets the token's NORM (spaCy's
    tokenizer exceptions: ``"n't"`` → NORM ``"not"``); it is its ORTH text everywhere else."""

    norm: str

    def __new__(cls, orth: str, norm: str) -> SpecialPiece:
        piece = super().__new__(cls, orth)
        piece.norm = norm
        return piece


class SpacyTokenizer:
    """spaCy's ``Tokenizer`` (v3) from its exported rules; ``tokenizer(text)`` is the list of
    token texts (ORTH) spaCy would produce.

    ``rules`` holds ``prefix``, ``suffix``, ``infix``, ``token_match`` and ``url_match``
    (``{"pattern": str, "flags": int}`` or null), ``special_cases`` (string → its token texts)
    and ``faster_heuristics`` (bool), as :func:`intently.backends.spacy_export.tokenizer_rules`
    writes them; optionally ``special_norms`` (string → the NORM of each of its pieces, null
    where the rule sets none), whose pieces then come out as :class:`SpecialPiece`.
    """

    def __init__(self, rules: Mapping[str, Any]):
        self._prefix = _compiled(rules.get("prefix")).search
        self._suffix = _compiled(rules.get("suffix")).search
        self._infix = _compiled(rules.get("infix")).finditer
        self._token_match = _compiled(rules.get("token_match")).match
        self._url_match = _compiled(rules.get("url_match")).match
        norms = rules.get("special_norms", {})
        self.specials: dict[str, list[str]] = {
            str(key): [
                str(piece) if norm is None else SpecialPiece(str(piece), str(norm))
                for piece, norm in zip(pieces, norms.get(key) or [None] * len(pieces), strict=True)
            ]
            for key, pieces in rules.get("special_cases", {}).items()
        }
        self._cache: dict[str, list[str]] = {}
        faster = bool(rules.get("faster_heuristics", True))
        # Special cases the matcher looks for across tokens: those the affix rules split
        # (spaCy's add_special_case), as token sequences split without special cases.
        self._phrases: dict[tuple[str, ...], str] = {}
        for key in self.specials:
            if not faster or self._splits(key) or " " in key:
                self._phrases.setdefault(tuple(self._tokenize(key, specials=False)), key)
        self._longest = max((len(p) for p in self._phrases), default=0)
        self._firsts = {phrase[0] for phrase in self._phrases}  # most tokens start none

    def _splits(self, text: str) -> bool:
        prefix = self._prefix(text)
        suffix = self._suffix(text)
        return bool(
            (prefix and prefix.end() > 0)
            or (suffix and suffix.start() < len(text))
            or any(True for _ in self._infix(text))
        )

    def __call__(self, text: str) -> list[str]:
        tokens = self._tokenize(text, specials=True)
        return self._apply_phrases(text, tokens) if self._phrases else tokens

    def _tokenize(self, text: str, *, specials: bool) -> list[str]:
        """``Tokenizer._tokenize_affixes``: spans of space and non-space characters, a single
        space between two spans dropped."""
        tokens: list[str] = []
        if not text:
            return tokens
        if text.isprintable() and "  " not in text and text[0] != " " != text[-1]:
            # single spaces between words only (every normalised text): the spans are the words
            for span in text.split(" "):
                tokens.extend(self._span(span, specials))
            return tokens
        start, in_ws = 0, text[0].isspace()
        for i, char in enumerate(text):
            if char.isspace() != in_ws:
                if start < i:
                    tokens.extend(self._span(text[start:i], specials))
                start = i + 1 if char == " " else i
                in_ws = not in_ws
        if start < len(text):
            tokens.extend(self._span(text[start:], specials))
        return tokens

    def _span(self, span: str, specials: bool) -> list[str]:
        if specials and span in self.specials:
            return self.specials[span]
        if specials:
            cached = self._cache.get(span)
            if cached is not None:
                return cached
        prefixes: list[str] = []
        suffixes: list[str] = []
        rest = self._split_affixes(span, prefixes, suffixes, specials)
        tokens = [*prefixes, *self._attach(rest, specials), *reversed(suffixes)]
        if specials:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[span] = tokens
        return tokens

    def _split_affixes(
        self, string: str, prefixes: list[str], suffixes: list[str], specials: bool
    ) -> str:
        last_size = -1
        while string and len(string) != last_size:
            if self._token_match(string) or (specials and string in self.specials):
                break
            last_size = len(string)
            found = self._prefix(string)
            pre_len = found.end() - found.start() if found else 0
            if pre_len:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre and specials and minus_pre in self.specials:
                    prefixes.append(prefix)
                    return minus_pre
            found = self._suffix(string[pre_len:])
            suf_len = found.end() - found.start() if found else 0
            if suf_len:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf and specials and minus_suf in self.specials:
                    suffixes.append(suffix)
                    return minus_suf
            if pre_len and suf_len and pre_len + suf_len <= len(string):
                prefixes.append(string[:pre_len])
                suffixes.append(string[-suf_len:])
                string = string[pre_len:-suf_len]
            elif pre_len:
                prefixes.append(string[:pre_len])
                string = string[pre_len:]
            elif suf_len:
                suffixes.append(string[-suf_len:])
                string = string[:-suf_len]
        return string

    def _attach(self, string: str, specials: bool) -> list[str]:
        if not string:
            return []
        if specials and string in self.specials:
            return self.specials[string]
        if self._token_match(string) or self._url_match(string):
            return [string]
        tokens: list[str] = []
        start = 0
        for match in self._infix(string):
            infix_start, infix_end = match.start(), match.end()
            if infix_start == 0:
                continue  # spaCy skips an infix at the very start
            if infix_start != start:
                tokens.append(string[start:infix_start])
            if infix_start != infix_end:
                tokens.append(string[infix_start:infix_end])
            start = infix_end
        if string[start:]:
            tokens.append(string[start:])
        return tokens

    def _apply_phrases(self, text: str, tokens: list[str]) -> list[str]:
        """``Tokenizer._apply_special_cases``: runs of tokens that spell a special case which
        the affix rules split are replaced by its tokens, longest first, then leftmost."""
        matches = []
        for start in range(len(tokens)):
            if tokens[start] not in self._firsts:
                continue
            for size in range(1, min(self._longest, len(tokens) - start) + 1):
                key = self._phrases.get(tuple(tokens[start : start + size]))
                if key is not None:
                    matches.append((start, start + size))
        if not matches:
            return tokens
        matches.sort(key=lambda span: (-(span[1] - span[0]), span[0]))
        seen: set[int] = set()
        chosen = []
        for start, end in matches:
            if start not in seen and end - 1 not in seen:
                chosen.append((start, end))
            seen.update(range(start, end))
        spans = _token_spans(text, tokens)
        out: list[str] = []
        replaced = {start: end for start, end in chosen}
        i = 0
        while i < len(tokens):
            end = replaced.get(i)
            if end is not None:
                covered = text[spans[i][0] : spans[end - 1][1]]
                rule = self.specials.get(covered)
                if rule is not None:
                    out.extend(rule)
                    i = end
                    continue
            out.append(tokens[i])
            i += 1
        return out


def _token_spans(text: str, tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Character offsets of each token in ``text`` (tokens appear in order)."""
    spans, position = [], 0
    for token in tokens:
        start = text.find(token, position)
        start = position if start < 0 else start
        spans.append((start, start + len(token)))
        position = start + len(token)
    return spans


class BowFeatures:
    """Text → the weight-table rows and counts ``TextCatBOW.v3`` sums.

    ``rows(text)`` returns int64 row indices and float32 values, two rows per distinct n-gram
    key (orders 1..``ngram_size``), each with the key's count; an empty text has none.
    """

    def __init__(
        self,
        tokenize: Callable[[str], list[str]],
        *,
        ngram_size: int,
        length: int,
        symbols: Mapping[str, int],
    ):
        self.tokenize = tokenize
        self.ngram_size = int(ngram_size)
        self.length = np.uint32(length)
        self.symbols = {str(text): int(key) for text, key in symbols.items()}
        self._keys: dict[str, int] = dict(self.symbols)  # reserved strings keep their ids

    def keys(self, text: str) -> np.ndarray:
        """The unigram (ORTH) keys of ``text``'s tokens, uint64, in order."""
        cache = self._keys
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
            cache.update(self.symbols)
        unigrams = []
        for token in self.tokenize(text):
            key = cache.get(token)
            if key is None:
                key = cache[token] = string_key(token)
            unigrams.append(key)
        return np.asarray(unigrams, dtype=np.uint64)

    def counted(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The distinct n-gram keys of ``text`` (orders 1..``ngram_size``) and their counts,
        as spaCy's ``extract_ngrams`` computes them."""
        unigrams = self.keys(text)
        grams = [unigrams] + [ngram_keys(unigrams, n) for n in range(2, self.ngram_size + 1)]
        return np.unique(np.concatenate(grams), return_counts=True)

    def _rows(self, keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.concatenate(
            [murmurhash3_32(keys, 0) % self.length, murmurhash3_32(keys, 1) % self.length]
        ).astype(np.int64)
        return rows, np.concatenate([counts, counts]).astype(np.float32)

    def rows(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Row indices (int64) and values (float32) of ``text``: two rows per distinct key."""
        return self._rows(*self.counted(text))

    def batch_rows(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`rows` of each text, the hashing done once for the whole batch."""
        counted = [self.counted(text) for text in texts]
        if not counted:
            return []
        sizes = np.cumsum([len(keys) for keys, _ in counted])[:-1]
        rows, values = self._rows(
            np.concatenate([keys for keys, _ in counted]),
            np.concatenate([counts for _, counts in counted]),
        )
        half = len(rows) // 2
        first, second = np.split(rows[:half], sizes), np.split(rows[half:], sizes)
        counts = np.split(values[:half], sizes)
        return [
            (np.concatenate([a, b]), np.concatenate([c, c]))
            for a, b, c in zip(first, second, counts, strict=True)
        ]


def reader(tokenize: Callable[[str], list[str]], *, lowercase: bool) -> Callable[[str], list[str]]:
    """``tokenize``, on ``text.lower()`` when the model was trained on lower-cased texts."""
    if not lowercase:
        return tokenize
    return lambda text: tokenize(text.lower())


@contextlib.contextmanager
def preprocessor_spec(path: Path, form: str) -> Iterator[dict[str, Any]]:
    """The JSON of a spaCy export's preprocessor file of format ``form``; the file unreadable,
    of another format,
    or lacking what the block reads from it (missing keys, wrong types, a bad regex) raises
    ModelError naming the file."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        if spec.get("format") != form:
            raise ValueError(f"format {spec.get('format')!r}, expected {form}")
        yield spec
    except (*CORRUPT_FILE_ERRORS, KeyError, TypeError, ValueError, re.error) as exc:
        raise ModelError(
            f"the spaCy preprocessor {path} is unusable ({type(exc).__name__}: {exc}).",
            hint=f"re-export with `intently export {path.parent}`.",
        ) from None


def read_preprocessor(path: Path) -> BowFeatures:
    """The :class:`BowFeatures` of a ``spacy_bow`` export's ``spacy_bow.json``; ModelError
    when it is unreadable or of another format."""
    with preprocessor_spec(path, PREPROCESSOR_FORMAT) as spec:
        return BowFeatures(
            reader(SpacyTokenizer(spec["tokenizer"]), lowercase=bool(spec.get("lowercase"))),
            ngram_size=int(spec["ngram_size"]),
            length=int(spec["length"]),
            symbols=spec["symbols"],
        )


def spacy_bow_encoder(
    manifest: dict[str, Any], locate: Callable[[str], Path], batch_size: int
) -> Callable[[Sequence[str]], tuple[list[dict[str, np.ndarray]], np.ndarray]]:
    """Texts → ``rows``/``counts`` feeds of a ``spacy_bow`` graph, batches of similar length
    (the padding row is ``length``, with count 0)."""
    features = read_preprocessor(locate(manifest["preprocessor"]))
    pad = int(features.length)

    def encode(texts: Sequence[str]) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
        encoded = [features.rows(texts[0])] if len(texts) == 1 else features.batch_rows(texts)
        order = np.argsort([len(rows) for rows, _ in encoded], kind="stable")
        feeds = []
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            width = max(1, max(len(encoded[i][0]) for i in chosen))
            rows = np.full((len(chosen), width), pad, dtype=np.int64)
            counts = np.zeros((len(chosen), width), dtype=np.float32)
            for r, i in enumerate(chosen):
                found, values = encoded[i]
                rows[r, : len(found)] = found
                counts[r, : len(values)] = values
            feeds.append({"rows": rows, "counts": counts})
        return feeds, order

    return encode
