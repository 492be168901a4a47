"""The ``encoder`` kind of the ONNX convention, with a toy encoder (no torch).

The toy backend writes what the encoder backends write: ``model.onnx`` with inputs
``input_ids`` and ``attention_mask`` and output ``probabilities``, a runtime ``tokenizer.json``
(truncation and padding on), and a description of kind "encoder". Its native
``predict_proba`` is the same network in NumPy on unpadded token ids.
"""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import tokenizers
from onnx import TensorProto, helper, numpy_helper
from tokenizers import models, normalizers, pre_tokenizers, processors

from intently.export import export_backend
from intently.runtime.onnx_model import MANIFEST_FILE, OnnxModel

CLASSES = ("goodbye", "greeting", "order_status", "refund")
WORDS = {
    "goodbye": ["bye", "goodbye", "later", "farewell"],
    "greeting": ["hello", "hi", "hey", "morning"],
    "order_status": ["order", "track", "shipped", "parcel"],
    "refund": ["refund", "money", "back", "charged"],
}
FILLER = ["please", "my", "the", "is", "where", "now", "a", "i"]
MAX_LENGTH = 12
DIM, HIDDEN = 16, 24


def _tokenizer() -> tokenizers.Tokenizer:
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3}
    for word in [w for words in WORDS.values() for w in words] + FILLER:
        vocab.setdefault(word, len(vocab))
    tokenizer = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return tokenizer


class ToyEncoder:
    """Mean-pooled embeddings → ReLU layer → linear head → softmax."""

    name = "toyencoder"

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self.tokenizer = _tokenizer()
        self.tokenizer.enable_truncation(MAX_LENGTH)
        size = self.tokenizer.get_vocab_size()
        self.embeddings = rng.normal(0, 1, (size, DIM)).astype(np.float32)
        for words in WORDS.values():  # each label's words share a direction
            direction = rng.normal(0, 3, DIM)
            for word in words:
                self.embeddings[self.tokenizer.token_to_id(word)] += direction
        self.hidden = rng.normal(0, 0.5, (DIM, HIDDEN)).astype(np.float32)
        self.classes_ = CLASSES
        pooled = np.stack([self._hidden(" ".join(WORDS[c])) for c in CLASSES])
        self.head = (pooled.T / np.linalg.norm(pooled, axis=1)).astype(np.float32)
        self.bias = np.linspace(-0.1, 0.1, len(CLASSES)).astype(np.float32)

    def _hidden(self, text: str) -> np.ndarray:
        ids = self.tokenizer.encode(text).ids
        return np.maximum(self.embeddings[ids].mean(axis=0) @ self.hidden, 0)

    def predict_proba(self, texts):
        logits = np.stack([self._hidden(t) for t in texts]) @ self.head + self.bias
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        training = tokenizers.Tokenizer.from_str(self.tokenizer.to_str())
        training.no_truncation()
        training.save(str(directory / "tokenizer.json"))

    def export_onnx(self, directory: Path) -> dict:
        init = numpy_helper.from_array
        node = helper.make_node
        nodes = [
            node("Gather", ["embeddings", "input_ids"], ["tokens"], axis=0, name="embed"),
            node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT, name="cast"),
            node("Unsqueeze", ["mask_f", "axis2"], ["mask3"], name="unsqueeze"),
            node("Mul", ["tokens", "mask3"], ["masked"], name="mask"),
            node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0, name="sum"),
            node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0, name="count"),
            node("Div", ["summed", "count"], ["pooled"], name="mean"),
            node("MatMul", ["pooled", "hidden"], ["pre"], name="layer"),
            node("Relu", ["pre"], ["act"], name="relu"),
            node("MatMul", ["act", "head"], ["logits0"], name="head"),
            node("Add", ["logits0", "bias"], ["logits"], name="bias_add"),
            node("Softmax", ["logits"], ["probabilities"], axis=-1, name="softmax"),
        ]
        ints = [TensorProto.INT64, ["batch", "sequence"]]
        graph = helper.make_graph(
            nodes,
            "toy",
            [
                helper.make_tensor_value_info("input_ids", *ints),
                helper.make_tensor_value_info("attention_mask", *ints),
            ],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 4])],
            [
                init(self.embeddings, "embeddings"),
                init(self.hidden, "hidden"),
                init(self.head, "head"),
                init(self.bias, "bias"),
                init(np.array([1], np.int64), "axis1"),
                init(np.array([2], np.int64), "axis2"),
            ],
        )
        opset = [helper.make_opsetid("", 17)]
        model = helper.make_model(graph, opset_imports=opset, ir_version=8)
        onnx.checker.check_model(model)
        onnx.save(model, str(directory / "model.onnx"))
        runtime = tokenizers.Tokenizer.from_str(self.tokenizer.to_str())
        runtime.enable_padding(pad_id=0, pad_token="[PAD]")
        runtime.save(str(directory / "tokenizer.json"))
        return {
            "kind": "encoder",
            "inputs": ["input_ids", "attention_mask"],
            "output": "probabilities",
            "max_length": MAX_LENGTH,
            "tokenizer": "tokenizer.json",
            "opset": 17,
        }


def _texts() -> list[str]:
    rng = np.random.default_rng(3)
    texts = []
    for i in range(150):  # more than two 64-text batches, lengths 1..20 words
        label = CLASSES[i % len(CLASSES)]
        words = list(rng.choice(WORDS[label], size=1 + i % 3)) + list(
            rng.choice(FILLER, size=i % 18)
        )
        rng.shuffle(words)
        texts.append(" ".join(words))
    return [*texts, "completely unknown words here", "Hello"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, ToyEncoder, object]:
    directory = tmp_path_factory.mktemp("toy")
    model = ToyEncoder()
    model.save(directory)
    (directory / "labels.json").write_text(json.dumps(list(CLASSES)), encoding="utf-8")
    texts = _texts()
    labels = [CLASSES[i % len(CLASSES)] for i in range(150)] + ["refund", "greeting"]
    report = export_backend(model, directory, texts=texts, labels=labels)
    return directory, model, report


def test_encoder_export_writes_the_convention(exported):
    directory, _, report = exported
    manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["kind"] == "encoder"
    assert manifest["inputs"] == ["input_ids", "attention_mask"]
    assert manifest["max_length"] == MAX_LENGTH
    # The native tokenizer.json (no padding) is kept; the runtime one gets its own name.
    assert manifest["tokenizer"] == "onnx_tokenizer.json"
    assert tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json")).padding is None
    assert tokenizers.Tokenizer.from_file(str(directory / "onnx_tokenizer.json")).padding
    assert report.files == ("model.int8.onnx", "model.onnx", "onnx_tokenizer.json", MANIFEST_FILE)
    # The head stays float (onnxruntime may have fused its MatMul + Add into a Gemm); the
    # hidden MatMul is quantized.
    float_nodes = manifest["quantization"]["float_nodes"]
    assert float_nodes and all(name.startswith("head") for name in float_nodes)
    int8_nodes = onnx.load(str(directory / "model.int8.onnx")).graph.node
    head_ops = {n.op_type for n in int8_nodes if n.name.startswith("head")}
    assert head_ops and head_ops <= {"MatMul", "Gemm", "Add"}
    assert {n.name for n in int8_nodes if n.op_type == "MatMulInteger"} == {"layer_quant"}


def test_encoder_parity(exported):
    _, _, report = exported
    assert report.parity.n == 152
    assert report.parity.fp32.agreement == 1.0
    assert report.parity.fp32.max_abs_diff < 1e-5
    assert report.parity.int8.agreement >= 0.995
    assert report.parity.int8.accuracy == pytest.approx(report.parity.native_accuracy, abs=0.01)


def test_onnx_model_pads_truncates_and_keeps_order(exported):
    directory, model, _ = exported
    texts = _texts()
    onnx_model = OnnxModel.load(directory, batch_size=16)
    assert onnx_model.kind == "encoder"
    np.testing.assert_allclose(
        onnx_model.predict_proba(texts), model.predict_proba(texts), atol=1e-5
    )
    single = onnx_model.predict_proba([texts[7]])
    np.testing.assert_allclose(single, model.predict_proba([texts[7]]), atol=1e-5)
    assert onnx_model.predict_proba([]).shape == (0, len(CLASSES))


def test_reexport_reuses_its_own_tokenizer_name(exported):
    directory, model, _ = exported
    native_tokenizer = (directory / "tokenizer.json").read_bytes()
    report = export_backend(model, directory, texts=_texts()[:20])
    assert "onnx_tokenizer.json" in report.files
    assert (directory / "tokenizer.json").read_bytes() == native_tokenizer
    assert not (directory / "onnx_onnx_tokenizer.json").exists()
