"""The NLI mode of the ``zeroshot`` backend: entailment of "This text is about <intent>."

A local natural-language-inference model (a sequence classifier with an ``entailment`` label)
scores each (query, hypothesis) pair. :class:`NliModule` builds the pairs inside the torch graph,
so the exported ONNX model takes the query's tokens alone, like every encoder graph.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from intently.backends import encoder as enc
from intently.backends.encoder_export import export_module
from intently.backends.zeroshot_scoring import Scorer
from intently.errors import IntentlyError, ModelError, TrainingError

if TYPE_CHECKING:
    from intently.backends.zeroshot import ZeroShotBackend


class NliModule(torch.nn.Module):
    """(query, hypothesis of every intent) pairs built inside the graph → entailment logits →
    minus thresholds, times ``scale`` → softmax.

    The query arrives tokenized alone (``[CLS] q [SEP]`` + padding); each intent's *suffix* is
    what the tokenizer appends for the hypothesis in a pair (``h [SEP]`` for BERT,
    ``</s> h </s>`` for RoBERTa). Pairs are laid out contiguously (query tokens, then suffix,
    then padding), exactly as the tokenizer would write them.
    """

    def __init__(
        self,
        model: Any,
        suffix_ids: np.ndarray,
        suffix_types: np.ndarray,
        suffix_lengths: np.ndarray,
        *,
        entailment: int,
        pad_id: int,
        uses_types: bool,
        thresholds: np.ndarray,
        scale: float,
    ):
        super().__init__()
        self.model = model
        self.entailment = entailment
        self.pad_id = pad_id
        self.uses_types = uses_types
        self.scale = float(scale)
        self.register_buffer("suffix_ids", torch.as_tensor(suffix_ids, dtype=torch.long))
        self.register_buffer("suffix_types", torch.as_tensor(suffix_types, dtype=torch.long))
        self.register_buffer("suffix_lengths", torch.as_tensor(suffix_lengths, dtype=torch.long))
        self.register_buffer("thresholds", torch.as_tensor(thresholds, dtype=torch.float32))

    def entailment_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        batch, width = input_ids.shape
        n_classes, suffix_width = self.suffix_ids.shape
        total = width + suffix_width
        lengths = attention_mask.sum(dim=1)  # (batch,)
        position = torch.arange(total, device=input_ids.device)
        in_query = position[None, :] < lengths[:, None]  # (batch, total)
        query_tokens = torch.gather(
            input_ids, 1, position.clamp(max=width - 1)[None, :].expand(batch, total)
        )
        offset = position[None, None, :] - lengths[:, None, None]  # (batch, 1, total)
        in_suffix = (offset >= 0) & (offset < self.suffix_lengths[None, :, None])
        gather_at = offset.clamp(min=0, max=suffix_width - 1).expand(batch, n_classes, total)
        suffix = self.suffix_ids[None].expand(batch, n_classes, suffix_width)
        suffix_tokens = torch.gather(suffix, 2, gather_at)
        pad = torch.full_like(suffix_tokens, self.pad_id)
        ids = torch.where(
            in_query[:, None, :],
            query_tokens[:, None, :].expand(batch, n_classes, total),
            torch.where(in_suffix, suffix_tokens, pad),
        )
        mask = (in_query[:, None, :] | in_suffix).long()
        inputs = {
            "input_ids": ids.reshape(batch * n_classes, total),
            "attention_mask": mask.reshape(batch * n_classes, total),
        }
        if self.uses_types:
            types = self.suffix_types[None].expand(batch, n_classes, suffix_width)
            suffix_types = torch.gather(types, 2, gather_at)
            inputs["token_type_ids"] = torch.where(
                in_suffix, suffix_types, torch.zeros_like(suffix_types)
            ).reshape(batch * n_classes, total)
        logits = self.model(**inputs).logits
        return logits[:, self.entailment].reshape(batch, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        scores = self.entailment_logits(input_ids, attention_mask)
        return torch.softmax((scores - self.thresholds) * self.scale, dim=-1)


class NliScorer(Scorer):
    """NLI mode: entailment logit of (query, "This text is about {description}.")."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        pad_id: int,
        hypotheses: list[str],
        *,
        entailment: int,
        max_length: int,
        threads: int | None,
        batch_size: int,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.hypotheses = hypotheses
        self.entailment = entailment
        self.max_length = max_length
        self.threads = threads
        self.batch_size = batch_size
        self.n_anchors = len(hypotheses)
        suffix_ids, suffix_types, suffix_lengths = _suffixes(tokenizer, hypotheses)
        limit = getattr(model.config, "max_position_embeddings", None)
        if isinstance(limit, int) and max_length + suffix_ids.shape[1] > limit - 2:
            raise TrainingError(
                f"max_length {max_length} plus the longest hypothesis "
                f"({suffix_ids.shape[1]} tokens) exceeds the NLI model's {limit} positions.",
                hint="shorten the descriptions or lower max_length.",
            )
        uses_types = "token_type_ids" in inspect.signature(model.forward).parameters
        self.module = NliModule(
            model,
            suffix_ids,
            suffix_types,
            suffix_lengths,
            entailment=entailment,
            pad_id=pad_id,
            uses_types=uses_types,
            thresholds=np.zeros(len(hypotheses), dtype=np.float32),
            scale=1.0,
        ).eval()

    @classmethod
    def build(
        cls,
        body: Path,
        classes: Sequence[str],
        described: dict[str, list[str]],
        params: ZeroShotBackend,
    ) -> NliScorer:
        hypotheses = [
            params.hypothesis_template.format(" / ".join(described[label])) for label in classes
        ]
        return cls._load(body, hypotheses, params, error=TrainingError)

    @classmethod
    def restore(
        cls, body: Path, classes: Sequence[str], state: dict[str, Any], params: ZeroShotBackend
    ) -> NliScorer:
        hypotheses = state["hypotheses"]
        if (
            not isinstance(hypotheses, list)
            or len(hypotheses) != len(classes)
            or not all(isinstance(h, str) for h in hypotheses)
        ):
            raise ModelError(
                f"the zeroshot NLI model needs one hypothesis string per label "
                f"({len(classes)}); got {hypotheses!r:.200}.",
                hint="re-train the model.",
            )
        return cls._load(body, hypotheses, params, error=ModelError)

    @classmethod
    def _load(
        cls,
        body: Path,
        hypotheses: list[str],
        params: ZeroShotBackend,
        *,
        error: type[IntentlyError],
    ) -> NliScorer:
        tokenizer, pad_id = enc.load_tokenizer(body, max_length=params.max_length, error=error)
        model = enc.load_body(body, AutoClass="AutoModelForSequenceClassification", error=error)
        labels = {int(i): str(name) for i, name in (model.config.id2label or {}).items()}
        entailment = [i for i, name in labels.items() if name.lower().startswith("entail")]
        if len(entailment) != 1:
            raise error(
                f"the NLI model in {body} has no single 'entailment' label "
                f"(its labels: {sorted(labels.values())}).",
                hint="use a model fine-tuned on NLI (MNLI/XNLI) whose config.json id2label "
                "names 'entailment'.",
            )
        return cls(
            model,
            tokenizer,
            pad_id,
            hypotheses,
            entailment=entailment[0],
            max_length=params.max_length,
            threads=params.threads,
            batch_size=params.batch_size,
        )

    def scores(
        self,
        texts: Sequence[str],
        *,
        exclude_anchor: np.ndarray | None = None,
    ) -> tuple[np.ndarray, int]:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        truncated = sum(1 for e in encodings if e.overflowing)
        out = np.zeros((len(texts), self.n_anchors), dtype=np.float64)
        # pairs per forward pass stay near batch_size whatever the number of intents
        per_batch = max(1, self.batch_size // max(1, self.n_anchors))
        order = np.argsort([len(row) for row in ids], kind="stable")
        with enc.torch_threads(self.threads), torch.inference_mode():
            for start in range(0, len(order), per_batch):
                rows = order[start : start + per_batch]
                input_ids, mask = enc.pad_ids([ids[i] for i in rows], self.pad_id)
                out[rows] = self.module.entailment_logits(input_ids, mask).double().numpy()
        return out, truncated

    def count_truncated(self, texts: Sequence[str]) -> int:
        return sum(1 for e in self.tokenizer.encode_batch(list(texts)) if e.overflowing)

    def state(self) -> dict[str, Any]:
        return {"hypotheses": self.hypotheses, "entailment": self.entailment}

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def export_onnx(self, directory: Path, thresholds: np.ndarray, scale: float) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        module = NliModule(
            self.model,
            self.module.suffix_ids.numpy(),
            self.module.suffix_types.numpy(),
            self.module.suffix_lengths.numpy(),
            entailment=self.entailment,
            pad_id=self.pad_id,
            uses_types=self.module.uses_types,
            thresholds=thresholds,
            scale=scale,
        ).eval()
        ids = [e.ids for e in self.tokenizer.encode_batch(["a short text", "a longer text here"])]
        input_ids, mask = enc.pad_ids(ids, self.pad_id)
        return export_module(
            module,
            (input_ids, mask),
            directory,
            body=self.model,
            tokenizer=self.tokenizer,
            pad_id=self.pad_id,
            max_length=self.max_length,
            threads=self.threads,
        )


def _suffixes(tokenizer: Any, hypotheses: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Token ids and type ids the tokenizer appends for each hypothesis in a pair."""
    import tokenizers

    plain = tokenizers.Tokenizer.from_str(tokenizer.to_str())
    plain.no_truncation()
    plain.no_padding()
    probe = "x"
    alone = plain.encode(probe)
    rows, types = [], []
    for hypothesis in hypotheses:
        pair = plain.encode(probe, hypothesis)
        if pair.ids[: len(alone.ids)] != alone.ids:
            raise TrainingError(
                "this NLI tokenizer does not write a pair as the first text followed by the "
                "second; its pairs cannot be built in the exported graph.",
                hint="use a BERT-, RoBERTa- or DeBERTa-style NLI model.",
            )
        rows.append(pair.ids[len(alone.ids) :])
        types.append(pair.type_ids[len(alone.ids) :])
    width = max(len(row) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    type_ids = np.zeros((len(rows), width), dtype=np.int64)
    lengths = np.zeros(len(rows), dtype=np.int64)
    for i, (row, type_row) in enumerate(zip(rows, types, strict=True)):
        ids[i, : len(row)] = row
        type_ids[i, : len(row)] = type_row
        lengths[i] = len(row)
    return ids, type_ids, lengths
