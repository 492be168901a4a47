"""The fine-tuning recipe of the ``transformer`` backend, step by step.

:func:`probe_head` fits the linear probe that initialises the head, :func:`class_weights`
balances the loss, :func:`finetune` trains body and head in length-bucketed batches through the
shared loop (:mod:`intently.backends.torch_loop`) and :func:`predict_ids` scores token ids.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from intently.backends.base import ProgressFn
from intently.backends.encoder import SentenceEncoder, torch_threads
from intently.backends.torch_loop import (
    drop_tokens,
    length_buckets,
    train_loop,
    trainable_parameters,
    weighted_cross_entropy,
)


def class_weights(targets: np.ndarray, n_classes: int, mode: str | None) -> np.ndarray:
    """Per-example factor: ``n / (n_classes * count(class))`` for "balanced", else 1."""
    if mode is None:
        return np.ones(len(targets))
    counts = np.bincount(targets, minlength=n_classes).astype(float)
    present = counts > 0
    factors = np.zeros(n_classes)
    factors[present] = len(targets) / (present.sum() * counts[present])
    return factors[targets]


def probe_head(
    embeddings: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    *,
    n_classes: int,
    C: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A multinomial logistic regression on frozen embeddings, as ``(coef, intercept)`` over
    all ``n_classes`` (a class missing from ``targets`` gets a very negative bias)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    model.fit(embeddings, targets, sample_weight=weights)
    coef = np.zeros((n_classes, embeddings.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, -10.0, dtype=np.float32)
    seen = model.classes_.astype(int)
    if len(seen) == 2:  # binary: one margin for the positive class
        coef[seen] = np.vstack([-model.coef_[0], model.coef_[0]]) / 2
        intercept[seen] = np.array([-model.intercept_[0], model.intercept_[0]]) / 2
    else:
        coef[seen] = model.coef_
        intercept[seen] = model.intercept_
    return coef, intercept


def finetune(
    encoder: SentenceEncoder,
    head: torch.nn.Module,
    ids: Sequence[Sequence[int]],
    targets: np.ndarray,
    weights: np.ndarray,
    *,
    epochs: int,
    lr: float,
    head_lr_scale: float,
    batch_size: int,
    warmup: float,
    weight_decay: float,
    token_dropout: float,
    seed: int,
    progress: ProgressFn,
    after_epoch: Callable[[int, float], bool],
) -> None:
    """Weighted cross-entropy over the whole body + head (the head learning ``head_lr_scale``
    times faster), in batches of similar-length texts.

    ``after_epoch(epoch, mean_loss) -> bool`` runs after each epoch; True stops training.
    Raises TrainingError when the loss stops being finite.
    """
    rng = np.random.default_rng(seed)
    encoder.freeze_below(None)
    lengths = [len(row) for row in ids]

    def batch_loss(rows: np.ndarray) -> torch.Tensor:
        batch = [drop_tokens(ids[i], token_dropout, rng) for i in rows]
        input_ids, mask = encoder.pad(batch)
        logits = head(encoder.embed(input_ids, mask))
        return weighted_cross_entropy(logits, targets[rows], weights[rows])

    train_loop(
        modules=[encoder.model, head],
        param_groups=[
            {"params": trainable_parameters(encoder.model), "lr": lr},
            {"params": list(head.parameters()), "lr": lr * head_lr_scale},
        ],
        epoch_batches=lambda _epoch: length_buckets(lengths, batch_size, rng),
        batch_loss=batch_loss,
        epochs=epochs,
        steps=math.ceil(len(ids) / batch_size) * epochs,
        clip=[encoder.model, head],
        seed=seed,
        threads=encoder.threads,
        progress=progress,
        weight_decay=weight_decay,
        warmup=warmup,
        after_epoch=after_epoch,
    )


def predict_ids(
    encoder: SentenceEncoder,
    head: torch.nn.Module,
    ids: Sequence[Sequence[int]],
    batch_size: int,
) -> np.ndarray:
    """Softmax probabilities (float64) for token-id rows, in their order."""
    out = np.zeros((len(ids), head.out_features), dtype=np.float64)
    with torch_threads(encoder.threads), torch.inference_mode():
        for rows, input_ids, mask in encoder.batches(ids, batch_size):
            logits = head(encoder.embed(input_ids, mask))
            out[rows] = torch.softmax(logits.double(), dim=-1).numpy()
    return out
