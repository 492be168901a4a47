"""The ONNX export of spaCy's tok2vec textcats (``reduce``, ``cnn``, ``ensemble``): the
pure-Python token features against spaCy's own, the graph against ``nlp(text).cats``, serving
through ``Classifier.load``, and refusals of what the export cannot reproduce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tiny_project import LABELS, TEXTS

spacy = pytest.importorskip("spacy")

from intently.backends import make_backend  # noqa: E402
from intently.backends.spacy_config import LoopSettings, build_config, textcat_model  # noqa: E402
from intently.backends.spacy_export import export_textcat, tokenizer_rules  # noqa: E402
from intently.backends.spacy_tok2vec_export import norm_exceptions, read_tok2vec_model  # noqa: E402
from intently.errors import ExportUnsupportedError  # noqa: E402
from intently.export import export_backend  # noqa: E402
from intently.runtime.onnx_model import OnnxModel  # noqa: E402
from intently.runtime.spacy_features import SpacyTokenizer, string_key  # noqa: E402
from intently.runtime.spacy_tok2vec import (  # noqa: E402
    Tok2VecFeatures,
    murmurhash3_128,
    read_tok2vec_preprocessor,
    word_shape,
)

EDGE_TEXTS = [
    "don't stop!",
    "I'm here... really?!",
    "$10.50 at 3:30pm — €5 or £3",
    "ça va? 😀😀 “quoted” l'amour",
    "can't won't shouldn't've y'all",
    "Mr. Smith's 5km run -- ok",
    "NUMBER number ORTH x X xxxx Xxxxx",
    "aaaaaaa AAAAAAAA 1234567 " + "y" * 120,
    "colour favourite Organise",
]
ATTRIBUTES = ["ORTH", "NORM", "LOWER", "PREFIX", "SUFFIX", "SHAPE"]
TINY = {
    "width": 16,
    "embed_size": 500,
    "length": 1024,
    "max_epochs": 8,
    "batch_size": [8, 16],
    "min_steps": 0,
}


def features_of(nlp: object) -> Tok2VecFeatures:
    """The preprocessor's token features for ``nlp``'s tokenizer and vocabulary (all
    attributes, one small table per attribute)."""
    from spacy.symbols import IDS

    rules = json.loads(json.dumps(tokenizer_rules(nlp.tokenizer, norms=True)))  # type: ignore[attr-defined]
    tables = [{"column": i, "seed": 8 + i, "rows": 97, "offset": 97 * i} for i in range(6)]
    return Tok2VecFeatures(
        SpacyTokenizer(rules),
        attributes=ATTRIBUTES,
        tables=tables,
        symbols=IDS,
        norm_exceptions=norm_exceptions(nlp.vocab, "test"),  # type: ignore[attr-defined]
    )


def run_graph(directory: Path, texts: list[str]) -> np.ndarray:
    """Probabilities of the ``model.onnx`` that ``export_textcat`` wrote in ``directory``."""
    import onnxruntime as ort

    from intently.runtime.spacy_tok2vec import spacy_tok2vec_encoder

    session = ort.InferenceSession(str(directory / "model.onnx"))
    encode = spacy_tok2vec_encoder(
        {"preprocessor": "spacy_tok2vec.json"}, lambda name: directory / name, 16
    )
    feeds, order = encode(texts)
    out = np.zeros((len(texts), session.get_outputs()[0].shape[-1]))
    start = 0
    for feed in feeds:
        (proba,) = session.run(["probabilities"], feed)
        out[order[start : start + len(proba)]] = proba
        start += len(proba)
    return out


def test_row_hash_is_thincs() -> None:
    from thinc.api import NumpyOps

    keys = np.asarray(
        [string_key(s) for s in ["a", "hello", "Xxxx", "12345678"]] + [0, 1, 2**64 - 1],
        dtype=np.uint64,
    )
    for seed in (0, 8, 12, 2**31 + 5):
        np.testing.assert_array_equal(murmurhash3_128(keys, seed), NumpyOps().hash(keys, seed))


def test_word_shape_is_spacys() -> None:
    from spacy.lang.lex_attrs import word_shape as spacy_shape

    for text in [*EDGE_TEXTS, "Ünïcödé", "x" * 99, "x" * 100, "ABCDE12345fghij", "٣٤٥"]:
        assert word_shape(text) == spacy_shape(text), text


def test_token_attributes_are_spacys(spacy_nlp: Any) -> None:
    """NORM with the tokenizer exceptions' norms (n't → not), the language's norm exceptions
    (€ → $) and, for a trained pipeline, its ``lexeme_norm`` table (colour → color)."""
    from spacy.attrs import IDS

    features = features_of(spacy_nlp)
    columns = [IDS[name] for name in ATTRIBUTES]
    for text in [*EDGE_TEXTS, *TEXTS]:
        doc = spacy_nlp.make_doc(text)
        expected = doc.to_array(columns).astype(np.uint64).tolist()
        found = [features.attribute_keys(token) for token in features.tokenize(text)]
        assert found == expected, text
    norms = [features.attribute_keys(t)[1] for t in features.tokenize("don't pay €5")]
    assert norms[1] == string_key("not") and norms[3] == string_key("$")


def test_rows_are_hashembeds() -> None:
    """Each table's four rows per token are thinc's HashEmbed rows, offset into the stack."""
    from thinc.api import NumpyOps

    features = features_of(spacy.blank("en"))
    text = "Where is my refund, please?"
    rows = features.rows(text)
    keys = np.asarray([features.attribute_keys(t) for t in features.tokenize(text)], np.uint64)
    for i in range(len(ATTRIBUTES)):
        expected = NumpyOps().hash(np.ascontiguousarray(keys[:, i]), 8 + i) % 97 + 97 * i
        np.testing.assert_array_equal(rows[:, 4 * i : 4 * i + 4], expected)
    assert features.rows("").shape == (0, 4 * len(ATTRIBUTES))


@pytest.mark.parametrize("architecture", ["reduce", "cnn", "ensemble"])
def test_export_answers_like_spacy(architecture: str, tmp_path: Path) -> None:
    # texts as they are, so that the capitals of EDGE_TEXTS reach SHAPE, PREFIX and SUFFIX
    params = {**TINY, "architecture": architecture, "learn_rate": 0.05, "lowercase": False}
    model = make_backend("spacy", params, seed=5).fit(TEXTS, LABELS)
    model.save(tmp_path)
    probes = [*TEXTS, *EDGE_TEXTS, "an unseen wording of nothing in particular"]
    # near-ties of a 50-example model may flip under int8; the fp32 graph must be exact
    report = export_backend(model, tmp_path, texts=probes, source="test", min_agreement=0.9)
    assert report.kind == "spacy_tok2vec"
    assert report.parity.fp32.agreement == 1.0
    cats = [model.nlp_(text).cats for text in probes]
    expected = np.asarray([[c[label] for label in model.classes_] for c in cats])
    assert len(set(expected.argmax(axis=1))) >= 3  # a model that tells the intents apart
    for batch_size in (1, 4, 64):  # padding to the longest text of a batch changes nothing
        graph = OnnxModel.load(tmp_path, batch_size=batch_size)
        np.testing.assert_allclose(graph.predict_proba(probes), expected, atol=1e-5)
    flipped = tmp_path / "flipped"  # the graph's columns follow the classes it is given
    flipped.mkdir()
    export_textcat(model.nlp_, model.component_, model.classes_[::-1], flipped)
    np.testing.assert_allclose(run_graph(flipped, probes), expected[:, ::-1], atol=1e-5)
    empty = graph.predict_proba([""])
    assert np.isfinite(empty).all()
    if architecture == "ensemble":  # spaCy's answer for an empty text among others
        cats = next(iter(model.nlp_.pipe(["", "hello"]))).cats
        np.testing.assert_allclose(empty[0], [cats[c] for c in model.classes_], atol=1e-5)


def test_lowercase_preprocessor_reads_lower_cased_text(tmp_path: Path) -> None:
    config = build_config(
        component="textcat",
        factory="textcat",
        model=textcat_model("reduce", width=8, embed_size=100),
        settings=LoopSettings(),
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    nlp.get_pipe("textcat").add_label("a")
    nlp.get_pipe("textcat").add_label("b")
    nlp.initialize()
    export_textcat(nlp, "textcat", ("a", "b"), tmp_path, lowercase=True)
    features, bow, _ = read_tok2vec_preprocessor(tmp_path / "spacy_tok2vec.json")
    assert bow is None
    np.testing.assert_array_equal(features.rows("Card DECLINED"), features.rows("card declined"))


@pytest.mark.parametrize(
    ("tok2vec", "named"),
    [
        (
            {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": {
                    "@architectures": "spacy.CharacterEmbed.v2",
                    "width": 8,
                    "rows": 100,
                    "nM": 4,
                    "nC": 4,
                    "include_static_vectors": False,
                },
                "encode": {
                    "@architectures": "spacy.MaxoutWindowEncoder.v2",
                    "width": 8,
                    "window_size": 1,
                    "maxout_pieces": 3,
                    "depth": 1,
                },
            },
            "embedding uses",
        ),
        (
            {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": {
                    "@architectures": "spacy.MultiHashEmbed.v2",
                    "width": 8,
                    "rows": [100],
                    "attrs": ["NORM"],
                    "include_static_vectors": False,
                },
                "encode": {
                    "@architectures": "spacy.MishWindowEncoder.v2",
                    "width": 8,
                    "window_size": 1,
                    "depth": 1,
                },
            },
            "encoder uses",
        ),
    ],
)
def test_unfaithful_layers_are_refused_by_name(
    tok2vec: dict[str, object], named: str, tmp_path: Path
) -> None:
    model = textcat_model("reduce")
    model["tok2vec"] = tok2vec
    config = build_config(
        component="textcat", factory="textcat", model=model, settings=LoopSettings()
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    with pytest.raises(ExportUnsupportedError, match=f"TextCatReduce.*{named}"):
        export_textcat(nlp, "textcat", ("a", "b"), tmp_path)
    assert not list(tmp_path.iterdir())


def test_other_architectures_are_refused_by_name(tmp_path: Path) -> None:
    model = {
        "@architectures": "spacy.TextCatParametricAttention.v1",
        "exclusive_classes": True,
        "tok2vec": textcat_model("reduce")["tok2vec"],
    }
    config = build_config(
        component="textcat", factory="textcat", model=model, settings=LoopSettings()
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    with pytest.raises(ExportUnsupportedError, match="TextCatParametricAttention"):
        export_textcat(nlp, "textcat", ("a", "b"), tmp_path)


def test_norm_exceptions_keep_spacys_lookup_order() -> None:
    """``add_lookups`` wraps: the outer (last added) look-up answers first, as in spaCy."""
    from types import SimpleNamespace

    from spacy.attrs import NORM
    from spacy.lang.lex_attrs import lower
    from spacy.util import add_lookups

    getter = add_lookups(add_lookups(lower, {"Colour": "colour", "€": "$"}), {"Colour": "color"})
    vocab = SimpleNamespace(lex_attr_getters={NORM: getter})
    merged = norm_exceptions(vocab, "test")
    assert merged == {str(string_key("Colour")): "color", str(string_key("€")): "$"}
    assert getter("Colour") == "color"
    vocab.lex_attr_getters[NORM] = str.upper
    with pytest.raises(ExportUnsupportedError, match="NORM"):
        norm_exceptions(vocab, "test")


def test_a_textcat_listening_to_a_shared_tok2vec_exports_its_weights(tmp_path: Path) -> None:
    """What ``spacy init config --pipeline textcat --optimize accuracy`` writes (a ``tok2vec``
    component the ensemble listens to), shrunk to train in seconds, without the static vectors
    the export cannot reproduce (and this machine cannot download)."""
    from spacy.cli.init_config import init_config

    config = init_config(lang="en", pipeline=["textcat"], optimize="accuracy", gpu=False)
    config["paths"]["vectors"] = None
    config["initialize"]["vectors"] = None
    shared = config["components"]["tok2vec"]["model"]
    shared["embed"].update(include_static_vectors=False, rows=[300, 100, 200, 200], width=16)
    shared["encode"].update(width=16, depth=2)
    config["components"]["textcat"]["model"]["tok2vec"]["width"] = 16
    config["components"]["textcat"]["model"]["linear_model"]["length"] = 1024
    config["training"].update(max_steps=120, eval_frequency=40)
    path = tmp_path / "config.cfg"
    config.to_disk(path)
    model = make_backend("spacy", {"config": str(path)}, seed=5).fit(TEXTS, LABELS)
    assert model.nlp_.pipe_names == ["tok2vec", "textcat"]
    textcat = model.nlp_.get_pipe("textcat")
    assert "listener" in textcat.model.get_ref("tok2vec").name
    with pytest.raises(ExportUnsupportedError, match="listens to '\\*', not found"):
        read_tok2vec_model(textcat, model.architecture_)  # without the pipeline it listens in
    saved = tmp_path / "model"
    saved.mkdir()
    model.save(saved)
    probes = [*TEXTS, *EDGE_TEXTS]
    report = export_backend(model, saved, texts=probes, source="test", min_agreement=0.9)
    assert report.parity.fp32.agreement == 1.0
    cats = [model.nlp_(text).cats for text in probes]
    expected = np.asarray([[c[label] for label in model.classes_] for c in cats])
    assert len(set(expected.argmax(axis=1))) >= 3
    served = OnnxModel.load(saved, precision="fp32")
    np.testing.assert_allclose(served.predict_proba(probes), expected, atol=1e-5)
