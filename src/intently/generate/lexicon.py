"""Synonyms for augmentation: WordNet 3.0 read offline when installed, else a bundled list.

The WordNet reader reads the Debian ``wordnet-base`` files (``index.<pos>`` and
``data.<pos>`` in ``/usr/share/wordnet``) directly: the index is loaded once, synsets are
read by seeking to their byte offset, and results are cached, so no NLTK is needed.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Literal, Protocol

from intently.errors import GenerationError

WORDNET_DIRS = (Path("/usr/share/wordnet"),)
"""Where Debian's ``wordnet-base`` puts the database; ``$WNSEARCHDIR`` is tried first."""
POS = ("noun", "verb", "adj", "adv")
BUNDLED = "synonyms.tsv"

LexiconChoice = Literal["auto", "wordnet", "bundled", "embedding"]
"""``embedding`` (encoder neighbours) is built by ``augment`` from
:mod:`intently.generate.neighbours`; :func:`get_lexicon` serves the other three."""


class Lexicon(Protocol):
    name: str

    def synonyms(self, word: str) -> tuple[str, ...]:
        """Lower-case synonyms of ``word`` (never ``word`` itself), most common sense first."""
        ...


class BundledLexicon:
    """The small hand-written list shipped with Intently (assistant, banking and support
    vocabulary), used when WordNet is not installed."""

    name = "bundled"

    def __init__(self, table: Mapping[str, tuple[str, ...]]):
        self._table = table

    def synonyms(self, word: str) -> tuple[str, ...]:
        return self._table.get(word.lower(), ())


class CachedLexicon:
    """A lexicon whose look-up is costly: each lower-cased word is looked up once."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, ...]] = {}

    def synonyms(self, word: str) -> tuple[str, ...]:
        key = word.lower()
        if key not in self._cache:
            self._cache[key] = self._lookup(key)
        return self._cache[key]

    def _lookup(self, word: str) -> tuple[str, ...]:
        raise NotImplementedError


class WordNet(CachedLexicon):
    """Synonyms from the first ``senses`` synsets of each part of speech of a word."""

    name = "wordnet"

    def __init__(self, folder: Path, *, senses: int = 1):
        super().__init__()
        self.folder = folder
        self.senses = senses
        self._index = {pos: _read_index(folder / f"index.{pos}") for pos in POS}

    def _lookup(self, word: str) -> tuple[str, ...]:
        lemma = word.replace(" ", "_")
        found: dict[str, None] = {}
        for pos in POS:
            for offset in self._index[pos].get(lemma, ())[: self.senses]:
                for other in self._synset_words(pos, offset):
                    if other != word:
                        found[other] = None
        return tuple(found)

    def _synset_words(self, pos: str, offset: int) -> list[str]:
        with (self.folder / f"data.{pos}").open("rb") as handle:
            handle.seek(offset)
            fields = handle.readline().decode("utf-8").split()
        # offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] p_cnt ...
        count = int(fields[3], 16)
        words = fields[4 : 4 + 2 * count : 2]
        # Adjectives may carry a syntactic marker: "galore(ip)".
        return [w.split("(")[0].replace("_", " ").lower() for w in words]


def _read_index(path: Path) -> dict[str, tuple[int, ...]]:
    """lemma → synset offsets, most frequent sense first, from one ``index.<pos>`` file."""
    index: dict[str, tuple[int, ...]] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(" "):  # the licence header lines start with two spaces
                continue
            fields = line.split()
            # lemma pos synset_cnt p_cnt [ptr_symbol ...] sense_cnt tagsense_cnt offsets...
            synsets, pointers = int(fields[2]), int(fields[3])
            index[fields[0]] = tuple(int(o) for o in fields[6 + pointers : 6 + pointers + synsets])
    return index


def wordnet_folder() -> Path | None:
    """The first folder holding a WordNet database, or None when WordNet is not installed."""
    candidates = [Path(p) for p in [os.environ.get("WNSEARCHDIR")] if p] + list(WORDNET_DIRS)
    for folder in candidates:
        if all((folder / f"{kind}.{pos}").is_file() for kind in ("index", "data") for pos in POS):
            return folder
    return None


@functools.cache
def load_wordnet(folder: Path) -> WordNet:
    """The WordNet in ``folder``, read once per process (the index takes about a second)."""
    return WordNet(folder)


@functools.cache
def bundled_lexicon() -> BundledLexicon:
    text = resources.files("intently.generate").joinpath(BUNDLED).read_text(encoding="utf-8")
    table: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            word, synonyms = line.split("\t")
            table[word.strip()] = tuple(s.strip() for s in synonyms.split("|") if s.strip())
    return BundledLexicon(table)


def get_lexicon(choice: LexiconChoice = "auto") -> Lexicon:
    """WordNet when installed (``auto``) or demanded (``wordnet``), else the bundled list
    (also for ``embedding``, whose caller uses this as the fallback without an encoder)."""
    if choice == "bundled":
        return bundled_lexicon()
    folder = wordnet_folder()
    if folder is not None:
        return load_wordnet(folder)
    if choice == "wordnet":
        raise GenerationError(
            "lexicon: wordnet was asked for, but no WordNet database was found in "
            f"{', '.join(str(d) for d in WORDNET_DIRS)} or $WNSEARCHDIR.",
            hint="install it (`apt-get install wordnet-base`) or use lexicon: auto / bundled.",
        )
    return bundled_lexicon()
