import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from intently import Classifier, InputError, ModelError, Prediction
from intently.runtime import MAX_TEXT_CHARS


@pytest.fixture(scope="module")
def classifier(trained_model_dir: Path) -> Classifier:
    return Classifier.load(trained_model_dir)


@pytest.fixture
def model_copy(trained_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the trained model directory that a test may damage."""
    target = tmp_path / trained_model_dir.name
    shutil.copytree(trained_model_dir, target)
    return target


def test_load_reads_labels_version_and_rule(classifier, trained_model_dir):
    assert classifier.labels == (
        "cancel_order",
        "goodbye",
        "greeting",
        "oos",
        "order_status",
        "refund",
    )
    assert classifier.version.id == trained_model_dir.name
    assert classifier.rule.label == "oos"
    assert 0.0 <= classifier.rule.threshold <= 1.0


def test_predict_returns_a_sorted_top_five_ranking(classifier, trained_model_dir):
    prediction = classifier.predict("I want to cancel my order")
    assert isinstance(prediction, Prediction)
    assert prediction.intent == "cancel_order"
    assert prediction.label == "cancel_order"
    assert prediction.fallback is False
    assert prediction.model_version == trained_model_dir.name
    assert len(prediction.ranking) == 5  # six labels, top five shown
    scores = [p for _, p in prediction.ranking]
    assert scores == sorted(scores, reverse=True)
    assert prediction.ranking[0] == ("cancel_order", prediction.confidence)
    assert len({label for label, _ in prediction.ranking}) == 5
    assert 0 < sum(scores) <= 1 + 1e-6


def test_prediction_to_dict_is_json_ready(classifier):
    data = classifier.predict("hello there").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {
        "label",
        "confidence",
        "ranking",
        "fallback",
        "intent",
        "model_version",
        "runtime",
        "precision",
    }
    assert data["ranking"][0] == {"label": data["intent"], "confidence": data["confidence"]}


def test_fallback_label_replaces_the_intent_when_the_rule_says_so(trained_model_dir):
    classifier = Classifier.load(trained_model_dir)
    strict = Classifier(
        classifier.model,
        classifier.version,
        type(classifier.rule)(label="oos", threshold=1.0),
    )
    prediction = strict.predict("where is my order")
    assert prediction.fallback is True
    assert prediction.label == "oos"
    assert prediction.intent == "order_status"


def test_predict_batch_matches_predict(classifier):
    texts = ["hello", "where is my order", "refund please", "bye"]
    batch = classifier.predict_batch(texts)
    assert [p.intent for p in batch] == ["greeting", "order_status", "refund", "goodbye"]
    for text, prediction in zip(texts, batch, strict=True):
        single = classifier.predict(text)
        assert single.label == prediction.label
        assert single.confidence == pytest.approx(prediction.confidence, abs=1e-6)
    assert classifier.predict_batch([]) == []


def test_text_is_normalised_before_prediction(classifier):
    clean = classifier.predict("where is my order")
    messy = classifier.predict("  WHERE\tis   my\u00a0order \x00")
    assert messy == clean


def test_predict_proba_rows_sum_to_one(classifier):
    proba = classifier.predict_proba(["hello", "cancel it"])
    assert proba.shape == (2, 6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "text is empty"),
        ("   \n\t ", "text is empty"),
        ("\x00\u200b\ufeff", "text is empty"),
        ("a" * 100_000, "100,000 characters; the limit is 10,000"),
        (42, "text must be a string, got int"),
        (None, "text must be a string, got NoneType"),
        (b"hello", "text must be a string, got bytes"),
    ],
    ids=["empty", "whitespace", "invisible", "100kB", "int", "None", "bytes"],
)
def test_unusable_text_is_an_input_error(classifier, text, match):
    with pytest.raises(InputError, match=match):
        classifier.predict(text)
    with pytest.raises(InputError, match=match):
        classifier.predict_batch(["hello", text])


def test_text_at_the_limit_is_accepted(classifier, trained_model_dir):
    assert classifier.predict("b" * MAX_TEXT_CHARS).model_version == trained_model_dir.name
    short = Classifier.load(trained_model_dir, max_text_chars=5)
    assert short.predict("hello").intent == "greeting"
    with pytest.raises(InputError, match="the limit is 5"):
        short.predict("hello there")


def test_missing_directory_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no model directory"):
        Classifier.load(tmp_path / "nope")


def test_directory_without_metadata_is_a_model_error(model_copy):
    (model_copy / "metadata.json").unlink()
    with pytest.raises(ModelError, match=r"metadata\.json is missing"):
        Classifier.load(model_copy)


def test_empty_directory_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not a model directory"):
        Classifier.load(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b'{"format": "intently.model.v0"}', b"\xff\xfe\x00garbage"],
    ids=["broken", "empty", "list", "old-format", "not-utf8"],
)
def test_corrupt_metadata_is_a_model_error(model_copy, content):
    (model_copy / "metadata.json").write_bytes(content)
    with pytest.raises(ModelError):
        Classifier.load(model_copy)


def _edit_metadata(directory: Path, edit) -> None:
    path = directory / "metadata.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    edit(meta)
    path.write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize(
    "edit",
    [
        lambda meta: meta.pop("backend"),
        lambda meta: meta.update(status="deployed-ish"),
        lambda meta: meta.update(fallback={}),
        lambda meta: meta.update(fallback={"label": "oos", "threshold": "high"}),
        lambda meta: meta["fallback"].update(temperature=-1.0),
        lambda meta: meta.update(unexpected=1),
    ],
    ids=["no-backend", "bad-status", "empty-fallback", "bad-threshold", "bad-temperature", "extra"],
)
@pytest.mark.parametrize("runtime", ["auto", "native"])
def test_incomplete_metadata_is_a_model_error(model_copy, edit, runtime):
    _edit_metadata(model_copy, edit)
    with pytest.raises(ModelError):
        Classifier.load(model_copy, runtime=runtime)


def test_unknown_backend_is_a_model_error_when_served_natively(model_copy):
    _edit_metadata(model_copy, lambda meta: meta.update(backend="transformer-xl"))
    with pytest.raises(ModelError, match="transformer-xl"):
        Classifier.load(model_copy, runtime="native")
    # the export does not need the backend's code: it still serves
    assert Classifier.load(model_copy).predict("hello").runtime in {"onnx", "numpy"}


def test_auto_serves_the_way_export_timed_fastest(model_copy):
    manifest = json.loads((model_copy / "onnx.json").read_text(encoding="utf-8"))
    serving = manifest["serving"]
    # a linear export times both graphs and the NumPy scorer of the same weights
    assert set(serving["timings"]) == {"fp32", "int8", "numpy"}
    assert all(t["p50_ms"] > 0 and t["texts_per_s"] > 0 for t in serving["timings"].values())
    assert serving["reason"]
    fastest = min(serving["timings"], key=lambda name: serving["timings"][name]["p50_ms"])
    chosen = "numpy" if serving["engine"] == "numpy" else serving["precision"]
    assert chosen == fastest or (fastest == "int8" and "within timing noise" in serving["reason"])
    prediction = Classifier.load(model_copy).predict("I want to cancel my order")
    expected_runtime = "numpy" if serving["engine"] == "numpy" else "onnx"
    assert (prediction.runtime, prediction.precision) == (expected_runtime, serving["precision"])
    for precision, engine, runtime in [
        ("fp32", "onnxruntime", "onnx"),
        ("int8", "onnxruntime", "onnx"),
        ("fp32", "numpy", "numpy"),
        ("int8", "numpy", "onnx"),  # not a valid pair: the fp32 graph serves
    ]:
        manifest["serving"].update(precision=precision, engine=engine)
        (model_copy / "onnx.json").write_text(json.dumps(manifest), encoding="utf-8")
        loaded = Classifier.load(model_copy)
        assert loaded.runtime == runtime
        assert loaded.precision == (
            "fp32" if (precision, engine) == ("int8", "numpy") else precision
        )
        assert loaded.predict("I want to cancel my order").intent == prediction.intent
    native = Classifier.load(model_copy, runtime="native").predict("I want to cancel my order")
    assert (native.runtime, native.precision) == ("native", None)
    assert native.intent == prediction.intent


def test_the_numpy_scorer_of_a_linear_export_answers_like_its_graph(trained_model_dir):
    from intently.runtime.onnx_model import OnnxModel
    from tiny_project import INTENTS

    texts = [t for ts in INTENTS.values() for t in ts] + ["§§", "hello hello hello"]
    graph = OnnxModel.load(trained_model_dir, precision="fp32")
    scorer = OnnxModel.load(trained_model_dir, engine="numpy")
    np.testing.assert_allclose(scorer.predict_proba(texts), graph.predict_proba(texts), atol=1e-5)
    np.testing.assert_allclose(
        scorer.predict_proba(texts[:1]), graph.predict_proba(texts[:1]), atol=1e-5
    )
    with pytest.raises(InputError, match="engine"):
        OnnxModel.load(trained_model_dir, precision="int8", engine="numpy")


def test_auto_serves_natively_when_nothing_was_exported(model_copy):
    (model_copy / "onnx.json").unlink()
    classifier = Classifier.load(model_copy)
    assert (classifier.runtime, classifier.precision) == ("native", None)
    assert classifier.predict("I want to cancel my order").intent == "cancel_order"


def test_labels_json_disagreeing_is_a_model_error(model_copy):
    labels = json.loads((model_copy / "labels.json").read_text(encoding="utf-8"))
    (model_copy / "labels.json").write_text(json.dumps(labels[::-1]), encoding="utf-8")
    with pytest.raises(ModelError, match="disagree"):
        Classifier.load(model_copy)


def test_metadata_labels_disagreeing_with_the_weights_is_a_model_error(model_copy):
    def rename(meta):
        meta["labels"] = [*meta["labels"][:-1], "renamed"]

    _edit_metadata(model_copy, rename)
    (model_copy / "labels.json").write_text(
        (json.dumps(json.loads((model_copy / "metadata.json").read_text())["labels"])),
        encoding="utf-8",
    )
    with pytest.raises(ModelError, match=r"differ from labels\.json"):
        Classifier.load(model_copy)


@pytest.mark.parametrize("keep", [0, 100, 1000])
def test_corrupt_weights_are_a_model_error(model_copy, keep):
    weights = model_copy / "linear_weights.npz"
    weights.write_bytes(weights.read_bytes()[:keep])
    with pytest.raises(ModelError):
        Classifier.load(model_copy)


def test_missing_weights_are_a_model_error(model_copy):
    (model_copy / "linear_vocabulary.json").unlink()
    with pytest.raises(ModelError, match=r"linear_vocabulary\.json"):
        Classifier.load(model_copy)


@pytest.mark.parametrize("runtime", ["native", "onnx", "auto"])
def test_single_text_path_answers_exactly_like_the_batch_path(trained_model_dir, runtime):
    from tiny_project import INTENTS, OOS_QUERIES

    classifier = Classifier.load(trained_model_dir, runtime=runtime)
    texts = [*(t for ts in INTENTS.values() for t in ts), *OOS_QUERIES, "zzz qqq", "refund bye"]
    batch = classifier.predict_batch(texts)
    assert any(p.fallback for p in batch) and not all(p.fallback for p in batch)
    for text, expected in zip(texts, batch, strict=True):
        single = classifier.predict(text)
        assert (single.label, single.intent, single.fallback) == (
            expected.label,
            expected.intent,
            expected.fallback,
        )
        assert [label for label, _ in single.ranking] == [label for label, _ in expected.ranking]
        assert single.confidence == pytest.approx(expected.confidence, abs=1e-6)


def test_single_text_path_refuses_non_finite_probabilities(trained_model_dir, monkeypatch):
    classifier = Classifier.load(trained_model_dir)
    nan_row = np.full((1, len(classifier.labels)), np.nan)
    monkeypatch.setattr(classifier.model, "predict_proba", lambda texts: nan_row)
    with pytest.raises(ModelError, match="non-finite"):
        classifier.predict("hello")


def test_large_batches_pause_the_cyclic_gc_and_restore_its_state(classifier, monkeypatch):
    import gc

    seen = []
    predict_proba = classifier.model.predict_proba

    def spying(texts):
        seen.append(gc.isenabled())
        return predict_proba(texts)

    monkeypatch.setattr(classifier.model, "predict_proba", spying)
    texts = ["where is my order"] * 100
    assert len(classifier.predict_batch(texts)) == 100
    assert seen == [False] and gc.isenabled()  # paused during the batch, on again after
    classifier.predict_batch(texts[:3])
    assert seen[-1] is True  # small batches leave it alone
    gc.disable()
    try:
        classifier.predict_batch(texts)
        assert not gc.isenabled()  # a caller who turned it off keeps it off
    finally:
        gc.enable()


def test_predictions_are_read_only_values(classifier):
    prediction = classifier.predict("where is my order")
    with pytest.raises(AttributeError):
        prediction.label = "refund"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        prediction.extra = 1  # type: ignore[attr-defined]
    again = classifier.predict("where is my order")
    assert again == prediction
    assert hash(again) == hash(prediction)
    assert again != classifier.predict("hello")
    assert "label='order_status'" in repr(prediction)


def test_a_prediction_built_by_hand_equals_the_classifiers(classifier):
    answer = classifier.predict("refund please")
    rebuilt = Prediction(
        label=answer.label,
        confidence=answer.confidence,
        ranking=list(answer.ranking),
        fallback=answer.fallback,
        intent=answer.intent,
        model_version=answer.model_version,
        runtime=answer.runtime,
        precision=answer.precision,
    )
    assert rebuilt == answer
    assert rebuilt.to_dict() == answer.to_dict()


def test_a_batch_mixing_plain_and_unicode_texts_answers_like_single_texts(classifier):
    texts = ["where is my order", "ｒｅｆｕｎｄ please", "bye\x07bye", "  hello\t"]
    batch = classifier.predict_batch(texts)
    singles = [classifier.predict(text) for text in texts]
    assert [(p.label, p.fallback) for p in batch] == [(p.label, p.fallback) for p in singles]
    for answer, single in zip(batch, singles, strict=True):
        assert [label for label, _ in answer.ranking] == [label for label, _ in single.ranking]
        assert answer.confidence == pytest.approx(single.confidence, abs=1e-6)


def test_an_empty_batch_has_no_rows(classifier):
    assert classifier.predict_proba([]).shape == (0, len(classifier.labels))
