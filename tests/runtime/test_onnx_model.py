"""intently.runtime.onnx_model and ``Classifier.load(runtime=...)``."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from intently import Classifier, InputError, ModelError
from intently.runtime import FallbackRule
from intently.runtime import classifier as classifier_module
from intently.runtime.onnx_model import MANIFEST_FILE, OnnxModel

REPO = Path(__file__).resolve().parents[2]


_PHRASES = [
    "hello",
    "hi there",
    "bye",
    "goodbye for now",
    "where is my order",
    "track my order please",
    "cancel my order",
    "I want a refund",
    "refund to my card",
    "what is the weather tomorrow",
    "tell me a joke",
    "play some jazz music",
]
_SUFFIXES = ["", "please", "now, thanks", "?", "for order 1234", "hey"]


def probe_texts() -> list[str]:
    """Fixture-like texts plus odd ones: more than one 64-text batch, empty feature rows."""
    texts = [f"{phrase} {suffix}".strip() for phrase in _PHRASES for suffix in _SUFFIXES]
    return [*texts, "§§§ ¤¤", "hello?? where is my REFUND", "a " * 300, "héllo wörld, refünd"]


@pytest.fixture
def model_copy(trained_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / trained_model_dir.name
    shutil.copytree(trained_model_dir, target)
    return target


@pytest.fixture(scope="module")
def native(trained_model_dir) -> Classifier:
    return Classifier.load(trained_model_dir, runtime="native")


@pytest.fixture(scope="module")
def onnx_fp32(trained_model_dir) -> Classifier:
    return Classifier.load(trained_model_dir, runtime="onnx", precision="fp32")


def _same_predictions(first, second, *, tolerance: float = 1e-5) -> None:
    for a, b in zip(first, second, strict=True):
        assert (a.label, a.intent, a.fallback, a.model_version) == (
            b.label,
            b.intent,
            b.fallback,
            b.model_version,
        )
        assert [label for label, _ in a.ranking] == [label for label, _ in b.ranking]
        assert abs(a.confidence - b.confidence) < tolerance


# -- Classifier over ONNX -----------------------------------------------------------------------


def test_onnx_predictions_equal_native_ones(native, onnx_fp32):
    assert (native.runtime, onnx_fp32.runtime) == ("native", "onnx")
    assert onnx_fp32.labels == native.labels
    assert onnx_fp32.rule == native.rule
    texts = probe_texts()
    _same_predictions(onnx_fp32.predict_batch(texts), native.predict_batch(texts))
    for text in texts[::7]:
        _same_predictions([onnx_fp32.predict(text)], [native.predict(text)])
    assert any(p.fallback for p in native.predict_batch(texts))  # the OOS queries


def test_fallback_flags_are_identical_under_a_strict_rule(native, onnx_fp32):
    texts = probe_texts()
    rules = [FallbackRule("oos", threshold=0.5), FallbackRule("oos", ambiguity_threshold=0.3)]
    for rule in rules:
        strict_native = Classifier(native.model, native.version, rule)
        strict_onnx = Classifier(onnx_fp32.model, onnx_fp32.version, rule)
        batch = strict_onnx.predict_batch(texts)
        assert any(p.fallback for p in batch) and not all(p.fallback for p in batch)
        _same_predictions(batch, strict_native.predict_batch(texts))


def test_int8_classifier_agrees_with_native(trained_model_dir, native):
    int8 = Classifier.load(trained_model_dir, runtime="onnx", precision="int8")
    assert int8.model.precision == "int8"
    texts = probe_texts()
    intents = [p.intent for p in int8.predict_batch(texts)]
    assert intents == [p.intent for p in native.predict_batch(texts)]


def test_input_checks_apply_to_the_onnx_runtime(onnx_fp32):
    with pytest.raises(InputError, match="empty"):
        onnx_fp32.predict("   ")
    with pytest.raises(InputError, match="text #1 of the batch"):
        onnx_fp32.predict_batch(["hello", 3])
    assert onnx_fp32.predict_batch([]) == []


def test_onnx_model_alone(trained_model_dir):
    model = OnnxModel.load(trained_model_dir, threads=2, batch_size=8)
    assert model.classes_ == tuple(json.loads((trained_model_dir / "labels.json").read_text()))
    assert (model.kind, model.precision) == ("linear", "fp32")
    assert model.predict_proba([]).shape == (0, len(model.classes_))
    texts = probe_texts()
    whole = model.predict_proba(texts)
    one_by_one = np.vstack([model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(whole, one_by_one, atol=1e-6)
    assert whole.dtype == np.float64


# -- choosing the runtime -----------------------------------------------------------------------


def test_auto_serves_the_export(trained_model_dir):
    classifier = Classifier.load(trained_model_dir)
    assert classifier.runtime in {"onnx", "numpy"}  # graph, or the NumPy scorer of its weights
    assert classifier.precision in {"fp32", "int8"}


def test_native_runtime_explains_a_missing_training_library(trained_model_dir, monkeypatch):
    real_import = classifier_module.importlib.import_module

    def without_backends(name, *args):
        if name == classifier_module.NATIVE_BACKENDS:
            raise ModuleNotFoundError("No module named 'scipy'", name="scipy")
        return real_import(name, *args)

    monkeypatch.setattr(classifier_module.importlib, "import_module", without_backends)
    classifier = Classifier.load(trained_model_dir)  # exported: the training stack is not needed
    assert classifier.predict("where is my order").intent == "order_status"
    with pytest.raises(ModelError, match="scipy is not installed") as info:
        Classifier.load(trained_model_dir, runtime="native")
    assert "intently export" in str(info.value)


def test_onnx_runtime_needs_an_export(model_copy):
    (model_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ModelError, match="no ONNX export") as info:
        Classifier.load(model_copy, runtime="onnx")
    assert "intently export" in str(info.value)
    assert Classifier.load(model_copy).runtime == "native"  # auto still works


@pytest.mark.parametrize(
    ("option", "value"),
    [("runtime", "tensorrt"), ("precision", "fp16"), ("runtime", "ONNX"), ("precision", "")],
)
def test_unknown_runtime_or_precision(trained_model_dir, option, value):
    with pytest.raises(InputError, match=f"'{option}' parameter of Classifier.load"):
        Classifier.load(trained_model_dir, **{option: value})


# -- damaged exports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"\x08\x07garbage" * 10),
        lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
        lambda path: path.write_bytes(b""),
    ],
    ids=["garbage", "truncated", "empty"],
)
def test_corrupt_graph_is_a_model_error_with_a_fix(model_copy, damage):
    damage(model_copy / "model.onnx")
    with pytest.raises(ModelError) as info:
        Classifier.load(model_copy, runtime="onnx", precision="fp32")
    message = str(info.value)
    assert message.startswith("[E400]") and "model.onnx" in message
    assert f"intently export {model_copy}" in message
    Classifier.load(model_copy, runtime="onnx", precision="int8")  # the other graph is fine


def test_missing_int8_graph(model_copy):
    (model_copy / "model.int8.onnx").unlink()
    with pytest.raises(ModelError, match=r"model\.int8\.onnx, listed in onnx\.json, is missing"):
        Classifier.load(model_copy, runtime="onnx", precision="int8")


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: "{not json",
        lambda m: json.dumps({**m, "format": "intently.onnx.v0"}),
        lambda m: json.dumps({**m, "kind": "forest"}),
        lambda m: json.dumps({k: v for k, v in m.items() if k != "featurizer"}),
        lambda m: json.dumps({**m, "labels": list(reversed(m["labels"]))}),
        lambda m: json.dumps({**m, "inputs": ["input_ids", "attention_mask"]}),
        lambda m: json.dumps({**m, "n_features": 3}),
    ],
    ids=["corrupt", "format", "kind", "no-featurizer", "labels", "inputs", "features"],
)
def test_damaged_manifest_is_a_model_error(model_copy, edit):
    path = model_copy / MANIFEST_FILE
    path.write_text(edit(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
    with pytest.raises(ModelError):
        Classifier.load(model_copy, runtime="onnx")


def test_damaged_featurizer_is_a_model_error(model_copy):
    (model_copy / "linear_vocabulary.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match=r"linear_vocabulary\.json does not match the SHA-256"):
        Classifier.load(model_copy, runtime="onnx")
    manifest = json.loads((model_copy / MANIFEST_FILE).read_text(encoding="utf-8"))
    del manifest["sha256"]  # an export without checksums: the reader still refuses the file
    (model_copy / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="featurizer files"):
        Classifier.load(model_copy, runtime="onnx")
