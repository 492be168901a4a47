"""Graph optimisation and int8 dynamic quantization of an exported graph, with onnxruntime.

Choices, measured (numbers in docs of ``intently export`` and the export report):

- The saved ``model.onnx`` is optimised at ``ORT_ENABLE_BASIC``: constant folding and
  redundant-node elimination only, so the file keeps standard ``ai.onnx`` operators and runs in
  any ONNX runtime. ``ORT_ENABLE_EXTENDED`` fuses into ``com.microsoft`` operators that only
  onnxruntime's CPU provider runs and that the quantizer does not all understand; onnxruntime
  applies those fusions itself when a session opens the file.
- ``model.int8.onnx`` comes from ``quantize_dynamic`` (int8 weights; MatMul activations
  quantized on the fly) with one scale per output channel for MatMul weights
  (``per_channel``). The head (the MatMul/Gemm feeding the output through Softmax, Add, Mul...)
  stays float: it is tiny, and its error goes straight into the probabilities. Gathers of 1-D
  tables (the linear graph's per-feature scales) stay float too. ``reduce_range`` (7-bit
  weights) is off: it only helps on CPUs without VNNI and cost agreement on MiniLM.
- Quantization goes by :data:`LEVELS`, most aggressive first; export keeps the first level whose
  graph passes the parity check. ``"full"`` quantizes MatMul weights and activations and
  embedding tables; ``"mixed"`` is "full" with the transformer layers whose quantization
  disturbs the predictions most kept in float (see below); ``"blockwise"`` (graphs with
  transformer layers) replaces the MatMuls by 8-bit ``MatMulNBits`` that quantize weights and
  activations per block of 32 values (:data:`BLOCKWISE`) and the tables as "full" does;
  ``"embeddings"`` only the Gather tables (weights stored int8, MatMuls in float).
  "mixed" comes before "blockwise" for throughput: on the fine-tuned MiniLM for BANKING77,
  "mixed" (layers 0 and 1 float) serves 608 texts/s in batches and 3.0 ms per text, while
  "blockwise" agrees more (99.90% vs 99.58%) but serves only 364 texts/s (fp32: 379), 3.4 ms.
  On the frozen MiniLM + logistic-regression head of the embedding backend (BANKING77 test
  texts): "full" agrees on 98.7%, "blockwise" on 99.7-99.9% at 2.6 ms per text (fp32: 4.9 ms;
  "full": 1.5 ms); per-tensor activation scales are what "full" loses on, and smoothing
  activation outliers into the weights (SmoothQuant, alpha 0.3-0.8) did not recover it.
  On BANKING77 the linear graph passes at "full" (99.97% argmax agreement); a MiniLM-L6
  encoder + linear head reaches only ~98.8% at "full" (per-tensor: 95.9%, with
  ``reduce_range``: 98.0%) and 99.6% at "embeddings" (file 60% of fp32, and no faster).
- ``"mixed"`` is mixed precision chosen by sensitivity: each transformer layer (and the
  embedding lookups, as one more group) is quantized alone and scored by how many parity texts
  change their top class; the most sensitive groups are then kept in float one at a time until
  the parity check passes (at most half of them).
  Measured on the fine-tuned MiniLM for BANKING77: "full" 99.12% agreement at 838 texts/s;
  float layers 0 and 2 give 99.55% at ~570 texts/s (fp32: 379 texts/s); quantizing one layer
  alone costs 0.13-0.45 points depending on the layer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Operators between a graph's output and its classification head that do not change which
# node is "the head": activations, arithmetic with constants, reshapes.
_PASS_THROUGH = {
    "Softmax",
    "LogSoftmax",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Identity",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Flatten",
    "Cast",
}
_HEAD_OPS = {"MatMul", "Gemm"}

LEVELS: dict[str, list[str] | None] = {
    "full": None,
    "mixed": None,
    "blockwise": ["Gather"],
    "embeddings": ["Gather"],
}
"""Quantization levels, most aggressive first, and the operator types each quantizes with
``quantize_dynamic`` (None: every type it handles). "blockwise" first turns the MatMuls into
8-bit block-quantized ``MatMulNBits``; "mixed" also keeps some layers float."""
MIXED_LEVEL = "mixed"
BLOCKWISE_LEVEL = "blockwise"
ENCODER_LEVELS = (BLOCKWISE_LEVEL, MIXED_LEVEL)
"""Levels for graphs with transformer layers only; elsewhere they add nothing to the others."""
_LAYER = re.compile(r"/layers?\.(\d+)/")

QUANTIZATION = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False}
"""The ``quantize_dynamic`` settings; recorded with the excluded nodes in ``onnx.json``."""
BLOCKWISE = {"bits": 8, "block_size": 32, "is_symmetric": True, "accuracy_level": 4}
"""``MatMulNBits`` settings of the "blockwise" level: symmetric int8 weights with one scale per
32 input rows of each column, and (accuracy level 4) activations quantized to int8 per block of
32 values at run time, so an outlier only coarsens its own block."""


def optimize_graph(source: Path, target: Path) -> None:
    """Save ``source`` after onnxruntime's basic (portable) graph optimisations as ``target``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    _drop_unused_domains(target)


def _drop_unused_domains(path: Path) -> None:
    """onnxruntime declares every operator domain it knows; keep those the graph uses, so
    other runtimes do not refuse the file over a domain it never calls."""
    import onnx

    model = onnx.load(str(path))
    used = {node.domain for node in model.graph.node} | {""}
    kept = [opset for opset in model.opset_import if opset.domain in used]
    if len(kept) < len(model.opset_import):
        del model.opset_import[:]
        model.opset_import.extend(kept)
        onnx.save(model, str(path))


def float_nodes(model: Any) -> list[str]:
    """Names of the nodes to keep in float: the head and Gathers of 1-D tables."""
    by_output = {out: node for node in model.graph.node for out in node.output}
    initializers = {init.name: init for init in model.graph.initializer}
    keep: list[str] = []
    for output in model.graph.output:
        node = by_output.get(output.name)
        seen = 0
        while node is not None and seen < 32:  # a head is a few steps from the output
            seen += 1
            if node.op_type in _HEAD_OPS:
                keep.append(node.name)
                if node.op_type == "Gemm":  # dynamic quantization rewrites Gemm as MatMul + Add
                    keep.append(f"{node.name}_MatMul")
                break
            if node.op_type not in _PASS_THROUGH:
                break
            # Follow the first input that a node computes (not a constant).
            node = next((by_output[i] for i in node.input if i in by_output), None)
    for node in model.graph.node:
        table = initializers.get(node.input[0]) if node.op_type == "Gather" else None
        if table is not None and len(table.dims) == 1:
            keep.append(node.name)
    return keep


EMBEDDINGS_GROUP = -1
"""The group of the token-embedding lookups (Gathers of 2-D tables outside the layers)."""


def layer_nodes(source: Path) -> dict[int, list[str]]:
    """The nodes of each transformer layer (by the ``/layer.<i>/`` in exported node names), and
    as group :data:`EMBEDDINGS_GROUP` the embedding-table lookups; empty for graphs without
    layers (the linear backend's)."""
    import onnx

    model = onnx.load(str(source), load_external_data=False)
    tables = {init.name for init in model.graph.initializer if len(init.dims) == 2}
    layers: dict[int, list[str]] = {}
    lookups: list[str] = []
    for node in model.graph.node:
        match = _LAYER.search(node.name)
        if match and node.name:
            layers.setdefault(int(match.group(1)), []).append(node.name)
        elif node.op_type == "Gather" and node.name and node.input[0] in tables:
            lookups.append(node.name)
    if layers and lookups:
        layers[EMBEDDINGS_GROUP] = lookups
    return layers


def quantize_graph(
    source: Path,
    target: Path,
    *,
    level: str = "full",
    float_layers: dict[int, list[str]] | None = None,
) -> dict[str, Any]:
    """Write the int8 graph of ``source`` to ``target`` at ``level`` (one of :data:`LEVELS`);
    ``float_layers`` (layer index → node names) stay float. Returns the settings used."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source), load_external_data=False)
    unnamed = [node for node in model.graph.node if not node.name]
    if unnamed:  # nodes_to_exclude matches by name
        for i, node in enumerate(unnamed):
            node.name = f"{node.op_type}_{i}_unnamed"
        onnx.save(model, str(source))
    keep = float_nodes(model)
    for names in (float_layers or {}).values():
        keep.extend(names)
    if level == BLOCKWISE_LEVEL:
        _block_quantize_matmuls(model, target, keep)
        source = target
    with _quiet_quantizer():
        quantize_dynamic(
            source,
            target,
            weight_type=getattr(QuantType, QUANTIZATION["weight_type"]),
            per_channel=QUANTIZATION["per_channel"],
            reduce_range=QUANTIZATION["reduce_range"],
            nodes_to_exclude=keep,
            op_types_to_quantize=LEVELS[level],
        )
    settings = {**QUANTIZATION, "mode": "dynamic", "level": level, "float_nodes": keep}
    if level == BLOCKWISE_LEVEL:
        settings["matmul"] = {"op": "MatMulNBits", **BLOCKWISE}
    if float_layers:
        settings["float_layers"] = sorted(float_layers)
    return settings


def _block_quantize_matmuls(model: Any, target: Path, keep: list[str]) -> None:
    """Write ``model`` to ``target`` with its constant-weight MatMuls (but ``keep``) as
    ``MatMulNBits`` (:data:`BLOCKWISE`)."""
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:  # it needs the onnx-ir package (the neural extra)
        raise QuantizationUnavailableError(f"blockwise int8 needs {exc.name}") from None

    with _quiet_quantizer(nbits=True):
        quantizer = MatMulNBitsQuantizer(model, nodes_to_exclude=list(keep), **BLOCKWISE)
        quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


class QuantizationUnavailableError(RuntimeError):
    """A quantization level needs a package that is not installed; export skips the level."""


class _DropPreprocessAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextmanager
def _quiet_quantizer(*, nbits: bool = False) -> Iterator[None]:
    """Hide the quantizer's generic pre-processing advice (it logs through the root logger):
    the graph was already optimised by onnxruntime, which is the pre-processing it means; and
    (``nbits``) the MatMulNBits quantizer's line per node it skips."""
    advice = _DropPreprocessAdvice()
    root = logging.getLogger()
    root.addFilter(advice)
    nbits_logger = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = nbits_logger.level
    if nbits:
        nbits_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeFilter(advice)
        nbits_logger.setLevel(level)
