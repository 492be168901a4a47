"""The torch fine-tuning loop the neural backends share, and its pieces.

One loop serves the ``transformer`` backend and both fine-tuning modes of ``embedding``: AdamW,
a linear warm-up then linear decay, gradient norms clipped at 1, batch order and dropout masks
drawn from the seed (torch's global generator is restored afterwards), train mode only while
stepping, and a clear error when the loss stops being finite. The callers differ only in the
batches they draw, the loss of a batch and what runs after each epoch (early stopping).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from intently.backends.base import ProgressFn
from intently.backends.encoder import SentenceEncoder, torch_threads
from intently.errors import TrainingError

BUCKET_BATCHES = 50
"""Batches per length bucket: large enough to pad little, small enough to stay shuffled."""
CLIP_NORM = 1.0


def train_loop(
    *,
    modules: Sequence[torch.nn.Module],
    param_groups: list[dict[str, Any]],
    epoch_batches: Callable[[int], Sequence[np.ndarray]],
    batch_loss: Callable[[np.ndarray], torch.Tensor],
    epochs: int,
    steps: int,
    clip: Sequence[torch.nn.Module],
    seed: int,
    threads: int | None,
    progress: ProgressFn,
    weight_decay: float = 0.01,
    warmup: float = 0.1,
    lr_name: str = "lr",
    after_epoch: Callable[[int, float], bool] | None = None,
) -> None:
    """Train ``modules`` with AdamW over ``param_groups`` for up to ``epochs`` epochs.

    Parameters
    ----------
    modules : torch modules switched to train mode while stepping, to eval mode otherwise.
    param_groups : AdamW parameter groups, each with its own ``lr``.
    epoch_batches : ``epoch_batches(epoch)`` gives that epoch's batches as row-index arrays
        (epochs count from 1); ``steps`` is their total over all epochs, for the schedule.
    batch_loss : the loss of one batch; a loss without gradient (nothing to learn from the
        batch) advances the schedule without a step.
    clip : modules whose parameters' joint gradient norm is clipped to ``CLIP_NORM``.
    seed : seeds torch inside the loop (dropout masks).
    threads : torch intra-op threads (None: all cores).
    progress : called with ``"epoch e/E: loss x"`` and the share of steps done.
    warmup : share of ``steps`` with a rising learning rate.
    lr_name : the backend parameter a divergence error tells the user to lower.
    after_epoch : ``after_epoch(epoch, mean loss) -> stop``, run in eval mode.

    Raises
    ------
    TrainingError
        The loss became NaN or infinite.
    """
    optimizer = torch.optim.AdamW(param_groups, weight_decay=weight_decay)
    schedule = warmup_linear(optimizer, steps, warmup_share=warmup)
    step = 0
    with torch.random.fork_rng(devices=[]), torch_threads(threads):
        torch.manual_seed(seed)
        try:
            for epoch in range(1, epochs + 1):
                for module in modules:
                    module.train()
                losses: list[float] = []
                for rows in epoch_batches(epoch):
                    loss = batch_loss(rows)
                    if not torch.isfinite(loss):
                        raise TrainingError(
                            f"the training loss became {loss.item()} at epoch {epoch}, "
                            f"step {step + 1}: the model diverged.",
                            hint=f"lower {lr_name} (e.g. 3e-5), or check the example weights.",
                        )
                    if loss.requires_grad:
                        optimizer.zero_grad()
                        loss.backward()
                        clipped = [p for module in clip for p in module.parameters()]
                        torch.nn.utils.clip_grad_norm_(clipped, CLIP_NORM)
                        optimizer.step()
                    schedule.step()
                    step += 1
                    losses.append(loss.item())
                    progress(
                        f"epoch {epoch}/{epochs}: loss {np.mean(losses[-50:]):.4f}", step / steps
                    )
                for module in modules:
                    module.eval()
                mean_loss = float(np.mean(losses)) if losses else 0.0
                if after_epoch is not None and after_epoch(epoch, mean_loss):
                    break
        finally:
            for module in modules:
                module.eval()


def weighted_cross_entropy(
    logits: torch.Tensor, targets: np.ndarray, weights: np.ndarray
) -> torch.Tensor:
    """Cross-entropy of each row, averaged with ``weights`` (all-zero weights give 0)."""
    per_text = torch.nn.functional.cross_entropy(logits, torch.as_tensor(targets), reduction="none")
    w = torch.as_tensor(weights, dtype=torch.float32)
    return (per_text * w).sum() / w.sum().clamp(min=1e-9)


class BestEpoch:
    """The best-scoring epoch so far and a copy of its weights (kept in memory), for early
    stopping that ends on the best epoch rather than the last."""

    def __init__(self) -> None:
        self.score = -math.inf
        self.epoch = 0
        self.state: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]] | None = None

    def keep(
        self, score: float, epoch: int, encoder: SentenceEncoder, head: torch.nn.Module
    ) -> None:
        self.score, self.epoch = score, epoch
        self.state = (
            copy.deepcopy(encoder.model.state_dict()),
            copy.deepcopy(head.state_dict()),
        )

    def restore(self, encoder: SentenceEncoder, head: torch.nn.Module) -> None:
        assert self.state is not None
        encoder.model.load_state_dict(self.state[0])
        head.load_state_dict(self.state[1])


def length_buckets(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """One epoch of batches of similar-length texts: shuffle, sort within buckets of
    ``BUCKET_BATCHES`` batches by length, cut into batches, shuffle the batches."""
    order = rng.permutation(len(lengths))
    bucket = batch_size * BUCKET_BATCHES
    batches: list[np.ndarray] = []
    lengths_array = np.asarray(lengths)
    for start in range(0, len(order), bucket):
        rows = order[start : start + bucket]
        rows = rows[np.argsort(lengths_array[rows], kind="stable")]
        batches.extend(rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


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
