"""The spaCy TextCatBOW ONNX export: the pure-Python preprocessor against spaCy itself, the
exported graph against ``nlp(text).cats``, and serving through ``Classifier.load``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tiny_project import LABELS, TEXTS, project_data

spacy = pytest.importorskip("spacy")

import intently  # noqa: E402
from intently.backends import make_backend  # noqa: E402
from intently.backends.spacy_export import tokenizer_rules  # noqa: E402
from intently.errors import ExportUnsupportedError, ModelError  # noqa: E402
from intently.export import export_backend  # noqa: E402
from intently.runtime.spacy_features import (  # noqa: E402
    PREPROCESSOR_FORMAT,
    SpacyTokenizer,
    murmurhash3_32,
    ngram_keys,
    read_preprocessor,
    string_key,
)

EDGE_STRINGS = [
    "",
    "a",
    "12345678",  # one 8-byte block, no tail
    "123456789",
    "ça va? 😀",
    "Straße",
    "\u00a0",
    "!!!",
    "x" * 100,
    "don't",
]
EDGE_TEXTS = [
    "",
    "don't stop!",
    "(don't)",
    "I'm here... really?!",
    "e.g. this, i.e. that",
    "U.S.A. and the U.K.",
    "$10.50 at 3:30pm",
    "see https://example.com/a?b=1 now",
    "mail x@y.com :) :-(",
    "co-operate re-enter 10,000 A/B",
    "ça va? 😀😀 “quoted” l'amour",
    "Mr. Smith's 5km run",
    "can't won't shouldn't've y'all",
    "hello,world;again:done",
]


def test_string_keys_are_spacys() -> None:
    strings = spacy.blank("en").vocab.strings
    assert [string_key(s) for s in EDGE_STRINGS] == [strings[s] for s in EDGE_STRINGS]


def test_ngram_and_row_hashes_are_thincs() -> None:
    from murmurhash import hash_bytes
    from thinc.api import NumpyOps

    keys = np.asarray([string_key(s) for s in EDGE_STRINGS[1:]], dtype=np.uint64)
    for n in (2, 3, 4):
        np.testing.assert_array_equal(ngram_keys(keys, n), NumpyOps().ngrams(n, keys))
    assert len(ngram_keys(keys[:1], 2)) == 0
    for seed in (0, 1):
        expected = [hash_bytes(int(k).to_bytes(8, "little"), seed) & 0xFFFFFFFF for k in keys]
        assert murmurhash3_32(keys, seed).tolist() == expected


def test_reserved_symbol_strings_keep_their_ids() -> None:
    from spacy.attrs import ORTH
    from spacy.symbols import IDS

    from intently.runtime.spacy_features import BowFeatures

    text = "order number ORTH 42"
    features = BowFeatures(str.split, ngram_size=1, length=1024, symbols=IDS)
    doc = spacy.blank("en")(text)
    assert features.keys(text).tolist() == doc.to_array([ORTH]).tolist()
    assert features.keys(text)[1] == IDS["number"]


def test_tokenizer_matches_spacy(spacy_nlp: Any) -> None:
    tokenizer = SpacyTokenizer(json.loads(json.dumps(tokenizer_rules(spacy_nlp.tokenizer))))
    for text in [*EDGE_TEXTS, *TEXTS]:
        assert tokenizer(text) == [t.text for t in spacy_nlp.make_doc(text)], text


def test_bow_export_answers_like_spacy(tmp_path: Path) -> None:
    params = {
        "max_epochs": 8,
        "batch_size": [8, 16],
        "length": 4096,
        "ngram_size": 2,
        "learn_rate": 0.05,
        "min_steps": 0,
    }
    model = make_backend("spacy", params, seed=5).fit(TEXTS, LABELS)
    model.save(tmp_path)
    probes = [*TEXTS, *EDGE_TEXTS[1:], "an unseen wording of nothing in particular"]
    # near-ties of a 50-example model may flip under int8; the fp32 graph must be exact
    report = export_backend(model, tmp_path, texts=probes, source="test", min_agreement=0.9)
    assert report.kind == "spacy_bow"
    assert report.parity.fp32.agreement == 1.0
    from intently.runtime.onnx_model import OnnxModel

    graph = OnnxModel.load(tmp_path)
    cats = [model.nlp_(text.lower()).cats for text in probes]  # bow reads lower case
    expected = np.asarray([[c[label] for label in model.classes_] for c in cats])
    np.testing.assert_allclose(graph.predict_proba(probes), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("architecture", "named"), [("cnn", "TextCatCNN"), ("ensemble", "TextCatEnsemble")]
)
def test_non_bow_architectures_refuse_by_name(
    architecture: str, named: str, tmp_path: Path
) -> None:
    from intently.backends.spacy_config import LoopSettings, build_config, textcat_model
    from intently.backends.spacy_export import export_bow

    model = textcat_model(architecture, width=16, embed_size=500)
    config = build_config(
        component="textcat", factory="textcat", model=model, settings=LoopSettings()
    )
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    with pytest.raises(ExportUnsupportedError, match=named):
        export_bow(nlp, "textcat", ("a", "b"), tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"length": 4096}, "spacy_bow"),
        (
            {"architecture": "reduce", "width": 16, "embed_size": 500, "length": 1024},
            "spacy_tok2vec",
        ),
    ],
)
def test_trained_project_serves_the_export(
    params: dict[str, object], kind: str, tmp_path: Path
) -> None:
    data = project_data()
    data["training"] = {
        "backend": "spacy",
        "params": {
            **params,
            "max_epochs": 8,
            "batch_size": [8, 16],
            "learn_rate": 0.05,
            "min_steps": 0,
        },
    }
    path = tmp_path / "intently.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    run = intently.train(intently.load_project(path), write_reports=False)
    assert run.export is not None and run.export.kind == kind
    served = intently.Classifier.load(run.model_dir)
    native = intently.Classifier.load(run.model_dir, runtime="native")
    assert served.runtime != "native"
    for text in ["where is my order", "hello there", "I want a refund"]:
        assert served.predict(text).label == native.predict(text).label


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "JSONDecodeError"),
        ('{"format": "intently.other.v1"}', "expected intently"),
        (f'{{"format": "{PREPROCESSOR_FORMAT}"}}', "KeyError"),
    ],
)
def test_an_unusable_preprocessor_file_is_a_model_error(
    content: str, why: str, tmp_path: Path
) -> None:
    path = tmp_path / "spacy_bow.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ModelError, match=f"{path}.*{why}"):
        read_preprocessor(path)
