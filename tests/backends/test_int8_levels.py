"""int8 levels of an exported transformer graph (the tiny random BERT of test_encoder):
"blockwise" block-quantizes every layer MatMul and keeps the head float, and export walks the
levels in order, recording what it tried and what it skipped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")

from onnx import numpy_helper  # noqa: E402
from test_embedding import DATA, QUERIES  # noqa: E402
from test_encoder import make_tiny_body  # noqa: E402

from intently.backends import make_backend  # noqa: E402
from intently.export import export_backend  # noqa: E402
from intently.export import graph as graph_module  # noqa: E402
from intently.export import quantize as quantize_module  # noqa: E402
from intently.export.quantize import BLOCKWISE, QuantizationUnavailableError  # noqa: E402
from intently.runtime.onnx_model import OnnxModel  # noqa: E402


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory):
    body = make_tiny_body(tmp_path_factory.mktemp("int8-body") / "body")
    texts = [t for ts in DATA.values() for t in ts]
    labels = [label for label, ts in DATA.items() for _ in ts]
    params = {"model_path": str(body), "threads": 1, "epochs": 2, "batch_size": 4}
    return make_backend("transformer", params).fit(texts, labels)


@pytest.fixture
def saved(tmp_path: Path, tuned) -> Path:
    tuned.save(tmp_path)
    (tmp_path / "labels.json").write_text(json.dumps(list(tuned.classes_)), encoding="utf-8")
    return tmp_path


def _layer_matmuls(graph: Path) -> set[str]:
    model = onnx.load(str(graph))
    weights = {init.name for init in model.graph.initializer}
    return {
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul" and "/layer." in node.name and node.input[1] in weights
    }


def _rig_head_bias(graph: Path, n_classes: int) -> None:
    """Overwrite the head's bias so that every text gets the same top class: a broken graph."""
    model = onnx.load(str(graph))
    for init in model.graph.initializer:
        values = numpy_helper.to_array(init)
        if values.shape == (n_classes,) and values.dtype == np.float32:
            rigged = np.arange(n_classes, dtype=np.float32) * 100
            init.CopyFrom(numpy_helper.from_array(rigged, init.name))
    onnx.save(model, str(graph))


def test_blockwise_quantizes_every_layer_matmul_and_keeps_the_head_float(tmp_path, tuned):
    pytest.importorskip("onnx_ir")
    tuned.export_onnx(tmp_path)
    layer_matmuls = _layer_matmuls(tmp_path / "model.onnx")
    assert len(layer_matmuls) == 12  # 2 layers x (query, key, value, attention out, FFN in, out)
    settings = quantize_module.quantize_graph(
        tmp_path / "model.onnx", tmp_path / "model.int8.onnx", level="blockwise"
    )
    assert settings["level"] == "blockwise"
    assert settings["matmul"] == {"op": "MatMulNBits", **BLOCKWISE}
    int8 = onnx.load(str(tmp_path / "model.int8.onnx"))
    blocks = [node for node in int8.graph.node if node.op_type == "MatMulNBits"]
    assert {node.name.removesuffix("_Q8") for node in blocks} == layer_matmuls
    for node in blocks:
        attributes = {a.name: a.i for a in node.attribute}
        assert attributes["bits"] == 8 and attributes["block_size"] == 32
        assert attributes["accuracy_level"] == 4
    by_name = {node.name: node for node in int8.graph.node}
    head = [by_name[name] for name in settings["float_nodes"] if name in by_name]
    assert head and all(node.op_type in {"MatMul", "Gemm"} for node in head)  # untouched
    tables = {
        init.name: numpy_helper.to_array(init)
        for init in int8.graph.initializer
        if "word_embeddings" in init.name
    }
    assert any(table.dtype.itemsize == 1 for table in tables.values())  # 8-bit lookups too


def _quantize_graph_with(
    tuned, *, broken: tuple[str, ...], unavailable: tuple[str, ...] = ()
) -> Callable[..., dict]:
    """The real quantize_graph, except that levels in ``broken`` write a graph that fails the
    parity check and levels in ``unavailable`` raise as if their package were missing."""
    real = graph_module.quantize_graph

    def quantize(source: Path, target: Path, *, level: str = "full", **kw) -> dict:
        if level in unavailable:
            raise QuantizationUnavailableError(f"{level} int8 needs onnx_ir")
        settings = real(source, target, level=level, **kw)
        if level in broken:
            _rig_head_bias(target, len(tuned.classes_))
        return settings

    return quantize


def test_export_falls_back_from_full_and_mixed_to_blockwise(saved, tuned, monkeypatch):
    pytest.importorskip("onnx_ir")
    quantize = _quantize_graph_with(tuned, broken=("full", "mixed"))
    monkeypatch.setattr(graph_module, "quantize_graph", quantize)
    report = export_backend(tuned, saved, texts=QUERIES * 3)
    tried = report.quantization["tried"]
    assert [t["level"] for t in tried] == ["full", "mixed", "blockwise"]
    assert max(t["agreement"] for t in tried[:2]) < 0.995 <= tried[2]["agreement"]
    assert report.quantization["level"] == "blockwise"
    int8 = OnnxModel.load(saved, precision="int8").predict_proba(QUERIES)
    native = tuned.predict_proba(QUERIES)
    assert (int8.argmax(axis=1) == native.argmax(axis=1)).all()


def test_a_level_whose_package_is_missing_is_skipped_and_recorded(saved, tuned, monkeypatch):
    quantize = _quantize_graph_with(tuned, broken=("full", "mixed"), unavailable=("blockwise",))
    monkeypatch.setattr(graph_module, "quantize_graph", quantize)
    report = export_backend(tuned, saved, texts=QUERIES * 3)
    tried = report.quantization["tried"]
    assert [t["level"] for t in tried] == ["full", "mixed", "blockwise", "embeddings"]
    assert tried[2] == {"level": "blockwise", "skipped": "blockwise int8 needs onnx_ir"}
    assert report.quantization["level"] == "embeddings"
