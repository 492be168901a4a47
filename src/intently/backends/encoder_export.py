"""One ONNX graph for a sentence encoder with a head on top: tokens → probabilities.

:class:`ProbabilityModule` chains body → pooling → normalisation → head → softmax in one torch
module; :func:`export_onnx` writes it as ``model.onnx`` (inputs ``input_ids`` and
``attention_mask``, output ``probabilities``; with ``vectors=True`` also ``sentence_vector``,
the pooled and normalised text vector an out-of-scope novelty reads) next to the
``tokenizer.json`` that feeds it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from intently.backends.bodies import TOKENIZER_FILE
from intently.backends.encoder import SentenceEncoder, pool, torch_threads, write_tokenizer
from intently.runtime.onnx_model import OUTPUT, VECTORS

if TYPE_CHECKING:
    import tokenizers

ONNX_FILE = "model.onnx"
ONNX_OPSET = 17


class ProbabilityModule(torch.nn.Module):
    """body → pooling → L2 normalisation → ``head`` (embeddings → logits) → softmax, and the
    normalised vectors too when ``vectors``."""

    def __init__(self, body: Any, head: Any, pooling: str, vectors: bool = False):
        super().__init__()
        self.body = body
        self.head = head
        self.pooling = pooling
        self.vectors = vectors

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = pool(hidden, attention_mask, self.pooling)
        proba = torch.softmax(self.head(pooled), dim=-1)
        return (proba, pooled) if self.vectors else proba


def export_onnx(
    encoder: SentenceEncoder, head: torch.nn.Module, directory: Path, *, vectors: bool = False
) -> dict[str, Any]:
    """Write ``model.onnx`` (body → pooling → normalise → ``head`` → softmax; with ``vectors``
    the normalised vectors as a second output) and ``tokenizer.json`` into ``directory``;
    return what the runtime needs to feed it."""
    module = ProbabilityModule(encoder.model, head, encoder.pooling, vectors).eval()
    ids, _ = encoder.tokenize(["a short example", "a somewhat longer example text to export"])
    return export_module(
        module,
        encoder.pad(ids),
        Path(directory),
        body=encoder.model,
        tokenizer=encoder.tokenizer,
        pad_id=encoder.pad_id,
        max_length=encoder.max_length,
        threads=encoder.threads,
        outputs=(OUTPUT, VECTORS) if vectors else (OUTPUT,),
    )


def export_module(
    module: torch.nn.Module,
    example: tuple[torch.Tensor, torch.Tensor],
    directory: Path,
    *,
    body: Any,
    tokenizer: tokenizers.Tokenizer,
    pad_id: int,
    max_length: int,
    threads: int | None,
    outputs: tuple[str, ...] = (OUTPUT,),
) -> dict[str, Any]:
    """Export ``module(input_ids, attention_mask) -> outputs`` (probabilities first) with
    dynamic batch and sequence axes (TorchScript exporter, opset 17) and write the runtime
    ``tokenizer.json``.

    The body is switched to eager attention while tracing (plain ONNX ops) and back after.
    """
    directory.mkdir(parents=True, exist_ok=True)
    attention = getattr(body.config, "_attn_implementation", None)
    switch = attention not in (None, "eager") and hasattr(body, "set_attn_implementation")
    if switch:
        body.set_attn_implementation("eager")
    try:
        with torch_threads(threads), torch.inference_mode(), warnings.catch_warnings():
            # the TorchScript exporter is the one that needs no onnxscript; its deprecation
            # and tracer notes are expected (shapes stay dynamic: parity tests cover it)
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*aten::index.*")
            torch.onnx.export(
                module.eval(),
                example,
                str(directory / ONNX_FILE),
                input_names=["input_ids", "attention_mask"],
                output_names=list(outputs),
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    **{name: {0: "batch"} for name in outputs},
                },
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
    finally:
        if switch:
            body.set_attn_implementation(attention)
    write_tokenizer(tokenizer, directory / TOKENIZER_FILE, pad_id=pad_id, max_length=max_length)
    return {
        "kind": "encoder",
        "inputs": ["input_ids", "attention_mask"],
        "output": OUTPUT,
        "max_length": max_length,
        "tokenizer": TOKENIZER_FILE,
        "opset": ONNX_OPSET,
    }
