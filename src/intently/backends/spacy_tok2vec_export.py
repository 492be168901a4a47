"""ONNX export of spaCy's tok2vec textcats: ``TextCatReduce.v1``, ``TextCatCNN.v2`` and the
default ``TextCatEnsemble.v2``, reproduced layer by layer from their thinc weights.

What spaCy computes (spaCy 3.8 / thinc 8.3), and where the export puts it:

- **Token features** (the runtime preprocessor, :mod:`intently.runtime.spacy_tok2vec`): the
  ``MultiHashEmbed`` attributes of each token (NORM, PREFIX, SUFFIX, SHAPE; the ensemble adds
  LOWER) as 64-bit string keys, each hashed into four rows of its ``HashEmbed`` table.
- **Embedding** (graph): the four rows of each table summed, the tables' vectors concatenated,
  then ``Maxout`` (pieces ``nP``) and ``LayerNorm``.
- **Encoder** (graph): ``depth`` residual blocks of ``expand_window`` (each token's vector
  concatenated with its ``window`` neighbours on each side, zeros beyond the sequence),
  ``Maxout`` and ``LayerNorm``. thinc runs them on the docs of a batch concatenated with
  ``window · depth`` zero rows before, between and after them, and those padding rows are
  transformed by every block like tokens; the graph reproduces that by padding each text with
  ``window · depth`` zero rows on both sides (rows further away cannot reach a token).
- **Heads**: ``TextCatReduce`` concatenates the first, last, max and mean token vectors (the
  ones it was configured with; ``TextCatCNN`` is the mean alone) into ``Softmax``. The
  ensemble pools tokens with ``ParametricAttention`` (``softmax`` over the text of
  ``clip(x · Q, -20, 20)``, no max subtracted, as thinc's ``softmax_sequences``), sums them,
  adds ``LayerNorm(Maxout(pooled))``, and concatenates its ``TextCatBOW`` probabilities (the
  BOW export's rows and counts) in front before the output ``Softmax``.

The tok2vec may be the textcat's own or a shared ``tok2vec`` component the textcat listens to
(``Tok2VecListener``, the layout of ``spacy init config --optimize accuracy``): the listener
passes on what that component computed, so its weights are read in the listener's place.
Dropout is off at inference. Anything else in the model (static vectors, character embeddings,
Mish or LSTM encoders, a non-exclusive output) is refused with ExportUnsupportedError naming
it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends.base import ONNX_MODEL_FILE, ONNX_OPSET, ONNX_OUTPUT
from intently.errors import ExportUnsupportedError
from intently.runtime.spacy_tok2vec import ATTRIBUTES, PREPROCESSOR_FORMAT

PREPROCESSOR_FILE = "spacy_tok2vec.json"
TOK2VEC_ARCHITECTURES = (
    "spacy.TextCatReduce.v1",
    "spacy.TextCatCNN.v2",
    "spacy.TextCatEnsemble.v2",
)
_REDUCTIONS = ("reduce_first", "reduce_last", "reduce_max", "reduce_mean")
_EMBED_LEAVES = {
    "extract_features",
    "list2ragged",
    "ints-getitem",
    "hashembed",
    "maxout",
    "layernorm",
    "dropout",
    "ragged2list",
}
_ENCODE_LEAVES = {"expand_window", "maxout", "layernorm", "dropout"}
_LN_EPSILON = 1e-8  # thinc LayerNorm: (x - mean) / sqrt(var + 1e-8)
_LOWEST = np.float32(np.finfo(np.float32).min)


@dataclass(frozen=True)
class Maxout:
    """A thinc ``Maxout`` (``W`` ``[nO, nP, nI]``, ``b`` ``[nO, nP]``), optionally followed by
    ``LayerNorm`` (``G``, ``beta`` ``[nO]``)."""

    W: np.ndarray
    b: np.ndarray
    G: np.ndarray | None = None
    beta: np.ndarray | None = None


@dataclass(frozen=True)
class Tok2VecModel:
    """The weights of a tok2vec textcat, in columns of ``classes`` order."""

    architecture: str
    attributes: tuple[str, ...]
    tables: list[dict[str, Any]]
    """Per ``HashEmbed``: ``column``, ``seed``, ``rows`` and ``E`` (``[rows, width]``)."""
    embed: Maxout
    window: int
    blocks: list[Maxout]
    """The encoder's residual blocks (each ``expand_window`` by :attr:`window`)."""
    pad: int
    """Zero rows thinc puts around each text in the encoder (``window · depth``)."""
    reductions: tuple[str, ...]
    output_W: np.ndarray
    output_b: np.ndarray
    attention: np.ndarray | None = None
    """The ensemble: ``ParametricAttention``'s ``Q`` ``[width]``."""
    pooled: Maxout | None = None
    """The ensemble: the residual ``Maxout`` + ``LayerNorm`` after attention."""
    bow: dict[str, Any] = field(default_factory=dict)
    """The ensemble's ``TextCatBOW``: ``W`` ``[length, classes]``, ``b``, ``length``,
    ``ngram_size``, ``softmax`` (whether it ends with one)."""


def _refuse(architecture: str, what: str) -> ExportUnsupportedError:
    return ExportUnsupportedError(
        f"the spaCy textcat {architecture!r} cannot be exported faithfully: {what}.",
        hint="serve it with the native runtime (Classifier.load(..., runtime='native')), or "
        "train with architecture: bow, cnn, reduce or ensemble as Intently generates them.",
    )


def _leaves(model: Any) -> list[Any]:
    return [node for node in model.walk() if not node.layers]


def _array(node: Any, name: str) -> np.ndarray:
    return np.asarray(node.get_param(name), dtype=np.float32)


def _maxout(block: Any, architecture: str, *, normalized: bool) -> Maxout:
    """The one ``maxout`` (and ``layernorm`` when ``normalized``) inside ``block``."""
    maxouts = [n for n in block.walk() if n.name == "maxout"]
    norms = [n for n in block.walk() if n.name == "layernorm"]
    if len(maxouts) != 1 or len(norms) != int(normalized):
        raise _refuse(architecture, f"unexpected layers in {block.name!r}")
    (maxout,) = maxouts
    nO, nP, nI = (int(maxout.get_dim(d)) for d in ("nO", "nP", "nI"))
    weights = _array(maxout, "W").reshape(nO, nP, nI)
    bias = _array(maxout, "b").reshape(nO, nP)
    if not normalized:
        return Maxout(weights, bias)
    return Maxout(weights, bias, _array(norms[0], "G"), _array(norms[0], "b"))


def _embed(embed: Any, architecture: str) -> tuple[tuple[str, ...], list[dict[str, Any]], Maxout]:
    """``MultiHashEmbed`` without static vectors: attributes, tables, the mixing Maxout."""
    (extract,) = [n for n in embed.walk() if n.name == "extract_features"]
    from spacy.attrs import IDS as ATTR_IDS

    names = {value: key for key, value in ATTR_IDS.items()}
    attributes = tuple(
        str(c).upper() if isinstance(c, str) else names.get(int(c), str(c))
        for c in extract.attrs["columns"]
    )
    unknown = [a for a in attributes if a not in ATTRIBUTES]
    if unknown:
        raise _refuse(architecture, f"its embedding reads the token attributes {unknown}")
    concatenated = embed.layers[2].layers[0]  # with_array(concatenate(HashEmbed, ...))
    # concatenate() of one layer is that layer: a chain of ints-getitem >> hashembed
    several = "|" in concatenated.name
    tables = []
    for branch in concatenated.layers if several else [concatenated]:
        (hashembed,) = [n for n in branch.walk() if n.name == "hashembed"]
        tables.append(
            {
                "column": int(hashembed.attrs["column"]),
                "seed": int(hashembed.attrs["seed"]),
                "rows": int(hashembed.get_dim("nV")),
                "E": _array(hashembed, "E"),
            }
        )
    return attributes, tables, _maxout(embed.layers[3], architecture, normalized=True)


def _encoder(encode: Any, architecture: str) -> tuple[int, list[Maxout], int]:
    """``MaxoutWindowEncoder``: the window, its residual blocks and thinc's padding."""
    stack = encode.layers[0]
    # clone(residual(...), depth) is a chain of residual blocks, or the block itself
    chained = all(layer.name.startswith("residual") for layer in stack.layers)
    residuals = list(stack.layers) if chained else [stack]
    windows = set()
    blocks = []
    for residual in residuals:
        if not residual.name.startswith("residual"):
            raise _refuse(architecture, f"unexpected encoder layer {residual.name!r}")
        (expand,) = [n for n in residual.walk() if n.name == "expand_window"]
        windows.add(int(expand.attrs["window_size"]))
        blocks.append(_maxout(residual, architecture, normalized=True))
    if len(windows) != 1:
        raise _refuse(architecture, "its encoder blocks have different windows")
    return windows.pop(), blocks, int(encode.attrs.get("pad", 0))


def _output(layer: Any, architecture: str) -> tuple[np.ndarray, np.ndarray]:
    """The output ``Softmax``'s ``W`` ``[classes, nI]`` and ``b`` (temperature folded in)."""
    if layer.name != "softmax" or not layer.attrs.get("softmax_normalize", True):
        raise _refuse(architecture, "its output is not a softmax (non-exclusive classes)")
    temperature = float(layer.attrs.get("softmax_temperature", 1.0))
    return _array(layer, "W") / temperature, _array(layer, "b") / temperature


def _shared_tok2vec(listener: Any, nlp: Any, architecture: str) -> Any:
    """The model of the ``tok2vec`` component of ``nlp`` that ``listener`` listens to (a
    ``Tok2VecListener`` passes on, at inference, exactly what that component computed for the
    doc, so the export reads the component's weights in its place)."""
    for _, component in getattr(nlp, "pipeline", ()):
        if any(candidate is listener for candidate in getattr(component, "listeners", ())):
            return component.model
    upstream = getattr(listener, "upstream_name", "?")
    raise _refuse(architecture, f"its tok2vec listens to {upstream!r}, not found in the pipeline")


def read_tok2vec_model(textcat: Any, architecture: str, nlp: Any = None) -> Tok2VecModel:
    """The weights of ``textcat`` (a spaCy ``TextCategorizer`` of ``nlp``) whose model is a
    ``TextCatReduce``/``TextCatCNN``/``TextCatEnsemble``, with its own tok2vec or listening to
    a shared ``tok2vec`` component of ``nlp`` (as ``spacy init config --optimize accuracy``
    configures it); ExportUnsupportedError naming what does not fit."""
    model = textcat.model
    tok2vec = model.get_ref("tok2vec") if model.has_ref("tok2vec") else None
    if tok2vec is None:
        raise _refuse(architecture, "it has no tok2vec")
    if "listener" in tok2vec.name:
        tok2vec = _shared_tok2vec(tok2vec, nlp, architecture)
    if not (tok2vec.has_ref("embed") and tok2vec.has_ref("encode")):
        raise _refuse(architecture, f"its tok2vec {tok2vec.name!r} is not Tok2Vec.v2")
    embed_layer, encode_layer = tok2vec.get_ref("embed"), tok2vec.get_ref("encode")
    # the layers first (a model that cannot be exported may not even be initialised)
    unexpected = sorted({n.name for n in _leaves(embed_layer)} - _EMBED_LEAVES)
    if unexpected:
        raise _refuse(architecture, f"its token embedding uses {', '.join(unexpected)}")
    unexpected = sorted({n.name for n in _leaves(encode_layer)} - _ENCODE_LEAVES)
    if unexpected or not encode_layer.name.startswith("with_array"):
        used = ", ".join(unexpected) or encode_layer.name
        raise _refuse(architecture, f"its encoder uses {used}")
    attributes, tables, embed = _embed(embed_layer, architecture)
    window, blocks, pad = _encoder(encode_layer, architecture)
    if pad != window * len(blocks):
        raise _refuse(architecture, f"its encoder pads {pad} rows, not window × depth")
    common = {
        "architecture": architecture,
        "attributes": attributes,
        "tables": tables,
        "embed": embed,
        "window": window,
        "blocks": blocks,
        "pad": pad,
    }
    if architecture == "spacy.TextCatEnsemble.v2":
        return _ensemble(model, architecture, common)
    # concatenate(reduce_first, ...) is named "reduce_first|...", and comes before its layers
    pooling = [n for n in model.walk() if all(r in _REDUCTIONS for r in n.name.split("|"))]
    if not pooling:
        raise _refuse(architecture, "no reduce_first/last/max/mean pooling found")
    reductions = tuple(pooling[0].name.split("|"))
    weights, bias = _output(model.get_ref("output_layer"), architecture)
    return Tok2VecModel(**common, reductions=reductions, output_W=weights, output_b=bias)


def _ensemble(model: Any, architecture: str, common: dict[str, Any]) -> Tok2VecModel:
    from intently.backends.spacy_export import bow_parts

    linear, cnn = model.layers[0].layers  # (linear_model | cnn_model) >> output_layer
    # cnn_model: tok2vec >> list2ragged >> attention >> reduce_sum >> residual(maxout >> norm)
    inside = {node.id for node in model.get_ref("tok2vec").walk()}
    after = sorted(node.name for node in _leaves(cnn) if node.id not in inside)
    expected = ["dropout", "layernorm", "list2ragged", "maxout", "para-attn", "reduce_sum"]
    if after != expected or not cnn.layers[-1].name.startswith("residual"):
        raise _refuse(architecture, f"its attention branch has the layers {after}")
    (attention,) = [n for n in cnn.walk() if n.name == "para-attn"]
    pooled = _maxout(cnn.layers[-1], architecture, normalized=True)
    bow_W, bow_b, length, ngram_size = bow_parts(linear, architecture)
    softmax = any(n.name == "softmax_activation" for n in linear.walk())
    weights, bias = _output(model.layers[1], architecture)
    return Tok2VecModel(
        **common,
        reductions=(),
        output_W=weights,
        output_b=bias,
        attention=_array(attention, "Q").reshape(-1),
        pooled=pooled,
        bow={
            "W": bow_W,
            "b": bow_b,
            "length": length,
            "ngram_size": ngram_size,
            "softmax": softmax,
        },
    )


def reorder(weights: Tok2VecModel, order: Sequence[int]) -> Tok2VecModel:
    """``weights`` with output columns (and the BOW's) in ``order``."""
    from dataclasses import replace

    order = list(order)
    bow = dict(weights.bow)
    if bow:
        bow["W"], bow["b"] = bow["W"][:, order], bow["b"][order]
        n = len(order)  # the output layer reads the BOW's classes first, then the pooled vector
        columns = [*order, *range(n, weights.output_W.shape[1])]
        output_W = weights.output_W[order][:, columns]
    else:
        output_W = weights.output_W[order]
    return replace(weights, output_W=output_W, output_b=weights.output_b[order], bow=bow)


class _Graph:
    """A small ONNX graph builder: constants, nodes with generated names.

    The nodes of each Maxout (+ LayerNorm) layer are named ``/layers.<i>/…`` so that int8
    quantization can tell the layers apart (:func:`intently.export.quantize.layer_nodes`) and,
    when quantizing everything loses too much agreement, keep the most sensitive ones float.
    """

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._layers = 0
        self._scope = ""

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], **attrs: Any) -> str:
        from onnx import helper

        self._count += 1
        out = f"{self._scope}{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def maxout(self, x: str, layer: Maxout, prefix: str, *, tokens: bool = True) -> str:
        """``[batch, (tokens,) nI]`` → ``[batch, (tokens,) nO]``: the best of ``nP`` affine
        pieces, then LayerNorm when the layer has one."""
        nO, nP, nI = layer.W.shape
        self._scope = f"/layers.{self._layers}/"
        self._layers += 1
        weights = self.const(f"{prefix}_W", layer.W.reshape(nO * nP, nI).T)
        bias = self.const(f"{prefix}_b", layer.b.reshape(nO * nP))
        pieces = self.op("Add", [self.op("MatMul", [x, weights]), bias])
        leading = [0, 0] if tokens else [0]
        shape = self.const(f"{prefix}_pieces", [*leading, nO, nP], np.int64)
        best = self.op("ReduceMax", [self.op("Reshape", [pieces, shape])], axes=[-1], keepdims=0)
        if layer.G is not None:
            gain = self.const(f"{prefix}_G", layer.G)
            beta = self.const(f"{prefix}_beta", layer.beta)
            best = self.op("LayerNormalization", [best, gain, beta], axis=-1, epsilon=_LN_EPSILON)
        self._scope = ""
        return best


def build_graph(weights: Tok2VecModel, pad_row: int) -> Any:
    """The ONNX model: ``rows`` (and for the ensemble ``bow_rows``, ``bow_counts``) →
    ``probabilities``."""
    from onnx import TensorProto, helper

    g = _Graph()
    n_tables = len(weights.tables)
    width = weights.tables[0]["E"].shape[1]
    table = np.vstack([t["E"] for t in weights.tables] + [np.zeros((1, width), np.float32)])
    assert table.shape[0] == pad_row + 1
    # rows [batch, T, 4·K] → the K tables' vectors, each the sum of its 4 hashed rows
    gathered = g.op("Gather", [g.const("tables", table), "rows"], axis=0)
    split = g.op("Reshape", [gathered, g.const("split", [0, 0, n_tables, 4, width], np.int64)])
    summed = g.op("ReduceSum", [split, g.const("axis_3", [3], np.int64)], keepdims=0)
    concat = g.op("Reshape", [summed, g.const("concat", [0, 0, n_tables * width], np.int64)])
    x = g.maxout(concat, weights.embed, "embed")
    # tokens vs padding: the padding row is the all-zero last row
    first_rows = g.op("Gather", ["rows", g.const("zero", 0, np.int64)], axis=2)
    is_token = g.op("Less", [first_rows, g.const("pad_row", pad_row, np.int64)])
    axis_last = g.const("axis_last", [-1], np.int64)
    mask = g.op("Unsqueeze", [g.op("Cast", [is_token], to=TensorProto.FLOAT), axis_last])
    x = g.op("Mul", [x, mask])
    pad = weights.pad
    if pad:
        x = g.op("Pad", [x, g.const("pad_text", [0, pad, 0, 0, pad, 0], np.int64)])
    n_window = weights.window
    side = g.const("pad_window", [0, n_window, 0, 0, n_window, 0], np.int64)
    axis_1 = g.const("axis_1", [1], np.int64)
    for i, block in enumerate(weights.blocks):
        padded = g.op("Pad", [x, side])
        shifted = []
        for offset in range(2 * n_window + 1):
            end = offset - 2 * n_window
            start_c = g.const(f"start_{i}_{offset}", [offset], np.int64)
            end_c = g.const(f"end_{i}_{offset}", [end if end else np.iinfo(np.int64).max], np.int64)
            shifted.append(g.op("Slice", [padded, start_c, end_c, axis_1]))
        window = g.op("Concat", shifted, axis=-1)
        x = g.op("Add", [x, g.maxout(window, block, f"block{i}")])
    if pad:
        x = g.op(
            "Slice",
            [
                x,
                g.const("text_start", [pad], np.int64),
                g.const("text_end", [-pad], np.int64),
                axis_1,
            ],
        )
    lengths = g.op("ReduceSum", [mask, axis_1], keepdims=1)  # [batch, 1, 1]
    lengths = g.op("Max", [lengths, g.const("one", 1.0)])  # an empty text: no division by 0
    if weights.attention is None:
        pooled = _reduce(g, weights, x, mask, lengths, axis_1)
    else:
        pooled = _attend(g, weights, x, mask, axis_1)
    output_W = g.const("output_W", weights.output_W.T)
    logits = g.op(
        "Add", [g.op("MatMul", [pooled, output_W]), g.const("output_b", weights.output_b)]
    )
    g.nodes.append(helper.make_node("Softmax", [logits], [ONNX_OUTPUT], axis=-1, name="softmax"))
    n_classes = weights.output_W.shape[0]
    inputs = [
        helper.make_tensor_value_info("rows", TensorProto.INT64, ["batch", "tokens", 4 * n_tables])
    ]
    if weights.bow:
        inputs += [
            helper.make_tensor_value_info("bow_rows", TensorProto.INT64, ["batch", "keys"]),
            helper.make_tensor_value_info("bow_counts", TensorProto.FLOAT, ["batch", "keys"]),
        ]
    graph = helper.make_graph(
        g.nodes,
        "intently_spacy_tok2vec",
        inputs,
        [helper.make_tensor_value_info(ONNX_OUTPUT, TensorProto.FLOAT, ["batch", n_classes])],
        g.initializers,
    )
    opset = [helper.make_opsetid("", ONNX_OPSET)]
    return helper.make_model(
        graph,
        opset_imports=opset,
        ir_version=helper.find_min_ir_version_for(opset),
        producer_name="intently",
        doc_string=f"spaCy {weights.architecture}: {len(weights.blocks)} blocks of width {width}",
    )


def _reduce(g: _Graph, weights: Tok2VecModel, x: str, mask: str, lengths: str, axis_1: str) -> str:
    """``TextCatReduce``'s pooled vector: the configured reductions, concatenated."""
    parts = []
    for reduction in weights.reductions:
        if reduction == "reduce_first":
            parts.append(g.op("Gather", [x, g.const("first", 0, np.int64)], axis=1))
        elif reduction == "reduce_last":
            positions = g.op("CumSum", [mask, g.const("cum_axis", 1, np.int64)])
            last = g.op("Cast", [g.op("Equal", [positions, lengths])], to=1)  # FLOAT
            last = g.op("Mul", [last, mask])
            parts.append(g.op("ReduceSum", [g.op("Mul", [x, last]), axis_1], keepdims=0))
        elif reduction == "reduce_max":
            is_token = g.op("Cast", [mask], to=9)  # BOOL
            lowest = g.const("lowest", _LOWEST)
            best = g.op("ReduceMax", [g.op("Where", [is_token, x, lowest])], axes=[1], keepdims=0)
            found = g.op("Cast", [g.op("Greater", [best, lowest])], to=1)  # 0 for an empty text
            parts.append(g.op("Mul", [best, found]))
        else:  # reduce_mean
            total = g.op("ReduceSum", [g.op("Mul", [x, mask]), axis_1], keepdims=0)
            count = g.op("Squeeze", [lengths, axis_1])
            parts.append(g.op("Div", [total, count]))
    return parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=-1)


def _attend(g: _Graph, weights: Tok2VecModel, x: str, mask: str, axis_1: str) -> str:
    """The ensemble's pooled vector (BOW probabilities first, then attention-pooled tokens)."""
    assert weights.attention is not None and weights.pooled is not None
    scores = g.op("MatMul", [x, g.const("attention_Q", weights.attention.reshape(-1, 1))])
    clipped = g.op("Clip", [scores, g.const("clip_low", -20.0), g.const("clip_high", 20.0)])
    exp = g.op("Mul", [g.op("Exp", [clipped]), mask])
    total = g.op("ReduceSum", [exp, axis_1], keepdims=1)  # ≥ exp(-20) for a non-empty text
    share = g.op("Div", [exp, g.op("Max", [total, g.const("tiny", 1e-30)])])
    attended = g.op("ReduceSum", [g.op("Mul", [x, share]), axis_1], keepdims=0)
    hidden = g.op("Add", [attended, g.maxout(attended, weights.pooled, "pooled", tokens=False)])
    bow = weights.bow
    used = np.flatnonzero(np.any(bow["W"] != 0, axis=1))
    row_map = np.full(bow["length"] + 1, len(used), dtype=np.int64)  # padding: row `length`
    row_map[used] = np.arange(len(used))
    table = np.vstack([bow["W"][used], np.zeros((1, bow["W"].shape[1]), np.float32)])
    stored = g.op("Gather", [g.const("bow_row_map", row_map, np.int64), "bow_rows"], axis=0)
    rows = g.op("Gather", [g.const("bow_table", table), stored], axis=0)  # [batch, keys, C]
    weighted = g.op(
        "Mul", [rows, g.op("Unsqueeze", ["bow_counts", g.const("axis_2", [2], np.int64)])]
    )
    scores = g.op(
        "Add", [g.op("ReduceSum", [weighted, axis_1], keepdims=0), g.const("bow_b", bow["b"])]
    )
    linear = g.op("Softmax", [scores], axis=-1) if bow["softmax"] else scores
    return g.op("Concat", [linear, hidden], axis=-1)


def export_tok2vec(
    nlp: Any, component: str, classes: Sequence[str], directory: Path, *, lowercase: bool = False
) -> dict[str, Any]:
    """Write ``model.onnx`` and ``spacy_tok2vec.json`` for the tok2vec textcat ``component``
    of ``nlp`` (columns in ``classes`` order); the export description for ``onnx.json``.
    ``lowercase``: the model reads ``text.lower()`` (the preprocessor lower-cases first)."""
    import onnx
    import spacy
    from spacy.symbols import IDS

    from intently.backends.spacy_export import tokenizer_rules

    textcat = nlp.get_pipe(component)
    architecture = nlp.config["components"][component]["model"]["@architectures"]
    if architecture not in TOK2VEC_ARCHITECTURES:
        raise _refuse(architecture, "it is not one of " + ", ".join(TOK2VEC_ARCHITECTURES))
    weights = read_tok2vec_model(textcat, architecture, nlp)
    weights = reorder(weights, [list(textcat.labels).index(label) for label in classes])
    offsets = np.cumsum([0] + [t["rows"] for t in weights.tables])
    pad_row = int(offsets[-1])
    model = build_graph(weights, pad_row)
    onnx.checker.check_model(model, full_check=True)
    directory = Path(directory)
    onnx.save(model, directory / ONNX_MODEL_FILE)
    preprocessor = {
        "format": PREPROCESSOR_FORMAT,
        "spacy_version": spacy.__version__,
        "architecture": architecture,
        "tokenizer": tokenizer_rules(nlp.tokenizer, norms=True),
        "symbols": dict(IDS),
        "norm_exceptions": norm_exceptions(nlp.vocab, architecture),
        "attributes": list(weights.attributes),
        "tables": [
            {"column": t["column"], "seed": t["seed"], "rows": t["rows"], "offset": int(o)}
            for t, o in zip(weights.tables, offsets, strict=False)
        ],
        "pad_row": pad_row,
        "lowercase": lowercase,
        "bow": (
            {"ngram_size": weights.bow["ngram_size"], "length": weights.bow["length"]}
            if weights.bow
            else None
        ),
    }
    (directory / PREPROCESSOR_FILE).write_text(
        json.dumps(preprocessor, ensure_ascii=False), encoding="utf-8"
    )
    inputs = ["rows", "bow_rows", "bow_counts"] if weights.bow else ["rows"]
    return {
        "kind": "spacy_tok2vec",
        "inputs": inputs,
        "output": ONNX_OUTPUT,
        "opset": ONNX_OPSET,
        "preprocessor": PREPROCESSOR_FILE,
    }


def norm_exceptions(vocab: Any, architecture: str) -> dict[str, str]:
    """The vocabulary's NORM look-ups (the language's norm exceptions, a ``lexeme_norm``
    table) as ORTH key → NORM, first look-up first; ExportUnsupportedError when the NORM
    getter is not look-ups over ``lower()``."""
    import functools

    from spacy.attrs import NORM
    from spacy.lang.lex_attrs import lower
    from spacy.strings import get_string_id
    from spacy.util import _get_attr_unless_lookup

    getter = vocab.lex_attr_getters.get(NORM)
    tables: list[Any] = []
    while isinstance(getter, functools.partial) and getter.func is _get_attr_unless_lookup:
        getter, lookups = getter.args
        tables = [*tables, *lookups]  # the outer partial's look-ups are tried first
    if getter is not lower:
        raise _refuse(architecture, f"its vocabulary computes NORM with {getter!r}")
    merged: dict[str, str] = {}
    for table in tables:
        for key, value in table.items():  # Table keys are already string ids
            merged.setdefault(str(key if isinstance(key, int) else get_string_id(key)), value)
    return merged
