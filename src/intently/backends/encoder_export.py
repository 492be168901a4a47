"""One ONNX graph for a sentence encoder with a head on top: tokens → probabilities.

:class:`ProbabilityModule` chains body → pooling → normalisation → head → softmax in one torch
module; :func:`export_onnx` writes it as ``model.onnx`` (inputs ``input_ids`` and
``attention_mask``, output ``probabilities``) next to the ``tokenizer.json`` that feeds it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from intently.backends.bodies import TOKENIZER_FILE
from intently.backends.encoder import SentenceEncoder, pool, torch_threads, write_tokenizer

if TYPE_CHECKING:
    import tokenizers

ONNX_FILE = "model.onnx"
ONNX_OPSET = 17


class ProbabilityModule(torch.nn.Module):
    """body → pooling → L2 normalisation → ``head`` (embeddings → logits) → softmax."""

    def __init__(self, body: Any, head: Any, pooling: str):
        super().__init__()
        self.body = body
        self.head = head
        self.pooling = pooling

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return torch.softmax(self.head(pool(hidden, attention_mask, self.pooling)), dim=-1)


def export_onnx(encoder: SentenceEncoder, head: torch.nn.Module, directory: Path) -> dict[str, Any]:
    """Write ``model.onnx`` (body → pooling → normalise → ``head`` → softmax) and
    ``tokenizer.json`` into ``directory``; return what the runtime needs to feed it."""
    module = ProbabilityModule(encoder.model, head, encoder.pooling).eval()
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
) -> dict[str, Any]:
    """Export ``module(input_ids, attention_mask) -> probabilities`` with dynamic batch and
    sequence axes (TorchScript exporter, opset 17) and write the runtime ``tokenizer.json``.

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
                output_names=["probabilities"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "probabilities": {0: "batch"},
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
        "output": "probabilities",
        "max_length": max_length,
        "tokenizer": TOKENIZER_FILE,
        "opset": ONNX_OPSET,
    }
