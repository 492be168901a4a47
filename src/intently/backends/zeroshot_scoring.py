"""How the ``zeroshot`` backend scores a text against each intent, and how it calibrates.

:class:`Scorer` is what both modes provide; :class:`AnchorScorer` is the embedding mode (the
mean of the ``top_k`` cosine similarities to an intent's anchors, :class:`AnchorHead` in torch so
that it exports with the encoder); the NLI mode is :mod:`intently.backends.zeroshot_nli`.
:func:`fit_calibration` turns scores into probabilities fitted to labeled texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from intently.backends import encoder as enc
from intently.backends.encoder_export import export_onnx
from intently.errors import ModelError

if TYPE_CHECKING:
    from intently.backends.zeroshot import ZeroShotBackend

_LOG_TEMPERATURE_SD = 0.5
_MIN_TEMPERATURE = 1e-3
EXCLUDED = -1e4
"""Similarity standing for "no anchor here" (cosine similarities are >= -1)."""


def fit_calibration(
    scores: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    n_classes: int,
    *,
    fit_thresholds: bool,
    temperature: float | None,
    default_temperature: float,
) -> tuple[np.ndarray, float]:
    """Per-intent thresholds and a temperature maximising the weighted likelihood of the labels.

    Gaussian priors keep each threshold near 0 (scale: the spread of the scores) and the
    log-temperature near the mode's default, so that a few separable texts cannot drive an
    intent out or every confidence to 1; with many texts the data dominates. Thresholds of
    intents without labeled texts stay 0.
    """
    fixed = float(temperature or default_temperature)
    if not fit_thresholds and temperature is not None:
        return np.zeros(n_classes, dtype=np.float32), fixed
    x = torch.as_tensor(scores, dtype=torch.float64)
    y = torch.as_tensor(targets, dtype=torch.long)
    w = torch.as_tensor(weights, dtype=torch.float64)
    spread = float(np.std(scores)) or 1.0
    seen = torch.zeros(n_classes, dtype=torch.float64)
    seen[torch.unique(y)] = 1.0
    thresholds = torch.zeros(n_classes, dtype=torch.float64, requires_grad=fit_thresholds)
    log_t = torch.tensor(float(np.log(fixed)), dtype=torch.float64)
    log_t.requires_grad_(temperature is None)
    prior_log_t = float(np.log(default_temperature))
    params = [p for p in (thresholds, log_t) if p.requires_grad]
    optimizer = torch.optim.LBFGS(params, max_iter=200, line_search_fn="strong_wolfe")
    total = w.sum().clamp(min=1e-12)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        t = thresholds * seen
        logits = (x - t) / log_t.exp().clamp(min=_MIN_TEMPERATURE)
        nll = (torch.nn.functional.cross_entropy(logits, y, reduction="none") * w).sum()
        prior = 0.5 * ((t / spread) ** 2).sum()
        prior = prior + 0.5 * ((log_t - prior_log_t) / _LOG_TEMPERATURE_SD) ** 2
        loss = (nll + prior) / total
        loss.backward()
        return loss

    optimizer.step(closure)
    fitted = (thresholds * seen).detach().numpy().astype(np.float32)
    scale = float(log_t.detach().exp().clamp(min=_MIN_TEMPERATURE))
    if not np.all(np.isfinite(fitted)) or not np.isfinite(scale):
        return np.zeros(n_classes, dtype=np.float32), fixed
    return fitted, scale


class Scorer:
    n_anchors: int

    def scores(
        self,
        texts: Sequence[str],
        *,
        exclude_anchor: np.ndarray | None = None,
    ) -> tuple[np.ndarray, int]:
        """Scores ``(n_texts, n_classes)`` and how many texts were truncated;
        ``exclude_anchor[i]`` is an anchor text ``i`` may not match (leave-one-out)."""
        raise NotImplementedError

    def count_truncated(self, texts: Sequence[str]) -> int:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def export_onnx(self, directory: Path, thresholds: np.ndarray, scale: float) -> dict[str, Any]:
        raise NotImplementedError


class AnchorHead(torch.nn.Module):
    """Embeddings → per-intent mean of the ``top_k`` anchor similarities (fewer when an intent
    has fewer anchors) → minus thresholds, times ``scale``: the logits of the embedding mode."""

    def __init__(
        self,
        anchors: np.ndarray,
        anchor_class: np.ndarray,
        n_classes: int,
        top_k: int,
        thresholds: np.ndarray | None = None,
        scale: float = 1.0,
    ):
        super().__init__()
        members = [np.flatnonzero(anchor_class == c) for c in range(n_classes)]
        width = max(1, max(len(m) for m in members))
        index = np.zeros((n_classes, width), dtype=np.int64)
        valid = np.zeros((n_classes, width), dtype=bool)
        for c, m in enumerate(members):
            index[c, : len(m)] = m
            valid[c, : len(m)] = True
        self.k = min(top_k, width)
        self.scale = float(scale)
        self.register_buffer("anchors", torch.as_tensor(anchors, dtype=torch.float32))
        self.register_buffer("index", torch.as_tensor(index))
        self.register_buffer("invalid", torch.as_tensor(~valid))
        t = np.zeros(n_classes, dtype=np.float32) if thresholds is None else thresholds
        self.register_buffer("thresholds", torch.as_tensor(t, dtype=torch.float32))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.logits(embeddings @ self.anchors.T)

    def logits(self, similarities: torch.Tensor) -> torch.Tensor:
        """Logits from similarities ``(batch, n_anchors)``; an entry of ``EXCLUDED`` (a text's
        own anchor, while calibrating) is skipped like a missing anchor."""
        per_class = similarities[:, self.index].masked_fill(self.invalid, EXCLUDED)
        top = torch.topk(per_class, self.k, dim=-1).values  # (batch, n_classes, k)
        present = (top > EXCLUDED / 2).to(top.dtype)
        mean = (top * present).sum(dim=-1) / present.sum(dim=-1).clamp(min=1.0)
        return (mean - self.thresholds) * self.scale


class AnchorScorer(Scorer):
    """Embedding mode: cosine similarity to anchors, top-k mean per intent."""

    def __init__(
        self,
        encoder: enc.SentenceEncoder,
        anchors: np.ndarray,
        anchor_class: np.ndarray,
        n_classes: int,
        top_k: int,
        *,
        n_descriptions: int,
        batch_size: int = enc.DEFAULT_BATCH_SIZE,
    ):
        self.encoder = encoder
        self.batch_size = batch_size
        self.anchors = anchors.astype(np.float32)
        self.anchor_class = anchor_class.astype(np.int64)
        self.n_classes = n_classes
        self.top_k = top_k
        self.n_descriptions = n_descriptions
        self.n_anchors = len(anchors)
        self.head = AnchorHead(self.anchors, self.anchor_class, n_classes, top_k)

    def scores(
        self,
        texts: Sequence[str],
        *,
        exclude_anchor: np.ndarray | None = None,
    ) -> tuple[np.ndarray, int]:
        encoded = self.encoder.encode(list(texts), batch_size=self.batch_size)
        similarities = torch.as_tensor(encoded.embeddings @ self.anchors.T)
        if exclude_anchor is not None:
            rows = torch.arange(len(texts))
            similarities[rows, torch.as_tensor(exclude_anchor)] = EXCLUDED
        with torch.inference_mode():
            out = self.head.logits(similarities).numpy().astype(np.float64)
        return out, encoded.truncated

    def count_truncated(self, texts: Sequence[str]) -> int:
        return self.encoder.tokenize(texts)[1]

    def state(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "n_descriptions": self.n_descriptions}

    def arrays(self) -> dict[str, np.ndarray]:
        return {"anchors": self.anchors, "anchor_class": self.anchor_class}

    @classmethod
    def restore(
        cls,
        body: Path,
        n_classes: int,
        state: dict[str, Any],
        loaded: dict[str, np.ndarray],
        params: ZeroShotBackend,
    ) -> AnchorScorer:
        encoder = enc.SentenceEncoder.load(
            body,
            max_length=params.max_length,
            pooling=params.pooling,
            threads=params.threads,
            error=ModelError,
        )
        anchors, anchor_class = loaded["anchors"], loaded["anchor_class"]
        if (
            anchors.ndim != 2
            or anchors.shape[1] != encoder.dim
            or anchor_class.shape != (anchors.shape[0],)
            or anchor_class.min(initial=0) < 0
            or anchor_class.max(initial=0) >= n_classes
            or set(anchor_class.tolist()) != set(range(n_classes))
        ):
            raise ModelError(
                f"zeroshot anchors have shape {anchors.shape} for {n_classes} labels and "
                f"{encoder.dim}-dimensional embeddings; they do not fit together.",
                hint="re-train the model.",
            )
        return cls(
            encoder,
            anchors,
            anchor_class,
            n_classes,
            int(state["top_k"]),
            n_descriptions=int(state["n_descriptions"]),
            batch_size=params.batch_size,
        )

    def export_onnx(self, directory: Path, thresholds: np.ndarray, scale: float) -> dict[str, Any]:
        head = AnchorHead(
            self.anchors, self.anchor_class, self.n_classes, self.top_k, thresholds, scale
        )
        return export_onnx(self.encoder, head, directory)
