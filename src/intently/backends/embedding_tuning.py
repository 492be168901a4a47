"""The two ways the ``embedding`` backend fine-tunes its body before fitting the head.

``probe``: the logistic regression fitted on the frozen body initialises a linear head, and
body + head are trained with weighted cross-entropy. ``contrastive``: SetFit-style, the body
learns cosine similarity 1 for texts of one label and 0 across labels. Both run through the
shared loop of :mod:`intently.backends.torch_loop`, with every epoch's batches drawn up front.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from intently.backends.base import ProgressFn
from intently.backends.encoder import SentenceEncoder, linear_head
from intently.backends.torch_loop import (
    drop_tokens,
    train_loop,
    trainable_parameters,
    weighted_cross_entropy,
)

HEAD_LR_SCALE = 10.0
"""The probe head learns this many times faster than the body."""


def contrastive_batches(
    targets: np.ndarray, *, batch_size: int, per_label: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """One epoch of batches: groups of ``per_label`` texts of one label, groups shuffled.

    Every text appears once per epoch; a label's texts are split into groups so that most
    batches hold several same-label pairs among many different-label pairs.
    """
    groups: list[np.ndarray] = []
    for label in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == label))
        groups.extend(members[i : i + per_label] for i in range(0, len(members), per_label))
    order = rng.permutation(len(groups))
    batches, current = [], []
    for g in order:
        current.extend(groups[g].tolist())
        if len(current) >= batch_size:
            batches.append(np.asarray(current))
            current = []
    if len(current) >= 2:
        batches.append(np.asarray(current))
    return batches


def finetune_contrastive(
    encoder: SentenceEncoder,
    ids: Sequence[Sequence[int]],
    targets: np.ndarray,
    weights: np.ndarray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    per_label: int,
    token_dropout: float,
    seed: int,
    progress: ProgressFn,
) -> None:
    """SetFit-style fine-tuning: cosine similarity of every in-batch pair regressed on 1
    (same label) or 0 (different labels); positives and negatives weigh half each."""
    rng = np.random.default_rng(seed)
    plan = [
        contrastive_batches(targets, batch_size=batch_size, per_label=per_label, rng=rng)
        for _ in range(epochs)
    ]

    def batch_loss(rows: np.ndarray) -> torch.Tensor:
        batch = [drop_tokens(ids[i], token_dropout, rng) for i in rows]
        embeddings = encoder.embed_ids(batch)
        similarity = embeddings @ embeddings.T
        labels = torch.as_tensor(targets[rows])
        same = (labels[:, None] == labels[None, :]).float()
        w = torch.as_tensor(weights[rows], dtype=torch.float32)
        pair_weight = torch.triu(w[:, None] * w[None, :], diagonal=1)
        return _balanced((similarity - same) ** 2 * pair_weight, pair_weight, same)

    train_loop(
        modules=[encoder.model],
        param_groups=[{"params": trainable_parameters(encoder.model), "lr": lr}],
        epoch_batches=lambda epoch: plan[epoch - 1],
        batch_loss=batch_loss,
        epochs=epochs,
        steps=sum(len(batches) for batches in plan),
        clip=[encoder.model],
        seed=seed,
        threads=encoder.threads,
        progress=progress,
        lr_name="finetune_lr",
    )


def _balanced(error: torch.Tensor, pair_weight: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Mean error over positive pairs plus mean over negative pairs (each weighted); without
    gradient when every pair weighs 0 (the batch teaches nothing)."""
    loss = torch.zeros(())
    for mask in (same, 1.0 - same):
        total = (pair_weight * mask).sum()
        if total > 0:
            loss = loss + (error * mask).sum() / total
    return loss


def finetune_probe(
    encoder: SentenceEncoder,
    ids: Sequence[Sequence[int]],
    targets: np.ndarray,
    weights: np.ndarray,
    probe: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    token_dropout: float,
    seed: int,
    progress: ProgressFn,
) -> None:
    """Linear probe, then fine-tune: body + probe-initialised head trained with weighted
    cross-entropy (the head at ``HEAD_LR_SCALE`` times the body's learning rate)."""
    rng = np.random.default_rng(seed)
    head = linear_head(*probe)
    plan = [
        np.array_split(rng.permutation(len(ids)), max(1, round(len(ids) / batch_size)))
        for _ in range(epochs)
    ]

    def batch_loss(rows: np.ndarray) -> torch.Tensor:
        batch = [drop_tokens(ids[i], token_dropout, rng) for i in rows]
        return weighted_cross_entropy(head(encoder.embed_ids(batch)), targets[rows], weights[rows])

    train_loop(
        modules=[encoder.model, head],
        param_groups=[
            {"params": trainable_parameters(encoder.model), "lr": lr},
            {"params": list(head.parameters()), "lr": lr * HEAD_LR_SCALE},
        ],
        epoch_batches=lambda epoch: plan[epoch - 1],
        batch_loss=batch_loss,
        epochs=epochs,
        steps=sum(len(batches) for batches in plan),
        clip=[encoder.model],
        seed=seed,
        threads=encoder.threads,
        progress=progress,
        lr_name="finetune_lr",
    )
