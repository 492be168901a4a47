import numpy as np
import pytest

from intently.runtime import featurize, linear_scores
from intently.runtime.featurize import FeatureSpace, Featurizer
from intently.runtime.linear_scores import LinearScorer

CORPUS = [
    "Where is my card?",
    "my card card card was stolen",
    "cancel the transfer, then transfer again",
    "café crème don't",
    "aaaa banana",
]
TEXTS = [
    *CORPUS,
    "  Where   is the   MONEY  ",
    "Zebra Z z Zz",
    "zzz qqq",
    "",
    "card card card card card card card card card card card card",
    "transferred the transfers; my card's banana",
]


def _space(analyzer: str, ngram_range: tuple[int, int]) -> FeatureSpace:
    """A space over CORPUS without every fourth term, with arbitrary positive IDF weights."""
    analyze = featurize.ANALYZERS[analyzer]
    grams = sorted({g for text in CORPUS for g in analyze(text, *ngram_range)})
    terms = [g for i, g in enumerate(grams) if i % 4]
    idf = (1.0 + np.arange(len(terms)) % 5 / 2.0).astype(np.float32)
    return FeatureSpace(analyzer, ngram_range, {t: j for j, t in enumerate(terms)}, idf)


@pytest.fixture(scope="module")
def linear() -> tuple[Featurizer, np.ndarray, np.ndarray]:
    featurizer = Featurizer([_space("word", (1, 2)), _space("char_wb", (2, 5))], (1.0, 0.8))
    rng = np.random.default_rng(0)
    coef = rng.standard_normal((featurizer.n_features, 4)).astype(np.float32)
    return featurizer, coef, rng.standard_normal(4)


def fresh(linear) -> LinearScorer:
    featurizer, coef, intercept = linear
    return LinearScorer(Featurizer(featurizer.spaces, featurizer.weights), coef, intercept)


def expected_margins(linear) -> np.ndarray:
    """The feature vectors (tested against the definition in test_featurize.py) times coef."""
    featurizer, coef, intercept = linear
    indptr, columns, values = featurizer.sparse_rows(TEXTS)
    dense = np.zeros((len(TEXTS), featurizer.n_features))
    dense[np.repeat(np.arange(len(TEXTS)), np.diff(indptr)), columns] = values
    return dense @ coef.astype(np.float64) + intercept


def test_margins_equal_the_product_of_the_feature_vectors(linear):
    expected = expected_margins(linear)
    scorer = fresh(linear)
    np.testing.assert_allclose(scorer.decision_function(TEXTS), expected, atol=1e-5)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(scorer.decision_function([text])[0], expected[i], atol=1e-5)


def test_margins_do_not_depend_on_what_was_scored_before(linear, monkeypatch):
    used = fresh(linear)
    used.decision_function(TEXTS[::-1][:5])
    used.decision_function([TEXTS[3]])
    monkeypatch.setattr(linear_scores, "_FEW", 0)  # new tokens' rows summed the padded way
    np.testing.assert_array_equal(
        used.decision_function(TEXTS), fresh(linear).decision_function(TEXTS)
    )


def test_cache_restarts_keep_answers_right(linear, monkeypatch):
    expected = expected_margins(linear)
    monkeypatch.setattr(featurize, "TOKEN_CACHE_LIMIT", 4)
    scorer = fresh(linear)
    for _ in range(2):  # texts one by one restart the cache often; a batch at most once
        for i, text in enumerate(TEXTS):
            np.testing.assert_allclose(scorer.decision_function([text])[0], expected[i], atol=1e-5)
        np.testing.assert_allclose(scorer.decision_function(TEXTS), expected, atol=1e-5)
    assert scorer.featurizer._cache.generation > 2


def test_batches_cut_into_chunks_give_the_same_margins(linear, monkeypatch):
    whole = fresh(linear).decision_function(TEXTS)
    monkeypatch.setattr(featurize, "_CHUNK_CHARS", 30)
    chunked = fresh(linear)
    assert len(list(chunked.featurizer._chunks(TEXTS))) > 3
    np.testing.assert_allclose(chunked.decision_function(TEXTS), whole, atol=1e-6)


def test_no_texts(linear):
    assert fresh(linear).decision_function([]).shape == (0, 4)


def test_shapes_are_checked(linear):
    featurizer, _, _ = linear
    with pytest.raises(ValueError, match="coefficients"):
        LinearScorer(featurizer, np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="intercept"):
        LinearScorer(featurizer, np.zeros((featurizer.n_features, 2)), np.zeros(3))


def test_threads_sharing_a_scorer_get_the_same_margins(linear, monkeypatch):
    """The server scores large batches in a thread pool while single texts run on the event
    loop: concurrent cache additions and restarts must not mix up rows."""
    import sys
    import threading

    texts = [f"{text} card{i} transfer{i % 7}" for i in range(40) for text in CORPUS]
    expected = fresh(linear).decision_function(texts)
    monkeypatch.setattr(featurize, "TOKEN_CACHE_LIMIT", 50)  # restarts, many new tokens
    scorer = fresh(linear)
    failures: list[str] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(20):
            order = rng.permutation(len(texts))[:40]
            try:
                got = scorer.decision_function([texts[i] for i in order])
                one = scorer.decision_function([texts[order[0]]])[0]
            except Exception as error:  # any error is the failure to report
                failures.append(repr(error))
                continue
            if not np.allclose(got, expected[order], atol=1e-5) or not np.allclose(
                one, expected[order[0]], atol=1e-5
            ):
                failures.append(f"wrong margins in thread {seed}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


def test_a_new_scorer_has_the_vocabulary_tokens_rows_ready(linear):
    scorer = fresh(linear)
    cache = scorer.featurizer._cache
    words = [term for term in scorer.featurizer.spaces[0].vocabulary if " " not in term]
    assert words and all(w in cache.row_of and f"{w}?" in cache.row_of for w in words)
    assert len(scorer._token_row[1][1]) == len(cache.tokens)


def test_softmax_of_one_row_equals_its_row_of_a_batch():
    scores = np.array([[1000.0, 999.0, -5.0], [0.5, 0.5, 0.5], [-3.0, 2.0, 1.0]])
    batch = linear_scores.softmax(scores)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0)
    np.testing.assert_allclose(batch[1], 1 / 3)
    for i, row in enumerate(scores):
        np.testing.assert_array_equal(linear_scores.softmax(scores[i : i + 1])[0], batch[i])
        np.testing.assert_array_equal(linear_scores.softmax(row), batch[i])
