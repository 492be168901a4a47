"""The zeroshot backend: descriptions (and examples) as anchors, or an NLI model.

The sentence encoder and the NLI model are tiny random BERTs (test_encoder.make_tiny_body):
these tests check the mechanics (scores, calibration, persistence, export), not accuracy;
bench/fewshot.py --zeroshot measures accuracy with the real encoder. No NLI weights exist
offline, so NLI accuracy is not measured anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_encoder import make_tiny_body  # noqa: E402

from intently.backends import make_backend  # noqa: E402
from intently.backends.zeroshot import ZeroShotBackend, label_phrase  # noqa: E402
from intently.backends.zeroshot_scoring import AnchorHead, fit_calibration  # noqa: E402
from intently.errors import ModelError, TrainingError  # noqa: E402

DESCRIPTIONS = {
    "greet": "the user says hello",
    "order": "the user asks where the order or parcel is",
    "refund": "the user wants money back",
}
EXAMPLES = {
    "greet": ["hello", "hi there", "good morning", "hey friend"],
    "order": ["where is my order", "track my parcel", "order status", "has it shipped"],
    "refund": ["I want a refund", "refund my money", "money back please", "charged twice"],
}
QUERIES = ["hello friend", "track my order", "refund me now", "good evening", "what"]


def _examples() -> tuple[list[str], list[str]]:
    texts = [t for ts in EXAMPLES.values() for t in ts]
    labels = [label for label, ts in EXAMPLES.items() for _ in ts]
    return texts, labels


@pytest.fixture(scope="module")
def body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_body(tmp_path_factory.mktemp("zeroshot-body") / "body")


@pytest.fixture(scope="module")
def nli_body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_body(tmp_path_factory.mktemp("nli-body") / "nli", nli=True, seed=1)


def _params(body: Path, **extra) -> dict:
    return {"model_path": str(body), "threads": 1, "descriptions": DESCRIPTIONS, **extra}


def _onnx_proba(directory: Path, texts: list[str]) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json"))
    rows = tokenizer.encode_batch(texts)
    feed = {
        "input_ids": np.array([r.ids for r in rows], dtype=np.int64),
        "attention_mask": np.array([r.attention_mask for r in rows], dtype=np.int64),
    }
    (proba,) = ort.InferenceSession(str(directory / "model.onnx")).run(["probabilities"], feed)
    return proba


# -- embedding mode ---------------------------------------------------------------------------


def test_descriptions_alone_make_a_classifier(body):
    model = make_backend("zeroshot", _params(body)).fit([], [])
    assert model.classes_ == ("greet", "order", "refund")
    assert model.get_params()["mode"] == "embedding" and model.mode_ == "embedding"
    proba = model.predict_proba(QUERIES)
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(model.thresholds_, 0.0)
    assert model.temperature_ == 0.05 and model.fit_info_["calibrated_on"] == 0


def test_a_description_is_its_own_best_match(body):
    model = make_backend("zeroshot", _params(body)).fit([], [])
    proba = model.predict_proba(list(DESCRIPTIONS.values()))
    assert [model.classes_[i] for i in proba.argmax(axis=1)] == list(DESCRIPTIONS)


def test_examples_become_anchors_and_calibrate(body):
    texts, labels = _examples()
    model = make_backend("zeroshot", _params(body)).fit(texts, labels)
    assert model.fit_info_["anchors"] == 3 + len(texts)
    assert model.fit_info_["calibrated_on"] == len(texts)
    assert np.any(model.thresholds_ != 0) and model.temperature_ != 0.05
    # a training text is an anchor of its own intent: it is recognised exactly
    predicted = [model.classes_[i] for i in model.predict_proba(texts).argmax(axis=1)]
    assert predicted == labels


def test_intents_without_description_are_described_by_name(body):
    texts, labels = _examples()
    model = make_backend(
        "zeroshot", _params(body, descriptions={"greet": "hello"}, use_examples=False)
    ).fit(texts, labels)
    assert model.fit_info_["described_by_name"] == ["order", "refund"]
    assert label_phrase("BookRestaurant") == "book restaurant"
    assert label_phrase("card_arrival") == "card arrival"


def test_fixed_temperature_and_no_thresholds(body):
    texts, labels = _examples()
    model = make_backend("zeroshot", _params(body, temperature=0.1, fit_thresholds=False)).fit(
        texts, labels
    )
    assert model.temperature_ == 0.1
    np.testing.assert_array_equal(model.thresholds_, 0.0)


def test_anchor_head_averages_the_top_k_per_intent():
    anchors = np.eye(4, dtype=np.float32)
    anchor_class = np.array([0, 0, 0, 1])
    head = AnchorHead(anchors, anchor_class, 2, top_k=2, thresholds=np.array([0.0, 0.5]))
    similarities = torch.tensor([[0.9, 0.1, 0.5, 0.7]])
    logits = head.logits(similarities).numpy()
    np.testing.assert_allclose(logits, [[(0.9 + 0.5) / 2, 0.7 - 0.5]], rtol=1e-6)
    # leave-one-out: an excluded anchor is skipped, never averaged in
    excluded = torch.tensor([[0.9, -1e4, -1e4, 0.7]])
    np.testing.assert_allclose(head.logits(excluded).numpy(), [[0.9, 0.2]], rtol=1e-6)


def test_calibration_learns_a_bias_against_an_over_scored_intent():
    rng = np.random.default_rng(0)
    targets = np.repeat([0, 1], 50)
    scores = rng.normal(0, 0.05, (100, 2))
    scores[:, 1] += 0.1  # intent 1 always looks more similar
    scores[np.arange(100), targets] += 0.2
    thresholds, temperature = fit_calibration(
        scores,
        targets,
        np.ones(100),
        2,
        fit_thresholds=True,
        temperature=None,
        default_temperature=0.05,
    )
    assert thresholds[1] > thresholds[0] and 0 < temperature < 1


def test_round_trip_is_identical(tmp_path, body):
    texts, labels = _examples()
    model = make_backend("zeroshot", _params(body)).fit(texts, labels)
    model.save(tmp_path)
    state = json.loads((tmp_path / "zeroshot.json").read_text(encoding="utf-8"))
    assert state["mode"] == "embedding" and state["params"]["mode"] == "embedding"
    loaded = ZeroShotBackend.load(tmp_path)
    assert loaded.classes_ == model.classes_ and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(QUERIES), model.predict_proba(QUERIES))


def test_tampered_files_are_model_errors(tmp_path, body):
    model = make_backend("zeroshot", _params(body)).fit([], [])
    model.save(tmp_path)
    state_file = tmp_path / "zeroshot.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["classes"] = ["greet", "order"]
    state_file.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(ModelError, match="lists 2 labels but has"):
        ZeroShotBackend.load(tmp_path)
    state["format"] = "intently.zeroshot.v0"
    state_file.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(ModelError, match="unsupported zeroshot model format"):
        ZeroShotBackend.load(tmp_path)
    (tmp_path / "zeroshot_arrays.npz").unlink()
    with pytest.raises(ModelError, match="file missing"):
        ZeroShotBackend.load(tmp_path)


def test_export_onnx_matches_predict_proba(tmp_path, body):
    texts, labels = _examples()
    model = make_backend("zeroshot", _params(body)).fit(texts, labels)
    description = model.export_onnx(tmp_path)
    assert description["kind"] == "encoder" and description["inputs"] == [
        "input_ids",
        "attention_mask",
    ]
    np.testing.assert_allclose(
        _onnx_proba(tmp_path, QUERIES), model.predict_proba(QUERIES), atol=1e-4
    )


def test_validation_probabilities(body):
    texts, labels = _examples()
    model = make_backend("zeroshot", _params(body)).fit(
        texts, labels, valid=(["hi", "refund"], ["greet", "refund"])
    )
    assert model.validation_proba_ is not None and model.validation_proba_.shape == (2, 3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"descriptions": {"greet": ""}}, "'descriptions' parameter"),
        ({"descriptions": ["greet"]}, "'descriptions' parameter"),
        ({"top_k": 0}, "'top_k' parameter"),
        ({"temperature": 0}, "'temperature' parameter"),
        ({"hypothesis_template": "about"}, "'hypothesis_template' parameter"),
        ({"mode": "magic"}, "'mode' parameter"),
        ({"mode": "nli"}, "nli mode needs nli_model_path"),
    ],
)
def test_invalid_parameters(body, params, message):
    with pytest.raises(TrainingError, match=message):
        make_backend("zeroshot", _params(body, **params)).fit([], [])


def test_fewer_than_two_intents(body):
    with pytest.raises(TrainingError, match="at least two labels"):
        make_backend("zeroshot", _params(body, descriptions={"greet": "hello"})).fit([], [])


def test_missing_model_folder(tmp_path):
    with pytest.raises(TrainingError, match="does not exist"):
        make_backend("zeroshot", _params(tmp_path / "nowhere")).fit([], [])


def test_pipeline_model_loads_as_zeroshot(make_project, body):
    import intently
    from intently.registry import read_version
    from intently.runtime import Classifier

    path = make_project(training={"backend": "zeroshot", "params": _params(body), "seed": 13})
    run = intently.train(intently.load_project(path), write_reports=False)
    version = read_version(run.model_dir)
    assert version.backend == "zeroshot" and version.params["mode"] == "embedding"
    classifier = Classifier.load(run.model_dir, runtime="native")
    assert isinstance(classifier.model, ZeroShotBackend)
    assert classifier.predict("hello").label in classifier.labels


# -- NLI mode ---------------------------------------------------------------------------------


def test_nli_mode_scores_pairs_like_the_tokenizer(nli_body):
    import tokenizers
    from transformers import AutoModelForSequenceClassification

    model = make_backend("zeroshot", _params(nli_body, nli_model_path=str(nli_body))).fit([], [])
    assert model.mode_ == "nli" and model.get_params()["mode"] == "nli"
    scores = model.decision_function(QUERIES)
    # reference: each (query, hypothesis) pair tokenized as a pair and classified one by one
    tokenizer = tokenizers.Tokenizer.from_file(str(nli_body / "tokenizer.json"))
    reference = AutoModelForSequenceClassification.from_pretrained(str(nli_body)).eval()
    hypotheses = [f"This text is about {DESCRIPTIONS[c]}." for c in model.classes_]
    expected = np.zeros_like(scores)
    with torch.inference_mode():
        for i, query in enumerate(QUERIES):
            for j, hypothesis in enumerate(hypotheses):
                pair = tokenizer.encode(query, hypothesis)
                logits = reference(
                    input_ids=torch.tensor([pair.ids]),
                    attention_mask=torch.tensor([pair.attention_mask]),
                    token_type_ids=torch.tensor([pair.type_ids]),
                ).logits
                expected[i, j] = float(logits[0, 0])  # id2label[0] == "entailment"
    np.testing.assert_allclose(scores, expected, atol=1e-4)


def test_nli_round_trip_and_export(tmp_path, nli_body):
    texts, labels = _examples()
    model = make_backend("zeroshot", _params(nli_body, nli_model_path=str(nli_body))).fit(
        texts, labels
    )
    assert model.fit_info_["calibrated_on"] == len(texts)
    model.save(tmp_path)
    loaded = ZeroShotBackend.load(tmp_path)
    assert loaded.mode_ == "nli"
    np.testing.assert_array_equal(loaded.predict_proba(QUERIES), model.predict_proba(QUERIES))
    export = tmp_path / "onnx"
    model.export_onnx(export)
    np.testing.assert_allclose(
        _onnx_proba(export, QUERIES), model.predict_proba(QUERIES), atol=1e-4
    )


def test_nli_model_without_entailment_label(tmp_path, nli_body):
    import shutil

    copy = tmp_path / "nli"
    shutil.copytree(nli_body, copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["id2label"] = {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(TrainingError, match="no single 'entailment' label"):
        make_backend("zeroshot", _params(copy, nli_model_path=str(copy))).fit([], [])


def test_pipeline_passes_the_intent_descriptions_of_the_project(make_project, body):
    import intently
    from intently.registry import read_version

    texts = {
        "greeting": ["hello", "hi there", "good morning", "hey friend", "hello again", "hiya"],
        "order_status": [
            "where is my order",
            "track my parcel",
            "order status",
            "has my order shipped",
            "when will my package arrive",
            "delivery status",
        ],
    }
    agent = {
        "id": "shop",
        "intents": [
            {
                "name": "greeting",
                "description": "the user says hello",
                "variations": texts["greeting"],
            },
            {
                "name": "order_status",
                "description": "where an order is",
                "variations": texts["order_status"],
            },
        ],
    }
    params = {k: v for k, v in _params(body).items() if k != "descriptions"}
    path = make_project(agents=[agent], training={"backend": "zeroshot", "params": params})
    run = intently.train(intently.load_project(path), write_reports=False)
    assert read_version(run.model_dir).params["descriptions"] == {
        "greeting": "the user says hello",
        "order_status": "where an order is",
    }
    assert "fit_info" in read_version(run.model_dir).extra
