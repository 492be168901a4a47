"""Fitting TF-IDF n-gram spaces: vocabulary, IDF and the training matrix (SciPy).

The inference half (analyzers, vocabulary lookup, sublinear TF-IDF, margins) lives in
:mod:`intently.runtime.featurize`, which needs only NumPy; this module fits the
:class:`~intently.runtime.featurize.FeatureSpace` objects it uses and counts training texts
with the same code, so training and serving produce the same vectors by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from intently.runtime.featurize import ANALYZERS, FeatureSpace, Featurizer, token_char_ngrams


def count_matrix(space: FeatureSpace, texts: Sequence[str]) -> sparse.csr_matrix:
    """Raw counts of ``space``'s terms in ``texts`` as a (len(texts), space.size) matrix."""
    rows, columns, counts = Featurizer([space], [1.0]).count_entries(texts)
    return sparse.csr_matrix(
        (counts.astype(np.float32), (rows, columns)), shape=(len(texts), space.size)
    )


def fit_space(
    texts: Sequence[str], analyzer: str, ngram_range: tuple[int, int], *, min_df: int = 1
) -> tuple[FeatureSpace, sparse.csr_matrix]:
    """Fit vocabulary and IDF on ``texts``; also returns their normalised TF-IDF matrix.

    Same definitions as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``: smooth IDF
    ``ln((1 + n) / (1 + df)) + 1``, terms sorted alphabetically, ``min_df`` in documents.
    """
    low, high = ngram_range
    terms: set[str] = set()
    if analyzer == "char_wb":
        for token in {token for text in texts for token in text.lower().split()}:
            terms.update(token_char_ngrams(token, low, high))
    else:
        for text in texts:
            terms.update(ANALYZERS[analyzer](text, low, high))
    ordered = sorted(terms)
    draft = FeatureSpace(
        analyzer,
        (low, high),
        {t: i for i, t in enumerate(ordered)},
        np.ones(len(ordered), dtype=np.float32),
    )
    counts = count_matrix(draft, texts)
    df = np.bincount(counts.indices, minlength=len(ordered))
    keep = np.flatnonzero(df >= min_df)
    if len(keep) < len(ordered):
        counts = counts[:, keep].tocsr()
        df = df[keep]
        ordered = [ordered[i] for i in keep]
    idf = (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)
    space = FeatureSpace(analyzer, (low, high), {t: i for i, t in enumerate(ordered)}, idf)
    return space, tfidf(counts, idf)


def tfidf(counts: sparse.csr_matrix, idf: np.ndarray, weight: float = 1.0) -> sparse.csr_matrix:
    """Sublinear TF × IDF, each row scaled to L2 norm ``weight`` (empty rows stay empty)."""
    matrix = counts.astype(np.float32, copy=True)
    matrix.data = (1.0 + np.log(matrix.data)) * idf[matrix.indices]
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(weight, norms, out=np.zeros_like(norms), where=norms > 0)
    return (sparse.diags(scale.astype(np.float32)) @ matrix).tocsr()


def transform(featurizer: Featurizer, texts: Sequence[str]) -> sparse.csr_matrix:
    """The TF-IDF vectors of ``texts`` as a float32 (len(texts), n_features) matrix."""
    indptr, columns, values = featurizer.sparse_rows(texts)
    return sparse.csr_matrix(
        (values.astype(np.float32), columns, indptr), shape=(len(texts), featurizer.n_features)
    )
