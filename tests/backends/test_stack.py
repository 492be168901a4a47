"""The stack backend: weighted probability average of members, learned weights, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from intently.backends import make_backend
from intently.backends.stack import (
    StackBackend,
    fit_temperature,
    learn_weights,
    mix,
    out_of_fold_report,
)
from intently.errors import ModelError, TrainingError

TEXTS = {
    "greet": ["hello there", "hi", "good morning", "hey you", "hello friend", "hiya"],
    "order": [
        "where is my order",
        "track my parcel",
        "order status",
        "my package is late",
        "when will it arrive",
        "shipping status",
    ],
    "bye": ["goodbye", "see you", "bye bye", "farewell", "talk later", "good night"],
}
LINEAR_PAIR = [
    {"backend": "linear", "params": {}},
    {"backend": "linear", "params": {"char_ngrams": None, "C": 0.1}},
]


def _data():
    texts = [t for ts in TEXTS.values() for t in ts]
    labels = [label for label, ts in TEXTS.items() for _ in ts]
    return texts, labels


def test_learned_weights_prefer_the_better_member():
    targets = np.array([0, 1, 0, 1])
    good = np.array([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.2, 0.8]])
    bad = np.full((4, 2), 0.5)
    weights = learn_weights([good, bad], targets)
    assert weights[0] > weights[1] and weights.sum() == pytest.approx(1.0)


def test_learned_weights_maximise_accuracy_not_log_likelihood():
    # Member 0 is right on every row but unsure; member 1 is sure, and wrong on the last row.
    # The log-likelihood optimum leans on member 1 and keeps its mistake; only weights of
    # more than 6/7 on member 0 (the grid's step is 0.05: 0.9) classify all ten rows right.
    targets = np.zeros(10, dtype=int)
    unsure = np.tile([0.55, 0.45], (10, 1))
    sure = np.tile([0.99, 0.01], (10, 1))
    sure[-1] = [0.2, 0.8]
    weights = learn_weights([unsure, sure], targets)
    assert np.mean(mix([unsure, sure], weights).argmax(axis=1) == targets) == 1.0
    assert weights[0] == pytest.approx(0.9)  # ties on accuracy: the best log-likelihood


def test_the_out_of_fold_report_scores_members_equal_average_and_mix():
    # row 2: only member 0 is right; row 3: only member 1, surely enough to outvote member 0
    targets = np.array([0, 1, 0, 1])
    first = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.6, 0.4]])
    second = np.array([[0.8, 0.2], [0.3, 0.7], [0.45, 0.55], [0.1, 0.9]])
    report = out_of_fold_report([first, second], targets, np.array([1.0, 0.0]), 2.0)
    assert report["weights"] == [1.0, 0.0] and report["out_of_fold_rows"] == 4
    assert report["temperature"] == 2.0
    assert report["out_of_fold_accuracy"] == {
        "members": [0.75, 0.75],
        "equal_average": 1.0,
        "learned_weights": 0.75,
    }
    # member 0 alone: right at 0.9 and 0.8, right and wrong at 0.6 (one bin, accuracy 0.5);
    # softened (T = 2) its right rows' confidences fall to 0.75 and 0.67
    untempered = report["calibration_error"]["untempered"]
    assert untempered == pytest.approx((0.1 + 0.2 + 2 * 0.1) / 4, abs=1e-4)
    assert report["calibration_error"]["tempered"] > untempered


def test_the_temperature_sharpens_an_underconfident_mix_and_keeps_every_top_class():
    # two members, each right everywhere but unsure: their average is as right and as unsure
    rng = np.random.default_rng(0)
    targets = rng.integers(3, size=300)
    members = []
    for _ in range(2):
        proba = rng.dirichlet(np.ones(3), size=300) * 0.4
        proba[np.arange(300), targets] += 0.6
        members.append(proba)
    mixed = mix(members, np.array([0.5, 0.5]))
    temperature = fit_temperature(mixed, targets)
    tempered = mix(members, np.array([0.5, 0.5]), temperature)
    assert temperature < 0.5
    np.testing.assert_array_equal(tempered.argmax(axis=1), mixed.argmax(axis=1))
    assert tempered.max(axis=1).mean() > 0.95 > mixed.max(axis=1).mean()


def test_a_small_temperature_on_tiny_probabilities_stays_finite():
    proba = np.array([[1 - 2e-30, 1e-30, 1e-30], [0.4, 0.35, 0.25]])
    sharp = mix([proba], np.array([1.0]), 0.05)
    assert np.isfinite(sharp).all()
    np.testing.assert_allclose(sharp.sum(axis=1), 1.0)
    np.testing.assert_array_equal(sharp.argmax(axis=1), [0, 0])


def test_the_temperature_prior_holds_a_few_separated_rows_near_one():
    targets = np.array([0, 1, 0, 1])
    mixed = np.array([[0.7, 0.3], [0.3, 0.7], [0.7, 0.3], [0.3, 0.7]])
    # the likelihood alone would sharpen these all-right rows to the lower bound (0.05)
    assert 0.3 < fit_temperature(mixed, targets) < 1.0


def test_learned_weights_leave_their_out_of_fold_record_given_ones_none():
    texts, labels = _data()
    learned = make_backend("stack", {"members": LINEAR_PAIR, "folds": 2}).fit(texts, labels)
    accuracy = learned.fit_info_["out_of_fold_accuracy"]
    assert learned.fit_info_["out_of_fold_rows"] == len(texts)
    assert learned.fit_info_["members"] == ["linear", "linear"]
    assert len(accuracy["members"]) == 2
    assert accuracy["learned_weights"] >= max(accuracy["members"])  # the grid holds each alone
    given = make_backend("stack", {"members": LINEAR_PAIR, "weights": [1, 1]}).fit(texts, labels)
    assert given.fit_info_ is None  # no validation rows: no temperature to report


def test_a_member_of_weight_zero_is_not_asked_to_predict():
    texts, labels = _data()
    model = make_backend("stack", {"members": LINEAR_PAIR, "weights": [1, 0]}).fit(texts, labels)
    expected = model.members_[0].predict_proba(texts)

    def unused(_texts):
        raise AssertionError("a member of weight 0 predicted")

    model.members_[1].predict_proba = unused
    np.testing.assert_allclose(model.predict_proba(texts), expected, rtol=1e-9)


def test_stack_fits_predicts_and_round_trips(tmp_path):
    texts, labels = _data()
    model = make_backend("stack", {"members": LINEAR_PAIR}).fit(
        texts, labels, valid=(["hello", "track order", "bye now"], ["greet", "order", "bye"])
    )
    proba = model.predict_proba(["hello there", "where is my parcel"])
    assert proba.shape == (2, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert [model.classes_[i] for i in proba.argmax(axis=1)] == ["greet", "order"]
    assert model.validation_proba_ is not None and model.weights_.sum() == pytest.approx(1.0)
    assert model.temperature_ != 1.0 and model.fit_info_["temperature"] == pytest.approx(
        model.temperature_, abs=1e-4
    )
    model.save(tmp_path)
    loaded = StackBackend.load(tmp_path)
    assert loaded.temperature_ == model.temperature_
    np.testing.assert_allclose(
        loaded.predict_proba(["hello there"]), model.predict_proba(["hello there"]), rtol=1e-6
    )


def test_a_stack_saved_before_temperatures_loads_untempered_and_a_bad_one_is_refused(tmp_path):
    import json

    texts, labels = _data()
    make_backend("stack", {"members": LINEAR_PAIR}).fit(texts, labels).save(tmp_path)
    spec = json.loads((tmp_path / "stack.json").read_text(encoding="utf-8"))
    del spec["temperature"]
    (tmp_path / "stack.json").write_text(json.dumps(spec), encoding="utf-8")
    assert StackBackend.load(tmp_path).temperature_ == 1.0
    for bad in (0, -1.0, "hot", True):
        spec["temperature"] = bad
        (tmp_path / "stack.json").write_text(json.dumps(spec), encoding="utf-8")
        with pytest.raises(ModelError, match="temperature"):
            StackBackend.load(tmp_path)


def test_given_weights_get_a_temperature_fitted_on_the_members_validation_rows():
    texts, labels = _data()
    params = {"members": LINEAR_PAIR, "weights": [1, 1]}
    valid = (["hello", "track order", "bye now", "see you soon"], ["greet", "order", "bye", "bye"])
    model = make_backend("stack", params).fit(texts, labels, valid=valid)
    rows = [np.asarray(m.validation_proba_) for m in model.members_]
    targets = np.searchsorted(model.classes_, valid[1])
    assert model.temperature_ == pytest.approx(fit_temperature(mix(rows, model.weights_), targets))
    assert model.temperature_ != 1.0
    np.testing.assert_allclose(
        model.validation_proba_, mix(rows, model.weights_, model.temperature_), rtol=1e-9
    )
    info = model.fit_info_
    assert info["weights"] == [0.5, 0.5] and info["validation_rows"] == len(valid[0])
    assert info["temperature"] == pytest.approx(model.temperature_, abs=1e-4)
    assert info["calibration_error"]["tempered"] < info["calibration_error"]["untempered"]
    assert make_backend("stack", params).fit(texts, labels).temperature_ == 1.0  # no valid


def test_given_weights_are_normalised():
    texts, labels = _data()
    model = make_backend("stack", {"members": LINEAR_PAIR, "weights": [3, 1]}).fit(texts, labels)
    np.testing.assert_allclose(model.weights_, [0.75, 0.25])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"members": [{"backend": "linear"}]}, "'members' parameter of the stack backend"),
        ({"members": [{"params": {}}, {"backend": "linear"}]}, "'members' parameter"),
        ({"members": [{"backend": "linear", "params": {"C": 0}}, *LINEAR_PAIR[1:]]}, "'C'"),
        ({"members": LINEAR_PAIR, "weights": "equal"}, "'weights' parameter"),
        ({"members": LINEAR_PAIR, "weights": [1.0]}, "2 members but 1 weights"),
        ({"members": [{"backend": "stack"}, {"backend": "linear"}]}, "cannot contain another"),
    ],
)
def test_invalid_members_are_training_errors(params, message):
    texts, labels = _data()
    with pytest.raises(TrainingError, match=message):
        make_backend("stack", params).fit(texts, labels)


def test_load_of_a_folder_without_stack_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match=r"lacks stack\.json"):
        StackBackend.load(tmp_path)


def test_stack_exports_its_members_and_the_onnx_runtime_mixes_them(tmp_path):
    from intently.export import export_backend
    from intently.runtime.onnx_model import OnnxModel, OnnxStack

    texts, labels = _data()
    model = make_backend("stack", {"members": LINEAR_PAIR, "weights": [0.7, 0.3]})
    model.fit(texts, labels)
    model.save(tmp_path)
    report = export_backend(model, tmp_path, texts=texts, labels=labels)
    assert report.kind == "stack" and report.parity.int8.agreement >= 0.995
    assert "member_0/model.int8.onnx" in report.files and report.files[-1] == "onnx.json"
    for precision in ("fp32", "int8"):
        served = OnnxModel.load(tmp_path, precision=precision)
        assert isinstance(served, OnnxStack) and len(served.members) == 2
        np.testing.assert_allclose(served.weights, [0.7, 0.3])
        np.testing.assert_allclose(
            served.predict_proba(texts), model.predict_proba(texts), atol=0.02
        )
    assert OnnxModel.load(tmp_path).predict_proba([]).shape == (0, 3)


def _exported_stack_manifest(directory) -> dict:
    """Fit, save and export a stack of LINEAR_PAIR into ``directory``; its ``onnx.json``."""
    import json

    from intently.export import export_backend

    texts, labels = _data()
    model = make_backend("stack", {"members": LINEAR_PAIR}).fit(texts, labels)
    model.save(directory)
    export_backend(model, directory, texts=texts, labels=labels)
    return json.loads((directory / "onnx.json").read_text(encoding="utf-8"))


def test_a_stack_manifest_with_broken_members_is_a_model_error(tmp_path):
    import json

    from intently.runtime.onnx_model import OnnxModel

    manifest = _exported_stack_manifest(tmp_path)
    manifest["members"] = ["member_0"]
    (tmp_path / "onnx.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="malformed stack members"):
        OnnxModel.load(tmp_path)
    manifest["members"] = ["member_0", "member_9"]
    (tmp_path / "onnx.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="no ONNX export"):
        OnnxModel.load(tmp_path)
    manifest["members"] = ["member_0", "member_1"]
    manifest["temperature"] = "hot"
    (tmp_path / "onnx.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="malformed temperature 'hot'"):
        OnnxModel.load(tmp_path)


def test_a_stack_whose_int8_mix_failed_parity_serves_fp32_only(tmp_path):
    import json

    from intently.runtime.onnx_model import OnnxModel

    manifest = _exported_stack_manifest(tmp_path)
    # what export writes when the members' int8 graphs pass alone but their mix does not
    manifest["parity"]["int8"]["agreement"] = 0.98
    manifest["serving"] = {"precision": "fp32", "engine": "onnxruntime"}
    (tmp_path / "onnx.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match=r"int8 mix of the stack .* failed its parity"):
        OnnxModel.load(tmp_path, precision="int8")
    assert OnnxModel.load(tmp_path, precision="fp32").precision == "fp32"


def test_the_onnx_stack_applies_the_learned_temperature(tmp_path):
    from intently.export import export_backend
    from intently.runtime.onnx_model import OnnxModel

    texts, labels = _data()
    model = make_backend("stack", {"members": LINEAR_PAIR, "folds": 2}).fit(texts, labels)
    assert model.temperature_ != 1.0
    model.save(tmp_path)
    export_backend(model, tmp_path, texts=texts, labels=labels)
    served = OnnxModel.load(tmp_path, precision="fp32")
    assert served.temperature == model.temperature_
    np.testing.assert_allclose(served.predict_proba(texts), model.predict_proba(texts), atol=1e-4)


def test_a_stack_trains_exports_and_serves_through_the_pipeline(make_project):
    import intently
    from intently.runtime import Classifier

    path = make_project(
        training={"backend": "stack", "params": {"members": LINEAR_PAIR}, "seed": 13}
    )
    run = intently.train(intently.load_project(path), write_reports=False)
    assert (run.model_dir / "member_1" / "model.int8.onnx").is_file()
    onnx = Classifier.load(run.model_dir, runtime="onnx", precision="int8")
    native = Classifier.load(run.model_dir, runtime="native")
    assert onnx.runtime == "onnx"
    texts = ["where is my parcel", "hello", "goodbye then"]
    assert [p.label for p in onnx.predict_batch(texts)] == [
        p.label for p in native.predict_batch(texts)
    ]
    # the out-of-scope threshold reads the mix before the stack's temperature
    assert native.rule.temperature == onnx.rule.temperature == native.model.temperature_ != 1.0
    assert [(p.label, p.fallback) for p in native.predict_batch(texts)] == [
        (p.label, p.fallback) for p in map(native.predict, texts)
    ]
