"""Sentence-encoder helpers shared by the neural backends (embedding, transformer, zeroshot).

A *body* is a local transformer folder found and checked by :mod:`intently.backends.bodies`;
weights are read from safetensors only.

Texts become sentence embeddings by pooling the last token states over the attention mask
(``mean``, as sentence-transformers does for MiniLM; ``cls``; ``max``; or ``mean+max``, both
normalised and concatenated), then L2 normalisation. Texts are tokenized once, sorted by
length and batched with padding to the longest text of each batch (intent queries average ~15
tokens, so padding to ``max_length`` would waste most of the compute). Texts longer than
``max_length`` tokens are truncated and counted.

Exporting an encoder with its head as one ONNX graph is :mod:`intently.backends.encoder_export`;
the fine-tuning loop is :mod:`intently.backends.torch_loop`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from intently.backends.base import ProgressFn
from intently.backends.bodies import MODEL_HINT, TOKENIZER_FILE, WEIGHTS_FILE
from intently.errors import IntentlyError, TrainingError

if TYPE_CHECKING:
    import tokenizers

DEFAULT_MAX_LENGTH = 64
DEFAULT_BATCH_SIZE = 64


# -- threads -------------------------------------------------------------------------------


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (None: all cores), then restore."""
    wanted = threads or available_cores()
    before = torch.get_num_threads()
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != before:
            torch.set_num_threads(before)


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# -- the encoder --------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """Sentence embeddings (float32, one L2-normalised row per text) and how many texts were
    cut to ``max_length`` tokens."""

    embeddings: np.ndarray
    truncated: int


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pooled, L2-normalised sentence vectors from token states ``(batch, seq, dim)``."""
    import torch.nn.functional as F

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    parts = []
    if pooling in ("mean", "mean+max"):
        summed = (hidden * weights).sum(dim=1)
        parts.append(summed / weights.sum(dim=1).clamp(min=1e-9))
    if pooling in ("max", "mean+max"):
        parts.append(hidden.masked_fill(weights == 0, -1e4).max(dim=1).values)
    if pooling == "cls":
        parts.append(hidden[:, 0])
    parts = [F.normalize(part, p=2.0, dim=-1) for part in parts]
    if len(parts) == 1:
        return parts[0]
    return F.normalize(torch.cat(parts, dim=-1), p=2.0, dim=-1)


class SentenceEncoder:
    """A tokenizer and a transformer body turning texts into sentence embeddings.

    Use :meth:`load`; the constructor takes already loaded parts.
    """

    def __init__(
        self,
        tokenizer: tokenizers.Tokenizer,
        model: Any,
        *,
        path: Path,
        pad_id: int,
        max_length: int,
        pooling: str = "mean",
        threads: int | None = None,
    ):
        self.tokenizer = tokenizer
        self.model = model
        self.path = path
        self.pad_id = pad_id
        self.max_length = max_length
        self.pooling = pooling
        self.threads = threads

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        pooling: str = "mean",
        threads: int | None = None,
        error: type[IntentlyError] = TrainingError,
    ) -> SentenceEncoder:
        """Tokenizer + body from a folder checked by :func:`resolve_body`, in eval mode."""
        tokenizer, pad_id = load_tokenizer(path, max_length=max_length, error=error)
        model = load_body(path, AutoClass="AutoModel", error=error)
        limit = getattr(model.config, "max_position_embeddings", None)
        if isinstance(limit, int) and max_length > limit:
            raise error(
                f"max_length {max_length} exceeds the {limit} positions of the model in {path}.",
                hint=f"set max_length to at most {limit}.",
            )
        return cls(
            tokenizer,
            model,
            path=path,
            pad_id=pad_id,
            max_length=max_length,
            pooling=pooling,
            threads=threads,
        )

    @property
    def dim(self) -> int:
        size = int(self.model.config.hidden_size)
        return 2 * size if self.pooling == "mean+max" else size

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], int]:
        """Token ids of each text (truncated to ``max_length``) and how many were truncated."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return [e.ids for e in encodings], sum(1 for e in encodings if e.overflowing)

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` int64 tensors padded to the longest row."""
        return pad_ids(ids, self.pad_id)

    def batches(
        self, ids: Sequence[Sequence[int]], batch_size: int
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """Rows sorted by length, in batches padded to their own longest row."""
        order = np.argsort([len(row) for row in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            input_ids, mask = self.pad([ids[i] for i in rows])
            yield rows, input_ids, mask

    def embed(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Differentiable embeddings of one padded batch (the caller picks train/eval mode)."""
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return pool(hidden, mask, self.pooling)

    def embed_ids(self, ids: Sequence[Sequence[int]], *, chunk_size: int = 8) -> torch.Tensor:
        """Differentiable embeddings of ``ids`` (in order), computed in length-sorted chunks so
        that short texts are not padded to the longest text of a random training batch."""
        order = np.argsort([len(row) for row in ids], kind="stable")
        parts = []
        for start in range(0, len(order), chunk_size):
            input_ids, mask = self.pad([ids[i] for i in order[start : start + chunk_size]])
            parts.append(self.embed(input_ids, mask))
        return torch.cat(parts)[torch.as_tensor(np.argsort(order))]

    def freeze_below(self, trainable_layers: int | None) -> int:
        """Leave only the top ``trainable_layers`` transformer layers trainable (None: all).

        Layers are found by the ``layer.<i>.`` / ``layers.<i>.`` parameter names of BERT-like
        bodies; the embeddings freeze with the lower layers. Returns the number of layers.
        """
        import re

        pattern = re.compile(r"(?:^|\.)layers?\.(\d+)\.")
        found = {
            name: int(match.group(1))
            for name, _ in self.model.named_parameters()
            if (match := pattern.search(name))
        }
        n_layers = max(found.values(), default=-1) + 1
        for name, parameter in self.model.named_parameters():
            if trainable_layers is None or n_layers == 0:
                parameter.requires_grad_(True)
            elif name in found:
                parameter.requires_grad_(found[name] >= n_layers - trainable_layers)
            else:  # embeddings freeze with the lower layers; a pooler head above stays
                parameter.requires_grad_("embeddings" not in name)
        return n_layers

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: ProgressFn | None = None,
    ) -> Encoded:
        """L2-normalised embeddings of ``texts``, in their order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return Encoded(out, 0)
        ids, truncated = self.tokenize(texts)
        done = 0
        was_training = self.model.training
        self.model.eval()
        try:
            with torch_threads(self.threads), torch.inference_mode():
                for rows, input_ids, mask in self.batches(ids, batch_size):
                    out[rows] = self.embed(input_ids, mask).float().numpy()
                    done += len(rows)
                    if progress is not None:
                        progress("encoding", done / len(texts))
        finally:
            self.model.train(was_training)
        return Encoded(out, truncated)

    def save_body(self, directory: Path) -> None:
        """Write the (fine-tuned) body and its tokenizer as safetensors + JSON."""
        directory.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.model.save_pretrained(directory)
        if not (directory / WEIGHTS_FILE).is_file():
            raise TrainingError(f"saving the body to {directory} did not write {WEIGHTS_FILE}.")
        write_tokenizer(
            self.tokenizer, directory / TOKENIZER_FILE, pad_id=self.pad_id, max_length=None
        )
        source = self.path / "tokenizer_config.json"
        if source.is_file():
            (directory / "tokenizer_config.json").write_bytes(source.read_bytes())


def load_tokenizer(
    path: Path, *, max_length: int, error: type[IntentlyError] = TrainingError
) -> tuple[tokenizers.Tokenizer, int]:
    """The fast tokenizer of ``path`` with truncation at ``max_length``, and its pad id."""
    import tokenizers
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, ...
        raise error(
            f"cannot load a tokenizer from {path} ({type(exc).__name__}: {exc}).",
            hint="the folder needs tokenizer.json (or vocab + tokenizer_config.json); "
            + MODEL_HINT,
        ) from None
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise error(
            f"the tokenizer in {path} has no fast (Rust) version, which export needs.",
            hint="save the folder with a tokenizer.json (transformers converts most tokenizers).",
        )
    tokenizer = tokenizers.Tokenizer.from_str(backend.to_str())
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    pad_id = hf.pad_token_id if hf.pad_token_id is not None else 0
    return tokenizer, int(pad_id)


def load_body(path: Path, *, AutoClass: str, error: type[IntentlyError] = TrainingError) -> Any:
    """``transformers.<AutoClass>`` from safetensors in ``path``, in eval mode."""
    import transformers

    loader = getattr(transformers, AutoClass)
    try:
        with quiet_transformers():
            model = loader.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
    except Exception as exc:  # a foreign or damaged folder fails in library-specific ways
        raise error(
            f"cannot load the model in {path} ({type(exc).__name__}: {exc}).", hint=MODEL_HINT
        ) from None
    return model.eval()


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No transformers progress bars (loading / writing weights) inside the block."""
    from transformers.utils import logging as hf_logging

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()


# -- pieces of a model --------------------------------------------------------------------------


def linear_head(coef: np.ndarray, intercept: np.ndarray, scale: float = 1.0) -> Any:
    """A torch ``Linear``: ``scale * (x @ coef.T + intercept)``, coef ``(n_classes, dim)``."""
    layer = torch.nn.Linear(coef.shape[1], coef.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(coef * scale, dtype=torch.float32))
        layer.bias.copy_(torch.as_tensor(intercept * scale, dtype=torch.float32))
    return layer.eval()


def write_tokenizer(
    tokenizer: tokenizers.Tokenizer, target: Path, *, pad_id: int, max_length: int | None
) -> None:
    """Save ``tokenizer.json``. With ``max_length`` (for the runtime) truncation at that length
    and padding to the longest text of a batch are switched on, so ``encode_batch`` returns
    ready rows; without it (a saved body) both are off."""
    import tokenizers

    copy = tokenizers.Tokenizer.from_str(tokenizer.to_str())
    if max_length is not None:
        copy.enable_truncation(max_length)
        copy.enable_padding(pad_id=pad_id, pad_token=copy.id_to_token(pad_id) or "[PAD]")
    else:
        copy.no_truncation()
        copy.no_padding()
    copy.save(str(target))


def pad_ids(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` int64 tensors, right-padded to the longest row."""
    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return input_ids, mask
