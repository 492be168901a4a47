"""The transformer backend: linear probe, then end-to-end fine-tuning with early stopping.

Fast tests use a tiny random BERT (see test_encoder.make_tiny_body); one slow test fine-tunes
the real all-MiniLM-L6-v2 for one epoch on a handful of texts.
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

from test_embedding import DATA, QUERIES, REAL_HELD_OUT, REAL_TRAIN  # noqa: E402
from test_encoder import make_tiny_body  # noqa: E402

from intently.backends import bodies, make_backend  # noqa: E402
from intently.backends import encoder as enc  # noqa: E402
from intently.backends.torch_loop import length_buckets  # noqa: E402
from intently.backends.transformer import TransformerBackend  # noqa: E402
from intently.errors import ModelError, TrainingError  # noqa: E402
from intently.evaluation.metrics import macro_f1  # noqa: E402
from intently.evaluation.selection import validation_folds  # noqa: E402


def _data() -> tuple[list[str], list[str]]:
    texts = [t for ts in DATA.values() for t in ts]
    labels = [label for label, ts in DATA.items() for _ in ts]
    return texts, labels


def _valid() -> tuple[list[str], list[str]]:
    return ["hello friend", "track my order", "refund me now"], ["greet", "order", "refund"]


@pytest.fixture(scope="module")
def body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_body(tmp_path_factory.mktemp("transformer-body") / "body")


def _params(body: Path, **extra) -> dict:
    return {"model_path": str(body), "threads": 1, "epochs": 3, "batch_size": 4, **extra}


@pytest.fixture(scope="module")
def tuned(body: Path) -> TransformerBackend:
    texts, labels = _data()
    return make_backend("transformer", _params(body)).fit(texts, labels, valid=_valid())


def test_registered_with_its_parameters(body):
    model = make_backend("transformer", {"lr": 3e-5}, seed=7)
    assert isinstance(model, TransformerBackend)
    assert model.get_params()["lr"] == 3e-5 and model.get_params()["seed"] == 7


def test_fit_predicts_probabilities_and_records_each_epoch(tuned):
    proba = tuned.predict_proba(QUERIES)
    assert proba.shape == (4, 3) and tuned.classes_ == ("greet", "order", "refund")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    info = tuned.fit_info_
    assert info["selection"] == "valid" and info["train_texts"] == 18
    assert 1 <= info["epochs_run"] <= 3 and len(info["history"]) == info["epochs_run"]
    assert all("loss" in e and "valid_macro_f1" in e for e in info["history"])
    assert tuned.validation_proba_ is not None and tuned.validation_proba_.shape == (3, 3)


def test_the_best_epoch_is_restored_and_patience_stops_training(body):
    texts, labels = _data()
    model = make_backend("transformer", _params(body, epochs=6, patience=0, lr=0.02))
    model.fit(texts, labels, valid=_valid())
    scores = [e["valid_macro_f1"] for e in model.fit_info_["history"]]
    best = int(np.argmax(scores)) + 1  # first best epoch
    assert model.fit_info_["best_epoch"] == best
    # patience 0: stop at the first epoch that does not improve on the best
    assert model.fit_info_["epochs_run"] == min(6, best + 1)
    valid_texts, valid_labels = _valid()
    restored = model.predict_proba(valid_texts).argmax(axis=1)
    target = np.searchsorted(model.classes_, valid_labels)
    assert macro_f1(target, restored) == pytest.approx(max(scores), abs=1e-4)


def test_validation_rows_come_from_epochs_chosen_on_the_other_rows(body):
    texts, labels = _data()
    model = make_backend("transformer", _params(body, epochs=4, patience=4, lr=0.02))
    model.fit(texts, labels, valid=_valid())
    info = model.fit_info_
    epochs = info["validation_epochs_by_fold"]
    assert len(epochs) == 3 and all(1 <= e <= info["epochs_run"] for e in epochs)
    fold = validation_folds(np.searchsorted(model.classes_, _valid()[1]), 3, seed=13)
    restored = model.predict_proba(_valid()[0])
    for f, epoch in enumerate(epochs):
        if epoch == info["best_epoch"]:  # the restored epoch predicts exactly these rows
            np.testing.assert_allclose(
                model.validation_proba_[fold == f], restored[fold == f], atol=1e-5
            )
    one = make_backend("transformer", _params(body, epochs=1)).fit(texts, labels, valid=_valid())
    assert one.fit_info_["validation_epochs_by_fold"] == [1, 1, 1]
    np.testing.assert_allclose(one.validation_proba_, one.predict_proba(_valid()[0]), atol=1e-5)


def test_same_seed_same_model_and_fine_tuning_moves_the_body(body, tuned):
    texts, labels = _data()
    again = make_backend("transformer", _params(body)).fit(texts, labels, valid=_valid())
    np.testing.assert_allclose(again.predict_proba(QUERIES), tuned.predict_proba(QUERIES))
    base = enc.SentenceEncoder.load(body)
    changed = [
        not torch.equal(a, b)
        for a, b in zip(
            base.model.state_dict().values(),
            tuned.encoder_.model.state_dict().values(),
            strict=True,
        )
    ]
    assert sum(changed) > len(changed) // 2  # the whole body trained, not just the head


def test_without_validation_data_a_stratified_share_is_held_out(body):
    texts, labels = _data()
    model = make_backend("transformer", _params(body, epochs=1, holdout=0.2)).fit(texts, labels)
    assert model.fit_info_["selection"] == "holdout 3 texts"
    assert model.fit_info_["train_texts"] == 15 and model.validation_proba_ is None


def test_length_buckets_cover_every_text_once_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=1000).tolist()
    batches = length_buckets(lengths, 8, np.random.default_rng(1))
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    spread = np.mean([np.ptp(np.asarray(lengths)[b]) for b in batches])
    assert spread < 5  # random batches of 8 would spread ~45 tokens
    again = length_buckets(lengths, 8, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_example_and_class_weights_change_the_model(body):
    texts, labels = _data()
    weights = np.array([5.0 if label == "refund" else 0.2 for label in labels])
    plain = make_backend("transformer", _params(body, epochs=1, holdout=0.0)).fit(texts, labels)
    weighted = make_backend("transformer", _params(body, epochs=1, holdout=0.0))
    weighted.fit(texts, labels, weights)
    refund = plain.classes_.index("refund")
    assert (
        weighted.predict_proba(QUERIES)[:, refund].mean()
        > plain.predict_proba(QUERIES)[:, refund].mean()
    )


def test_round_trip_saves_safetensors_and_never_unpickles(tmp_path, tuned, monkeypatch):
    tuned.save(tmp_path)
    assert (tmp_path / "transformer_body" / "model.safetensors").is_file()
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt"))

    def refuse(*_args, **_kwargs):
        raise AssertionError("loading a model must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = TransformerBackend.load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(QUERIES), tuned.predict_proba(QUERIES))
    assert loaded.fit_info_["best_epoch"] == tuned.fit_info_["best_epoch"]


def test_init_from_continues_training_a_saved_model(tmp_path, tuned):
    tuned.save(tmp_path / "previous")
    texts, labels = _data()
    extra_texts = [*texts, "refund it all", "greetings everyone"]
    extra_labels = [*labels, "refund", "greet"]
    params = {"init_from": str(tmp_path / "previous"), "threads": 1, "epochs": 1, "batch_size": 4}
    model = make_backend("transformer", params).fit(extra_texts, extra_labels, valid=_valid())
    assert model.fit_info_["initialised_from"] == str(tmp_path / "previous")
    assert model.classes_ == tuned.classes_


def test_init_from_with_a_different_label_set_is_refused(tmp_path, tuned):
    tuned.save(tmp_path / "previous")
    texts, labels = _data()
    labels = [("cancel" if label == "refund" else label) for label in labels]
    model = make_backend("transformer", {"init_from": str(tmp_path / "previous"), "epochs": 1})
    with pytest.raises(TrainingError, match="label set differs") as info:
        model.fit(texts, labels)
    assert "new: cancel; missing: refund" in info.value.message


def test_init_from_a_folder_that_is_not_a_transformer_model(tmp_path):
    texts, labels = _data()
    model = make_backend("transformer", {"init_from": str(tmp_path), "epochs": 1})
    with pytest.raises(TrainingError, match="not a usable transformer model"):
        model.fit(texts, labels)


def test_a_diverging_loss_stops_training_with_a_clear_error(body, monkeypatch):
    texts, labels = _data()
    real = torch.nn.functional.cross_entropy

    def nan_loss(*args, **kwargs):
        return real(*args, **kwargs) * float("nan")

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", nan_loss)
    with pytest.raises(TrainingError, match="diverged") as info:
        make_backend("transformer", _params(body, epochs=1)).fit(texts, labels)
    assert "lower lr" in (info.value.hint or "")


def test_truncated_texts_are_counted(body):
    texts, labels = _data()
    texts[0] = " ".join(["hello"] * 40)
    model = make_backend("transformer", _params(body, epochs=1, max_length=16))
    assert model.fit(texts, labels).fit_info_["truncated_texts"] == 1


def test_missing_or_damaged_files_are_model_errors(tmp_path, tuned):
    tuned.save(tmp_path / "ok")
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "ok", broken)
    (broken / "transformer_head.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="corrupt"):
        TransformerBackend.load(broken)
    (broken / "transformer_head.npz").unlink()
    with pytest.raises(ModelError, match="missing"):
        TransformerBackend.load(broken)
    wrong = tmp_path / "wrong"
    shutil.copytree(tmp_path / "ok", wrong)
    state = json.loads((wrong / "transformer.json").read_text(encoding="utf-8"))
    state["classes"] = ["a", "b"]
    (wrong / "transformer.json").write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(ModelError, match=r"need a \(2, 32\) head"):
        TransformerBackend.load(wrong)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"epochs": 0}, "'epochs'"),
        ({"lr": 2.0}, "'lr'"),
        ({"holdout": 0.7}, "'holdout'"),
        ({"class_weight": "equal"}, "'class_weight'"),
        ({"pooling": "sum"}, "'pooling'"),
    ],
)
def test_invalid_parameters(body, params, message):
    texts, labels = _data()
    with pytest.raises(TrainingError, match=message):
        make_backend("transformer", _params(body, **params)).fit(texts, labels)


def test_export_onnx_matches_predict_proba(tmp_path, tuned):
    ort = pytest.importorskip("onnxruntime")
    import tokenizers

    assert tuned.export_onnx(tmp_path)["kind"] == "encoder"
    tokenizer = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    rows = tokenizer.encode_batch(QUERIES)
    feed = {
        "input_ids": np.array([r.ids for r in rows], dtype=np.int64),
        "attention_mask": np.array([r.attention_mask for r in rows], dtype=np.int64),
    }
    (proba,) = ort.InferenceSession(str(tmp_path / "model.onnx")).run(["probabilities"], feed)
    np.testing.assert_allclose(proba, tuned.predict_proba(QUERIES), atol=1e-4)


def test_trains_exports_and_serves_through_the_pipeline(make_project, body):
    import intently
    from intently.runtime import Classifier

    path = make_project(
        training={"backend": "transformer", "params": _params(body, epochs=2), "seed": 13},
    )
    run = intently.train(intently.load_project(path), write_reports=False)
    native = Classifier.load(run.model_dir, runtime="native")
    assert isinstance(native.model, TransformerBackend)
    manifest = json.loads((run.model_dir / "onnx.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "encoder" and manifest["parity"]["fp32"]["agreement"] >= 0.995
    onnx = Classifier.load(run.model_dir, runtime="onnx", precision="int8")
    texts = ["where is my order", "hello there", "I want my money back"]
    assert [p.label for p in onnx.predict_batch(texts)] == [
        p.label for p in native.predict_batch(texts)
    ]


@pytest.mark.slow
def test_real_minilm_fine_tunes_in_a_few_steps():
    pytest.importorskip(bodies.BODY_PACKAGE)
    texts = [t for ts in REAL_TRAIN.values() for t in ts]
    labels = [label for label, ts in REAL_TRAIN.items() for _ in ts]
    model = make_backend("transformer", {"epochs": 1, "batch_size": 6, "holdout": 0.0})
    model.fit(texts, labels)
    assert model.fit_info_["epochs_run"] == 1
    held_texts = [t for t, _ in REAL_HELD_OUT]
    predicted = [model.classes_[i] for i in model.predict_proba(held_texts).argmax(axis=1)]
    accuracy = np.mean([p == t for p, (_, t) in zip(predicted, REAL_HELD_OUT, strict=True)])
    assert accuracy >= 8 / 9, list(zip(held_texts, predicted, strict=True))


def test_the_exported_graph_groups_nodes_by_layer_for_mixed_precision(tmp_path, tuned):
    from intently.export.quantize import EMBEDDINGS_GROUP, layer_nodes

    tuned.export_onnx(tmp_path)
    groups = layer_nodes(tmp_path / "model.onnx")
    assert sorted(groups) == [EMBEDDINGS_GROUP, 0, 1]  # the tiny body has two layers
    assert all("/layer.1/" in name for name in groups[1])
    assert any("word_embeddings" in name for name in groups[EMBEDDINGS_GROUP])


def test_finetune_continues_from_the_active_version(make_project, body):
    import intently
    from intently.deploy import validate_model
    from intently.registry import Registry, read_version

    path = make_project(
        training={"backend": "transformer", "params": _params(body, epochs=1), "seed": 13},
    )
    project = intently.load_project(path)
    with pytest.raises(TrainingError, match="none is active"):
        intently.train(project, write_reports=False, export=False, finetune=True)
    first = intently.train(project, write_reports=False, export=False)
    Registry(project.model_root()).deploy("intent", first.version.id, check=validate_model)
    second = intently.train(project, write_reports=False, export=False, finetune=True)
    params = read_version(second.model_dir).params
    assert params["init_from"] == str(first.model_dir)
    assert read_version(second.model_dir).extra["fit_info"]["initialised_from"] == str(
        first.model_dir
    )


def test_finetune_needs_the_transformer_backend(make_project):
    import intently

    project = intently.load_project(make_project())
    with pytest.raises(TrainingError, match="linear backend"):
        intently.train(project, write_reports=False, finetune=True)
