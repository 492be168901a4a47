import numpy as np
import pytest
from scipy import sparse

from intently.backends.text_features import count_matrix, fit_space, transform
from intently.runtime.featurize import Featurizer, char_wb_ngrams, word_ngrams

TEXTS = [
    "Where is my card?",
    "my card card card was stolen",
    "I lost my card",
    "cancel the transfer",
    "transfer money to savings",
    "  Where   is the   MONEY  ",
    "café crème",
]


def test_word_ngrams_unigrams_and_bigrams():
    assert word_ngrams("Where is my card?", 1, 2) == [
        "where",
        "is",
        "my",
        "card",
        "where is",
        "is my",
        "my card",
    ]


def test_word_ngrams_bigrams_only_and_short_text():
    assert word_ngrams("Hello, big World", 2, 2) == ["hello big", "big world"]
    assert word_ngrams("hi", 1, 3) == ["hi"]
    assert word_ngrams("", 1, 2) == []
    assert word_ngrams("?!", 1, 2) == []


def test_word_ngrams_lowercases_unicode_words():
    assert word_ngrams("Café CRÈME", 1, 1) == ["café", "crème"]


def test_char_wb_ngrams_pad_each_word_with_spaces():
    assert char_wb_ngrams("ab cd", 2, 3) == [
        " a",
        "ab",
        "b ",
        " ab",
        "ab ",
        " c",
        "cd",
        "d ",
        " cd",
        "cd ",
    ]


def test_char_wb_ngrams_short_word_and_whitespace():
    # " a " has length 3: no 4- or 5-grams exist for it.
    assert char_wb_ngrams("A", 2, 5) == [" a", "a ", " a "]
    assert char_wb_ngrams("  A  \t ", 2, 5) == char_wb_ngrams("a", 2, 5)
    assert char_wb_ngrams("", 2, 5) == []


def _dense(matrix: sparse.spmatrix) -> np.ndarray:
    return np.asarray(matrix.todense())


@pytest.mark.parametrize(
    ("analyzer", "ngram_range", "min_df"),
    [("word", (1, 2), 1), ("char_wb", (2, 5), 1), ("word", (1, 1), 2), ("char_wb", (3, 4), 2)],
)
def test_runtime_vectors_equal_the_fitted_matrix_for_one_space(analyzer, ngram_range, min_df):
    space, matrix = fit_space(TEXTS, analyzer, ngram_range, min_df=min_df)
    featurizer = Featurizer([space], [1.0])
    assert featurizer.n_features == space.size == matrix.shape[1]
    np.testing.assert_allclose(
        _dense(transform(featurizer, TEXTS)), _dense(matrix), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("char_weight", [1.0, 0.5, 2.0])
def test_runtime_vectors_equal_the_weighted_concatenation_of_spaces(char_weight):
    word, word_matrix = fit_space(TEXTS, "word", (1, 2))
    char, char_matrix = fit_space(TEXTS, "char_wb", (2, 5))
    featurizer = Featurizer([word, char], [1.0, char_weight])
    expected = sparse.hstack([word_matrix, char_matrix * char_weight])
    assert featurizer.n_features == expected.shape[1]
    np.testing.assert_allclose(
        _dense(transform(featurizer, TEXTS)), _dense(expected), rtol=1e-5, atol=1e-5
    )


def test_fitted_spaces_are_scikit_learns_tfidf_feature_union():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    union = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b"),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    expected = union.fit_transform(TEXTS)
    word, _ = fit_space(TEXTS, "word", (1, 2))
    char, _ = fit_space(TEXTS, "char_wb", (2, 5))
    sklearn_vocabularies = [v.vocabulary_ for _, v in union.transformer_list]
    assert [word.vocabulary, char.vocabulary] == sklearn_vocabularies
    featurizer = Featurizer([word, char], [1.0, 1.0])
    unseen = ["my card was stolen again", "zzz"]
    np.testing.assert_allclose(
        _dense(transform(featurizer, TEXTS + unseen)),
        _dense(sparse.vstack([expected, union.transform(unseen)])),
        atol=1e-6,
    )


def test_count_matrix_counts_terms_per_text():
    space, _ = fit_space(TEXTS, "word", (1, 1))
    counts = _dense(count_matrix(space, ["card card lost", "", "nothing known here"]))
    assert counts[0, space.vocabulary["card"]] == 2
    assert counts[0, space.vocabulary["lost"]] == 1
    assert counts[0].sum() == 3
    assert counts[1:].sum() == 0


def test_each_space_is_l2_normalised_on_its_own():
    word, _ = fit_space(TEXTS, "word", (1, 2))
    char, _ = fit_space(TEXTS, "char_wb", (2, 5))
    weights = [1.0, 0.5]
    featurizer = Featurizer([word, char], weights)
    dense = _dense(transform(featurizer, [*TEXTS, "card transfer, unseen-word"]))
    offsets = featurizer.offsets
    for i, weight in enumerate(weights):
        block = dense[:, offsets[i] : offsets[i + 1]]
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), weight, rtol=1e-5)


def test_repeated_words_use_sublinear_term_frequency():
    space, _ = fit_space(["card", "card card card lost", "lost"], "word", (1, 1))
    featurizer = Featurizer([space], [1.0])
    card, lost = space.vocabulary["card"], space.vocabulary["lost"]
    expected = np.zeros(2)
    expected[card] = (1 + np.log(3)) * space.idf[card]
    expected[lost] = 1.0 * space.idf[lost]
    expected /= np.linalg.norm(expected)
    dense = _dense(transform(featurizer, ["card card card lost"]))
    np.testing.assert_allclose(dense[0], expected, rtol=1e-5)


def test_unknown_words_give_an_empty_row():
    word, _ = fit_space(TEXTS, "word", (1, 2))
    char, _ = fit_space(TEXTS, "char_wb", (2, 5))
    featurizer = Featurizer([word, char], [1.0, 1.0])
    unseen = "zzz qqq"  # neither word nor any character of it occurs in TEXTS
    columns, values = featurizer.sparse_row(unseen)
    assert len(columns) == len(values) == 0
    matrix = transform(featurizer, [unseen, "card", ""])
    assert matrix.shape == (3, featurizer.n_features)
    assert matrix[0].nnz == 0
    assert matrix[1].nnz > 0
    assert matrix[2].nnz == 0


def test_space_json_lists_terms_in_column_order():
    space, _ = fit_space(TEXTS, "word", (1, 1))
    data = space.to_json()
    assert data["analyzer"] == "word"
    assert data["ngram_range"] == [1, 1]
    assert [space.vocabulary[term] for term in data["terms"]] == list(range(space.size))
