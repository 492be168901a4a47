"""intently.export.onnx_export: linear export, manifest, int8, parity failure, atomic writes."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import intently
from intently.backends.linear import LinearBackend
from intently.export import (
    EVALUATION_FILE,
    ExportError,
    ExportUnsupportedError,
    export_backend,
    export_model,
)
from intently.export import graph as graph_module
from intently.registry import list_versions
from intently.runtime.onnx_model import MANIFEST_FILE, OnnxModel

NATIVE_FILES = (
    "metadata.json",
    "labels.json",
    "linear_vocabulary.json",
    "linear_weights.npz",
    EVALUATION_FILE,
)


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


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


@pytest.fixture
def model_copy(trained_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / trained_model_dir.name
    shutil.copytree(trained_model_dir, target)
    return target


@pytest.fixture
def unexported(make_project) -> Path:
    """A fresh version trained without export."""
    run = intently.train(intently.load_project(make_project()), write_reports=False, export=False)
    assert not (run.model_dir / MANIFEST_FILE).exists()
    return run.model_dir


def _corrupt_int8(
    monkeypatch: pytest.MonkeyPatch, levels: tuple[str, ...] = ("full", "embeddings")
):
    """Quantize for real, then scramble the int8 graph's intercept at ``levels``: argmax no
    longer agrees."""
    real = graph_module.quantize_graph

    def quantize_then_break(source: Path, target: Path, *, level: str = "full", **kw) -> dict:
        settings = real(source, target, level=level, **kw)
        if level not in levels:
            return settings
        model = onnx.load(str(target))
        for init in model.graph.initializer:
            if init.name == "intercept":
                values = numpy_helper.to_array(init)
                scrambled = np.linspace(-50.0, 50.0, len(values)).astype(np.float32)
                init.CopyFrom(numpy_helper.from_array(scrambled + values, "intercept"))
        onnx.save(model, str(target))
        return settings

    monkeypatch.setattr(graph_module, "quantize_graph", quantize_then_break)


# -- the linear graph ---------------------------------------------------------------------------


def test_training_exports_by_default(trained_model_dir):
    names = {p.name for p in trained_model_dir.iterdir()}
    assert {"model.onnx", "model.int8.onnx", MANIFEST_FILE, EVALUATION_FILE} <= names
    assert not [name for name in names if name.startswith(".")]


def test_fp32_graph_matches_the_native_model(trained_model_dir):
    texts = probe_texts()
    native = LinearBackend.load(trained_model_dir).predict_proba(texts)
    onnx_proba = OnnxModel.load(trained_model_dir).predict_proba(texts)
    assert onnx_proba.shape == native.shape
    assert np.max(np.abs(onnx_proba - native)) < 1e-5
    assert (onnx_proba.argmax(axis=1) == native.argmax(axis=1)).all()
    np.testing.assert_allclose(onnx_proba.sum(axis=1), 1.0, atol=1e-5)


def test_int8_graph_loads_and_agrees(trained_model_dir):
    texts = probe_texts()
    native = LinearBackend.load(trained_model_dir).predict_proba(texts)
    int8 = OnnxModel.load(trained_model_dir, precision="int8").predict_proba(texts)
    assert int8.shape == native.shape
    # On this fixture every probe text keeps its top class; the probabilities move a little.
    assert (int8.argmax(axis=1) == native.argmax(axis=1)).all()
    assert np.max(np.abs(int8 - native)) < 0.02


def test_graph_follows_the_convention(trained_model_dir):
    manifest = json.loads((trained_model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["format"] == "intently.onnx.v1"
    assert manifest["kind"] == "linear"
    assert manifest["opset"] == 17
    assert (manifest["fp32"], manifest["int8"]) == ("model.onnx", "model.int8.onnx")
    assert manifest["inputs"] == ["indices", "values"]
    assert manifest["output"] == "probabilities"
    assert manifest["labels"] == json.loads((trained_model_dir / "labels.json").read_text())
    assert {"onnx", "onnxruntime", "intently"} <= set(manifest["versions"])
    assert manifest["created_at"]
    parity = manifest["parity"]
    assert parity["source"] == EVALUATION_FILE
    assert parity["fp32"]["agreement"] == 1.0
    assert parity["int8"]["agreement"] >= 0.995
    assert parity["fp32"]["max_abs_diff"] < 1e-5
    for name in ("model.onnx", "model.int8.onnx"):
        model = onnx.load(str(trained_model_dir / name))
        onnx.checker.check_model(model)
        assert model.ir_version == 8
        assert {(o.domain, o.version) for o in model.opset_import} == {("", 17)}
        inputs = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
        assert inputs == {"indices": onnx.TensorProto.INT64, "values": onnx.TensorProto.FLOAT}
        assert [o.name for o in model.graph.output] == ["probabilities"]
    fp32_size = (trained_model_dir / "model.onnx").stat().st_size
    assert (trained_model_dir / "model.int8.onnx").stat().st_size < fp32_size


def test_evaluation_file_holds_the_evaluated_split(trained_model_dir):
    rows = [
        json.loads(line)
        for line in (trained_model_dir / EVALUATION_FILE).read_text(encoding="utf-8").splitlines()
    ]
    meta = json.loads((trained_model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert len(rows) == meta["extra"]["dataset"]["test"] > 0
    assert all(set(row) == {"text", "label"} for row in rows)
    assert {row["label"] for row in rows} <= set(meta["labels"])


# -- export_model on a stored version -----------------------------------------------------------


def test_export_model_adds_files_and_never_touches_native_ones(unexported):
    before = _snapshot(unexported)
    report = export_model(unexported)
    after = _snapshot(unexported)
    for name in NATIVE_FILES:
        assert after[name] == before[name]
    assert set(after) - set(before) == {"model.onnx", "model.int8.onnx", MANIFEST_FILE}
    assert report.files == ("model.int8.onnx", "model.onnx", MANIFEST_FILE)
    assert report.kind == "linear"
    assert report.parity.source == EVALUATION_FILE
    assert report.parity.n == len(before[EVALUATION_FILE].decode().splitlines())
    assert report.parity.fp32.agreement == 1.0
    assert report.parity.int8.agreement >= 0.995
    assert report.parity.native_accuracy == report.parity.fp32.accuracy
    assert report.sizes_mb["int8"] < report.sizes_mb["fp32"]


def test_reexport_replaces_only_its_own_files(model_copy):
    before = _snapshot(model_copy)
    steps: list[tuple[str, float]] = []
    export_model(model_copy, progress=lambda step, done: steps.append((step, done)))
    after = _snapshot(model_copy)
    assert set(after) == set(before)
    for name in NATIVE_FILES:
        assert after[name] == before[name]
    assert [done for _, done in steps] == sorted(done for _, done in steps)
    assert steps[-1] == ("done", 1.0)


def test_export_with_given_texts_and_labels(unexported):
    report = export_model(
        unexported,
        texts=["where is my order", "bye", "   ", "refund please"],
        labels=["order_status", "goodbye", "greeting", "refund"],
    )
    assert report.parity.n == 3  # the blank text is dropped, as the runtime would refuse it
    assert report.parity.source == "texts"
    assert report.parity.native_accuracy == 1.0


def test_export_without_evaluation_file_asks_for_texts(unexported):
    (unexported / EVALUATION_FILE).unlink()
    with pytest.raises(ExportError, match="--texts"):
        export_model(unexported)
    assert not (unexported / MANIFEST_FILE).exists()


# -- failures write nothing ---------------------------------------------------------------------


def test_parity_failure_raises_with_the_numbers_and_writes_nothing(unexported, monkeypatch):
    _corrupt_int8(monkeypatch)
    before = _snapshot(unexported)
    with pytest.raises(ExportError) as info:
        export_model(unexported)
    message = str(info.value)
    assert message.startswith("[E800]")
    assert "int8 ONNX agrees with the native model on" in message
    assert "fp32" not in message.split("Fix:")[0]  # the fp32 graph passed
    assert "max |Δp|" in message and "native accuracy" in message
    assert "int8 tried at levels full, embeddings" in message
    assert _snapshot(unexported) == before
    assert not [p for p in unexported.iterdir() if p.name.startswith(".")]


def test_int8_falls_back_to_a_gentler_level(unexported, monkeypatch):
    _corrupt_int8(monkeypatch, levels=("full",))
    report = export_model(unexported)
    assert report.quantization["level"] == "embeddings"
    tried = report.quantization["tried"]
    assert [t["level"] for t in tried] == ["full", "embeddings"]
    assert tried[0]["agreement"] < 0.995 <= tried[1]["agreement"]
    manifest = json.loads((unexported / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["quantization"]["tried"] == tried
    assert report.parity.int8.agreement == tried[1]["agreement"]


def test_failed_reexport_keeps_the_previous_export(model_copy, monkeypatch):
    _corrupt_int8(monkeypatch)
    before = _snapshot(model_copy)
    with pytest.raises(ExportError):
        export_model(model_copy)
    assert _snapshot(model_copy) == before


def test_failed_export_during_training_leaves_no_version(make_project, monkeypatch):
    _corrupt_int8(monkeypatch)
    project = intently.load_project(make_project())
    with pytest.raises(ExportError):
        intently.train(project, write_reports=False)
    task_dir = project.model_root() / "intent"
    assert list_versions(task_dir) == []
    assert not [p for p in task_dir.iterdir() if p.name.startswith(".staging")]


def test_stricter_agreement_threshold_is_honoured(unexported):
    with pytest.raises(ExportError, match=r"minimum 100\.01%"):
        export_model(unexported, min_agreement=1.0001)
    assert not (unexported / MANIFEST_FILE).exists()


class _NoExport:
    name = "plain"
    classes_ = ("a", "b")

    def predict_proba(self, texts):
        return np.full((len(texts), 2), 0.5)


class _BrokenExport(_NoExport):
    def export_onnx(self, directory: Path) -> dict:
        (directory / "model.onnx").write_bytes(b"not a graph")
        raise RuntimeError("tracing failed")


def test_backend_without_export_is_unsupported(tmp_path):
    with pytest.raises(ExportUnsupportedError, match="plain backend cannot export"):
        export_backend(_NoExport(), tmp_path, texts=["hello"])
    assert list(tmp_path.iterdir()) == []


def test_exporter_crash_is_an_export_error_and_cleans_up(tmp_path):
    with pytest.raises(ExportError, match="tracing failed"):
        export_backend(_BrokenExport(), tmp_path, texts=["hello"])
    assert list(tmp_path.iterdir()) == []


def test_train_without_export_writes_no_graph(unexported):
    names = {p.name for p in unexported.iterdir()}
    assert EVALUATION_FILE in names
    assert not names & {"model.onnx", "model.int8.onnx", MANIFEST_FILE}


def test_mixed_precision_keeps_the_most_sensitive_layers_float_until_parity_passes():
    from types import SimpleNamespace

    from intently.export.graph import _mixed_precision

    layers = {0: ["a0"], 1: ["a1"], 2: ["a2"], 3: ["a3"]}
    harm = {0: 2, 1: 9, 2: 1, 3: 6}  # texts that change when only this layer is quantized
    calls = []

    def attempt(level, float_layers):
        calls.append(sorted(float_layers))
        changed = sum(harm[i] for i in layers if i not in float_layers)
        report = SimpleNamespace(
            int8=SimpleNamespace(
                agreement=1 - changed / 1000, disagreements=changed, max_abs_diff=0.1
            )
        )
        return {"level": level}, report

    tried = []
    settings, parity = _mixed_precision(attempt, layers, 0.995, tried)
    # one probe per layer (all others float), then float layers by harm: 1, then 1 and 3
    assert calls[:4] == [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]
    assert [t["float_layers"] for t in tried] == [[1], [1, 3]]
    assert parity.int8.agreement == pytest.approx(0.997) and settings == {"level": "mixed"}
    assert tried[0]["layer_sensitivity"] == {"0": 2, "1": 9, "2": 1, "3": 6}


def test_mixed_precision_stops_at_half_the_layers():
    from types import SimpleNamespace

    from intently.export.graph import _mixed_precision

    def attempt(level, float_layers):
        bad = SimpleNamespace(int8=SimpleNamespace(agreement=0.9, disagreements=5, max_abs_diff=1))
        return {"level": level}, bad

    tried = []
    _mixed_precision(attempt, {i: [f"n{i}"] for i in range(6)}, 0.995, tried)
    assert [len(t["float_layers"]) for t in tried] == [1, 2, 3]
