import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from intently.runtime import featurize
from intently.runtime.featurize import FeatureSpace, Featurizer, char_wb_ngrams, word_ngrams

CORPUS = [
    "Where is my card?",
    "my card card card was stolen",
    "I lost my card",
    "cancel the transfer, then transfer again",
    "transfer money to savings",
    "café crème don't",
    "aaaa banana",
]
TEXTS = [
    *CORPUS,
    "  Where   is the   MONEY  ",  # whitespace runs, capitals
    "Zebra Z z Zz",  # the batch separator's letter, in both cases
    "zzz qqq",  # no known word; its char n-grams are mostly unknown
    "",
    " \t ",
    "card card card card card card card card card card card card",
    "transferred the transfers; my card's banana",
]


def _space(analyzer: str, ngram_range: tuple[int, int], drop_every: int) -> FeatureSpace:
    """A space over CORPUS with every ``drop_every``-th term left out (so some n-grams of a
    text are unknown) and arbitrary positive IDF weights."""
    grams = sorted(
        {g for text in CORPUS for g in featurize.ANALYZERS[analyzer](text, *ngram_range)}
    )
    terms = [g for i, g in enumerate(grams) if i % drop_every]
    idf = (1.0 + np.arange(len(terms)) % 7 / 3.0).astype(np.float32)
    return FeatureSpace(analyzer, ngram_range, {t: j for j, t in enumerate(terms)}, idf)


@pytest.fixture(scope="module")
def spaces() -> list[FeatureSpace]:
    return [_space("word", (1, 2), 5), _space("char_wb", (2, 5), 9)]


def reference(featurizer: Featurizer, text: str) -> dict[int, float]:
    """The definition, term by term: sublinear TF × IDF, each space L2-normalised and weighted."""
    vector: dict[int, float] = {}
    for space, offset, weight in zip(
        featurizer.spaces, featurizer.offsets, featurizer.weights, strict=False
    ):
        counts = Counter(g for g in space.grams(text) if g in space.vocabulary)
        values = {
            space.vocabulary[g]: (1 + math.log(c)) * float(space.idf[space.vocabulary[g]])
            for g, c in counts.items()
        }
        norm = math.sqrt(sum(v * v for v in values.values()))
        vector.update({offset + j: weight * v / norm for j, v in values.items()})
    return vector


def test_analyzers():
    assert word_ngrams("Where is my card?", 1, 2) == [
        *["where", "is", "my", "card"],
        *["where is", "is my", "my card"],
    ]
    assert word_ngrams("Don't stop", 1, 1) == ["don", "t", "stop"]
    assert char_wb_ngrams("A bc", 2, 3) == [" a", "a ", " a ", " b", "bc", "c ", " bc", "bc "]


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, 0.5)])
def test_sparse_rows_follow_the_definition(spaces, weights):
    featurizer = Featurizer(spaces, weights)
    indptr, columns, values = featurizer.sparse_rows(TEXTS)
    assert len(indptr) == len(TEXTS) + 1
    for i, text in enumerate(TEXTS):
        row = slice(indptr[i], indptr[i + 1])
        assert list(columns[row]) == sorted(columns[row])
        got = dict(zip(columns[row].tolist(), values[row].tolist(), strict=True))
        expected = reference(featurizer, text)
        assert got.keys() == expected.keys(), text
        assert all(abs(got[k] - expected[k]) < 1e-12 for k in got), text


def test_empty_and_unknown_texts_have_no_features(spaces):
    featurizer = Featurizer(spaces, (1.0, 1.0))
    indptr, _, _ = featurizer.sparse_rows(["", " \t ", "@@@ ###"])
    assert indptr.tolist() == [0, 0, 0, 0]
    columns, values = featurizer.sparse_row("")
    assert len(columns) == len(values) == 0


def test_sparse_row_equals_its_batch_row(spaces):
    featurizer = Featurizer(spaces, (1.0, 0.7))
    indptr, columns, values = featurizer.sparse_rows(TEXTS)
    for i, text in enumerate(TEXTS):
        one = dict(zip(*(part.tolist() for part in featurizer.sparse_row(text)), strict=True))
        row = slice(indptr[i], indptr[i + 1])
        batch = dict(zip(columns[row].tolist(), values[row].tolist(), strict=True))
        assert one.keys() == batch.keys()
        assert all(abs(one[k] - batch[k]) < 1e-12 for k in one)


def test_word_ngrams_of_any_length_are_found():
    space = _space("word", (2, 3), 4)  # no unigram terms: bigrams need token ids of their own
    featurizer = Featurizer([space], [1.0])
    indptr, columns, _ = featurizer.sparse_rows(TEXTS)
    for i, text in enumerate(TEXTS):
        assert set(columns[indptr[i] : indptr[i + 1]]) == set(reference(featurizer, text)), text


def test_cache_restarts_and_chunks_keep_vectors_right(spaces, monkeypatch):
    whole = Featurizer(spaces, (1.0, 1.0)).sparse_rows(TEXTS)
    monkeypatch.setattr(featurize, "TOKEN_CACHE_LIMIT", 4)
    monkeypatch.setattr(featurize, "_CHUNK_CHARS", 30)
    small = Featurizer(spaces, (1.0, 1.0))
    assert len(list(small._chunks(TEXTS))) > 3
    for _ in range(2):
        for text in TEXTS:
            small.sparse_row(text)
        indptr, columns, values = small.sparse_rows(TEXTS)
        np.testing.assert_array_equal(indptr, whole[0])
        np.testing.assert_array_equal(columns, whole[1])
        np.testing.assert_allclose(values, whole[2], rtol=1e-12)
    assert small._cache.generation > 2


def test_likely_tokens_are_words_and_contractions_then_punctuated_by_frequency():
    terms = {"card": 0, "my": 1, "don": 2, "don t": 3, "my card": 4, "t": 5}
    idf = np.array([1.5, 1.0, 3.0, 2.0, 1.2, 2.5], np.float32)
    featurizer = Featurizer([FeatureSpace("word", (1, 2), terms, idf)], [1.0])
    assert featurizer.likely_tokens(3) == ["my", "card", "don't"]
    tokens = featurizer.likely_tokens()
    assert tokens[:5] == ["my", "card", "don't", "t", "don"]
    assert tokens[5:9] == ["my?", "my.", "my,", "my!"] and len(tokens) == 25
    assert featurizer.likely_tokens(7)[5:] == ["my?", "my."]


def test_warm_caches_tokens_without_changing_vectors(spaces, monkeypatch):
    cold = Featurizer(spaces, (1.0, 0.7))
    warm = Featurizer(spaces, (1.0, 0.7))
    tokens = warm.likely_tokens()
    warm.warm(tokens)
    assert set(tokens) <= set(warm._cache.tokens)
    assert warm._cache.word_ids[0].size == len(warm._cache.tokens)
    for one, other in zip(warm.sparse_rows(TEXTS), cold.sparse_rows(TEXTS), strict=True):
        np.testing.assert_array_equal(one, other)
    monkeypatch.setattr(featurize, "TOKEN_CACHE_LIMIT", len(tokens) - 1)
    small = Featurizer(spaces, (1.0, 0.7))
    small.warm(tokens)  # more than the cache holds: left to traffic, no restart
    assert small._cache.generation == 0 and not small._cache.tokens


def test_no_texts(spaces):
    indptr, columns, values = Featurizer(spaces, (1.0, 1.0)).sparse_rows([])
    assert indptr.tolist() == [0] and len(columns) == len(values) == 0


def test_json_round_trip_and_mismatches(spaces):
    data = {"spaces": [s.to_json() for s in spaces], "space_weights": [1.0, 0.5]}
    arrays = {f"idf_{i}": s.idf for i, s in enumerate(spaces)}
    loaded = Featurizer.from_json(data, arrays)
    assert [s.vocabulary for s in loaded.spaces] == [s.vocabulary for s in spaces]
    with pytest.raises(ValueError, match="does not match"):
        Featurizer.from_json(data, {"idf_0": spaces[0].idf, "idf_1": spaces[0].idf})
    with pytest.raises(ValueError, match="space weights"):
        Featurizer.from_json(data | {"space_weights": [1.0]}, arrays)
    with pytest.raises(ValueError, match="analyzer"):
        FeatureSpace.from_json(data["spaces"][0] | {"analyzer": "bpe"}, spaces[0].idf)


def test_the_modules_import_numpy_only():
    code = (
        "import sys, intently.runtime.featurize, intently.runtime.linear_scores; "
        "print(sorted(m for m in ('scipy', 'sklearn', 'torch', 'pydantic', 'yaml') "
        "if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
