import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from intently.runtime import featurize
from intently.runtime.featurize import (
    FeatureSpace,
    Featurizer,
    LinearScorer,
    char_wb_ngrams,
    word_ngrams,
)

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


def dense(featurizer: Featurizer, texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), featurizer.n_features))
    for i, text in enumerate(texts):
        for j, v in reference(featurizer, text).items():
            out[i, j] = v
    return out


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


@pytest.fixture(scope="module")
def linear(spaces) -> tuple[Featurizer, np.ndarray, np.ndarray]:
    featurizer = Featurizer(spaces, (1.0, 0.8))
    rng = np.random.default_rng(0)
    coef = rng.standard_normal((featurizer.n_features, 4)).astype(np.float32)
    return featurizer, coef, rng.standard_normal(4)


def test_margins_equal_the_dense_product(linear):
    featurizer, coef, intercept = linear
    scorer = LinearScorer(featurizer, coef, intercept)
    expected = dense(featurizer, TEXTS) @ coef.astype(np.float64) + intercept
    np.testing.assert_allclose(scorer.decision_function(TEXTS), expected, atol=1e-5)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(scorer.decision_function([text])[0], expected[i], atol=1e-5)


def test_margins_do_not_depend_on_what_was_scored_before(linear):
    featurizer, coef, intercept = linear
    fresh = LinearScorer(Featurizer(featurizer.spaces, featurizer.weights), coef, intercept)
    used = LinearScorer(Featurizer(featurizer.spaces, featurizer.weights), coef, intercept)
    used.decision_function(TEXTS[::-1][:5])
    used.decision_function([TEXTS[3]])
    np.testing.assert_array_equal(used.decision_function(TEXTS), fresh.decision_function(TEXTS))


def test_cache_restarts_keep_answers_right(linear, monkeypatch):
    featurizer, coef, intercept = linear
    expected = dense(featurizer, TEXTS) @ coef.astype(np.float64) + intercept
    monkeypatch.setattr(featurize, "TOKEN_CACHE_LIMIT", 4)
    small = Featurizer(featurizer.spaces, featurizer.weights)
    scorer = LinearScorer(small, coef, intercept)
    for _ in range(2):  # texts one by one restart the cache often; a batch at most once
        for i, text in enumerate(TEXTS):
            np.testing.assert_allclose(scorer.decision_function([text])[0], expected[i], atol=1e-5)
        np.testing.assert_allclose(scorer.decision_function(TEXTS), expected, atol=1e-5)
    assert small._cache.generation > 2
    np.testing.assert_allclose(small.sparse_rows(TEXTS)[2], featurizer.sparse_rows(TEXTS)[2])


def test_batches_are_cut_into_chunks_without_changing_answers(linear, monkeypatch):
    featurizer, coef, intercept = linear
    whole = LinearScorer(featurizer, coef, intercept).decision_function(TEXTS)
    monkeypatch.setattr(featurize, "_CHUNK_CHARS", 30)
    chunked = Featurizer(featurizer.spaces, featurizer.weights)
    assert len(list(chunked._chunks(TEXTS))) > 3
    np.testing.assert_allclose(
        LinearScorer(chunked, coef, intercept).decision_function(TEXTS), whole, atol=1e-6
    )
    indptr, columns, values = chunked.sparse_rows(TEXTS)
    expected = featurizer.sparse_rows(TEXTS)
    np.testing.assert_array_equal(indptr, expected[0])
    np.testing.assert_array_equal(columns, expected[1])
    np.testing.assert_allclose(values, expected[2], rtol=1e-12)


def test_no_texts(linear):
    featurizer, coef, intercept = linear
    assert LinearScorer(featurizer, coef, intercept).decision_function([]).shape == (0, 4)
    indptr, columns, values = featurizer.sparse_rows([])
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


def test_scorer_checks_shapes(spaces):
    featurizer = Featurizer(spaces, (1.0, 1.0))
    with pytest.raises(ValueError, match="coefficients"):
        LinearScorer(featurizer, np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="intercept"):
        LinearScorer(featurizer, np.zeros((featurizer.n_features, 2)), np.zeros(3))


def test_the_module_imports_numpy_only():
    code = (
        "import sys, intently.runtime.featurize; "
        "print(sorted(m for m in ('scipy', 'sklearn', 'torch', 'pydantic', 'yaml') "
        "if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
