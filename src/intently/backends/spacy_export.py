"""ONNX export of a spaCy ``TextCatBOW.v3`` textcat: the weight table as a graph, the
tokenizer rules as JSON for :mod:`intently.runtime.spacy_features`.

``TextCatBOW.v3`` is ``extract_ngrams(ORTH) >> SparseLinear_v2 >> softmax``: a text's score for
class c is ``b[c] + Σ count·(W[c·length + i0] + W[c·length + i1])`` over its distinct n-gram
keys, rows ``i0``/``i1`` hashed from each key. Rows no training key ever reached keep their
initial zeros (thinc initialises ``W`` to zero and no gradient reaches them), so the graph
stores only the rows in use, plus ``row_map`` from a hashed row to its stored one (unused
rows map to an all-zero row). The runtime hashes every token, seen or not, as spaCy does;
an unseen key lands on rows that are zero or shared with a seen key, as in spaCy.

Inputs ``rows`` (int64) and ``counts`` (float32), ``[batch, L]``: two entries per key,
padded with row ``length`` and count 0; the graph is the linear backend's
(:func:`~intently.backends.sparse_graph.save_rows_graph`) with ``row_map`` in front.

:func:`export_textcat` is the entry point: BOW here, the tok2vec architectures
(``TextCatCNN``, ``TextCatReduce``, the ensemble: ``HashEmbed`` over NORM/PREFIX/SUFFIX/SHAPE
features into maxout CNN layers) in :mod:`intently.backends.spacy_tok2vec_export`, anything
else refused with ExportUnsupportedError.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends.base import ONNX_OPSET, ONNX_OUTPUT
from intently.backends.sparse_graph import save_rows_graph
from intently.errors import ExportUnsupportedError
from intently.runtime.spacy_features import PREPROCESSOR_FORMAT

PREPROCESSOR_FILE = "spacy_bow.json"
BOW_ARCHITECTURES = ("spacy.TextCatBOW.v3",)


def _pattern(search: Any) -> dict[str, Any] | None:
    """A tokenizer regex method (``prefix_search``, ...) as ``{"pattern", "flags"}``."""
    compiled = getattr(search, "__self__", None)
    if search is None or compiled is None:
        return None
    return {"pattern": compiled.pattern, "flags": int(compiled.flags)}


def tokenizer_rules(tokenizer: Any, *, norms: bool = False) -> dict[str, Any]:
    """The rules of a spaCy ``Tokenizer`` as :class:`~intently.runtime.spacy_features.
    SpacyTokenizer` reads them (see docs/SPACY_ONNX.md); with ``norms``, also the NORM that
    special cases set on their pieces (``special_norms``: null where a piece has none)."""
    from spacy.attrs import NORM, ORTH

    specials = {
        key: [piece[ORTH] for piece in pieces] for key, pieces in sorted(tokenizer.rules.items())
    }
    extra: dict[str, Any] = {}
    if norms:
        extra["special_norms"] = {
            key: [piece.get(NORM) for piece in pieces]
            for key, pieces in sorted(tokenizer.rules.items())
            if any(NORM in piece for piece in pieces)
        }
    return extra | {
        "prefix": _pattern(tokenizer.prefix_search),
        "suffix": _pattern(tokenizer.suffix_search),
        "infix": _pattern(tokenizer.infix_finditer),
        "token_match": _pattern(tokenizer.token_match),
        "url_match": _pattern(tokenizer.url_match),
        "special_cases": specials,
        "faster_heuristics": bool(tokenizer.faster_heuristics),
    }


def bow_parts(model: Any, architecture: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(W as [length, n_labels], b, length, ngram_size)`` of a ``TextCatBOW.v3`` thinc
    ``model`` (a textcat's, or the ensemble's linear model); ExportUnsupportedError naming
    ``architecture`` when it is not a bag of ORTH n-grams into ``SparseLinear_v2``."""
    from spacy.attrs import ORTH

    linear = extract = None
    for node in model.walk():
        if node.name == "sparse_linear" and node.attrs.get("v1_indexing") is False:
            linear = node
        elif node.name == "extract_ngrams":
            extract = node
    if linear is None or extract is None or extract.attrs.get("attr") != ORTH:
        raise ExportUnsupportedError(
            f"the spaCy textcat model {architecture!r} is not a bag of ORTH n-grams into "
            "SparseLinear.v2; Intently exports only that.",
            hint="serve it with the native runtime (Classifier.load(..., runtime='native')).",
        )
    length = int(linear.get_dim("length"))
    n_labels = int(linear.get_dim("nO"))
    weights = np.asarray(linear.get_param("W"), dtype=np.float32).reshape(n_labels, length).T
    bias = np.asarray(linear.get_param("b"), dtype=np.float32)
    return weights, bias, length, int(extract.attrs["ngram_size"])


def bow_weights(textcat: Any) -> tuple[np.ndarray, np.ndarray, int, int]:
    """:func:`bow_parts` of a ``TextCatBOW.v3`` textcat."""
    return bow_parts(textcat.model, textcat.model.name)


def export_textcat(
    nlp: Any, component: str, classes: Sequence[str], directory: Path, *, lowercase: bool = False
) -> dict[str, Any]:
    """The ONNX export of the textcat ``component`` of ``nlp`` (columns in ``classes`` order):
    :func:`export_bow` for ``TextCatBOW.v3``, :func:`~intently.backends.spacy_tok2vec_export.
    export_tok2vec` for ``TextCatReduce``/``TextCatCNN``/``TextCatEnsemble``; ExportUnsupported
    Error naming any other architecture. ``lowercase``: the model reads ``text.lower()``."""
    from intently.backends.spacy_tok2vec_export import TOK2VEC_ARCHITECTURES, export_tok2vec

    architecture = nlp.config["components"][component]["model"]["@architectures"]
    if architecture in TOK2VEC_ARCHITECTURES:
        return export_tok2vec(nlp, component, classes, directory, lowercase=lowercase)
    if architecture not in BOW_ARCHITECTURES:
        raise ExportUnsupportedError(
            f"the spaCy textcat architecture {architecture!r} has no ONNX export: Intently "
            f"exports {', '.join(BOW_ARCHITECTURES + TOK2VEC_ARCHITECTURES)}.",
            hint="serve it with the native runtime (Classifier.load(..., runtime='native')), "
            "or train with architecture: bow, cnn, reduce or ensemble.",
        )
    return export_bow(nlp, component, classes, directory, lowercase=lowercase)


def export_bow(
    nlp: Any, component: str, classes: Sequence[str], directory: Path, *, lowercase: bool = False
) -> dict[str, Any]:
    """Write ``model.onnx`` and ``spacy_bow.json`` for the textcat ``component`` of ``nlp``
    (columns in ``classes`` order); the export description for ``onnx.json``.
    ``lowercase``: the model reads ``text.lower()`` (the preprocessor lower-cases first)."""
    import spacy
    from spacy.symbols import IDS

    textcat = nlp.get_pipe(component)
    architecture = nlp.config["components"][component]["model"]["@architectures"]
    if architecture not in BOW_ARCHITECTURES:  # the ensemble holds a BOW model too
        raise ExportUnsupportedError(
            f"the spaCy textcat architecture {architecture!r} is not a bag of n-grams: "
            f"export_bow exports only {', '.join(BOW_ARCHITECTURES)}; TextCatCNN, "
            "TextCatReduce and TextCatEnsemble go through export_textcat.",
            hint="call intently.backends.spacy_export.export_textcat.",
        )
    weights, bias, length, ngram_size = bow_weights(textcat)
    order = [list(textcat.labels).index(label) for label in classes]
    weights, bias = weights[:, order], bias[order]
    used = np.flatnonzero(np.any(weights != 0, axis=1))
    row_map = np.full(length + 1, len(used), dtype=np.int64)  # the padding row: length
    row_map[used] = np.arange(len(used))
    save_rows_graph(
        Path(directory),
        table=np.vstack([weights[used], np.zeros((1, len(classes)), np.float32)]),
        intercept=bias,
        row_map=row_map,
        inputs=("rows", "counts"),
        name="intently_spacy_bow",
        doc=f"spaCy TextCatBOW.v3: {len(used)} of {length} rows -> {len(classes)} classes",
    )
    preprocessor = {
        "format": PREPROCESSOR_FORMAT,
        "spacy_version": spacy.__version__,
        "ngram_size": ngram_size,
        "length": length,
        "tokenizer": tokenizer_rules(nlp.tokenizer),
        "symbols": dict(IDS),
        "lowercase": lowercase,
    }
    (Path(directory) / PREPROCESSOR_FILE).write_text(
        json.dumps(preprocessor, ensure_ascii=False), encoding="utf-8"
    )
    return {
        "kind": "spacy_bow",
        "inputs": ["rows", "counts"],
        "output": ONNX_OUTPUT,
        "opset": ONNX_OPSET,
        "preprocessor": PREPROCESSOR_FILE,
    }
