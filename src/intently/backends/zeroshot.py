"""``zeroshot``: intents recognised from their descriptions, no training needed.

Two modes, recorded in ``get_params()["mode"]`` and in the saved files:

``embedding`` (default)
    Semantic-router style. Every intent has *anchors*: its description(s) from the
    ``descriptions`` parameter and, when ``use_examples`` is on, the training texts of that
    intent. A query's score for an intent is the mean of its ``top_k`` highest cosine
    similarities to the intent's anchors (same sentence encoder as the ``embedding``
    backend). An intent with neither description nor examples is described by its name
    (``book_flight`` → "book flight").
``nli``
    Used when ``nli_model_path`` names a local natural-language-inference model (a sequence
    classifier with an ``entailment`` label): the score of an intent is the entailment logit of
    the pair (query, ``hypothesis_template`` filled with the description).

Probabilities are ``softmax((score - threshold_intent) / temperature)``. With labeled texts, the
per-intent thresholds and the temperature are fitted to them (maximum likelihood with priors
that keep thresholds near 0 and the temperature near its default); a training text is never
its own anchor while doing so (leave-one-out). Without labeled texts every threshold is 0 and
the temperature defaults to 0.05 (embedding) or 1.0 (NLI logits). ``fit([], [])`` works when
``descriptions`` names at least two intents.

SNIPS test, one plain-English description per intent and no examples (bench/zeroshot_snips.yaml):
0.833 accuracy (intent names alone: 0.744). ``intently train`` passes the ``description`` of each
intent in the project file unless ``training.params.descriptions`` names its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch

from intently.backends import encoder as enc
from intently.backends.base import ProgressFn
from intently.backends.model_files import check_classes, check_format, read_files, rebuild
from intently.errors import IntentlyError, ModelError, TrainingError
from intently.spec.params import check_backend_params

FORMAT = "intently.zeroshot.v1"
_STATE_FILE = "zeroshot.json"
_ARRAYS_FILE = "zeroshot_arrays.npz"
DEFAULT_TEMPERATURE = {"embedding": 0.05, "nli": 1.0}
_LOG_TEMPERATURE_SD = 0.5
_MIN_TEMPERATURE = 1e-3
_EXCLUDED = -1e4
"""Similarity standing for "no anchor here" (cosine similarities are >= -1)."""


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def label_phrase(label: str) -> str:
    """``BookRestaurant`` / ``book_restaurant`` → ``book restaurant``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", label)
    return re.sub(r"[_\-.:/]+", " ", spaced).strip().lower()


class ZeroShotBackend:
    """Intent = the most similar description (and examples), no training needed.

    Parameters
    ----------
    descriptions : dict of str to str or list of str, or None
        Plain-English description(s) of each intent. Intents named here are classes even
        without training examples.
    mode : {"embedding", "nli"} or None, default None
        None picks "nli" when ``nli_model_path`` is set, else "embedding".
    model_path : str or None
        Sentence-encoder body of the embedding mode (None: bundled all-MiniLM-L6-v2).
    nli_model_path : str or None
        Local NLI sequence-classification model folder (safetensors) for the nli mode.
    hypothesis_template : str, default "This text is about {}."
        NLI hypothesis; ``{}`` becomes the description.
    use_examples : bool, default True
        Use training texts as anchors of their intent (embedding mode).
    top_k : int, default 3
        Anchors averaged per intent (embedding mode).
    temperature : float or None, default None
        Softmax temperature; None fits it on labeled texts (or uses the mode's default).
    fit_thresholds : bool, default True
        Fit per-intent thresholds on labeled texts.
    pooling, max_length, batch_size, threads
        As in the embedding backend.
    seed : int
    """

    name: ClassVar[str] = "zeroshot"

    def __init__(
        self,
        *,
        descriptions: Mapping[str, str | Sequence[str]] | None = None,
        mode: str | None = None,
        model_path: str | None = None,
        nli_model_path: str | None = None,
        hypothesis_template: str = "This text is about {}.",
        use_examples: bool = True,
        top_k: int = 3,
        temperature: float | None = None,
        fit_thresholds: bool = True,
        pooling: str = "mean",
        max_length: int = enc.DEFAULT_MAX_LENGTH,
        batch_size: int = enc.DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        seed: int = 13,
    ):
        self.descriptions = descriptions
        self.mode = mode
        self.model_path = model_path
        self.nli_model_path = nli_model_path
        self.hypothesis_template = hypothesis_template
        self.use_examples = use_examples
        self.top_k = top_k
        self.temperature = temperature
        self.fit_thresholds = fit_thresholds
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.threads = threads
        self.seed = seed

    @property
    def resolved_mode(self) -> str:
        if self.mode is not None:
            return self.mode
        return "nli" if self.nli_model_path is not None else "embedding"

    def get_params(self) -> dict[str, Any]:
        return {
            "descriptions": _descriptions_json(self.descriptions),
            "mode": self.resolved_mode,
            "model_path": None if self.model_path is None else str(self.model_path),
            "nli_model_path": None if self.nli_model_path is None else str(self.nli_model_path),
            "hypothesis_template": self.hypothesis_template,
            "use_examples": self.use_examples,
            "top_k": self.top_k,
            "temperature": self.temperature,
            "fit_thresholds": self.fit_thresholds,
            "pooling": self.pooling,
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "seed": self.seed,
        }

    def _check_params(self) -> None:
        check_backend_params(self)
        if self.resolved_mode == "nli" and self.nli_model_path is None:
            raise TrainingError(
                "the zeroshot backend's nli mode needs nli_model_path.",
                hint="set nli_model_path to a local NLI model folder, or use mode: embedding.",
            )

    # -- training -------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        weights: np.ndarray | None = None,
        *,
        valid: tuple[Sequence[str], Sequence[str]] | None = None,
        progress: ProgressFn | None = None,
    ) -> Self:
        report = progress or (lambda _step, _done: None)
        self._check_params()
        texts, labels = list(texts), list(labels)
        if len(texts) != len(labels):
            raise TrainingError(f"got {len(texts)} texts but {len(labels)} labels.")
        weights = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
        if weights.shape != (len(texts),) or not np.all(np.isfinite(weights) & (weights >= 0)):
            raise TrainingError("example weights must be one finite, non-negative number a text.")
        described = {
            label: [value] if isinstance(value, str) else list(value)
            for label, value in (self.descriptions or {}).items()
        }
        classes = tuple(sorted(set(labels) | set(described)))
        if len(classes) < 2:
            raise TrainingError(
                "the zeroshot backend needs at least two intents.",
                hint="describe each intent in training.params.descriptions, or add examples.",
            )
        mode = self.resolved_mode
        by_name = [label for label in classes if label not in described]
        for label in by_name:
            described[label] = [label_phrase(label)]
        targets = np.searchsorted(classes, np.asarray(labels, dtype=object))
        report("loading the model", 0.0)
        if mode == "nli":
            body = enc.resolve_body(self.nli_model_path)
            scorer: _Scorer = NliScorer.build(body, classes, described, self)
        else:
            body = enc.resolve_body(self.model_path)
            encoder = enc.SentenceEncoder.load(
                body, max_length=self.max_length, pooling=self.pooling, threads=self.threads
            )
            anchor_texts, anchor_class = [], []
            for c, label in enumerate(classes):
                for text in described[label]:
                    anchor_texts.append(text)
                    anchor_class.append(c)
            n_descriptions = len(anchor_texts)
            if self.use_examples:
                anchor_texts.extend(texts)
                anchor_class.extend(int(t) for t in targets)
            report("encoding anchors", 0.1)
            anchors = encoder.encode(anchor_texts, batch_size=self.batch_size).embeddings
            scorer = AnchorScorer(
                encoder,
                anchors,
                np.asarray(anchor_class),
                len(classes),
                self.top_k,
                n_descriptions=n_descriptions,
                batch_size=self.batch_size,
            )
        self.classes_ = classes
        self.mode_ = mode
        self.body_ = body
        self.scorer_ = scorer
        self.thresholds_ = np.zeros(len(classes), dtype=np.float32)
        self.temperature_ = float(self.temperature or DEFAULT_TEMPERATURE[mode])
        fitted_on = 0
        if texts and (self.fit_thresholds or self.temperature is None):
            report("scoring labeled texts", 0.5)
            exclude = None
            if isinstance(scorer, AnchorScorer) and self.use_examples:
                exclude = scorer.n_descriptions + np.arange(len(texts))
            scores, truncated = scorer.scores(texts, exclude_anchor=exclude)
            self.thresholds_, self.temperature_ = fit_calibration(
                scores,
                targets,
                weights,
                len(classes),
                fit_thresholds=self.fit_thresholds,
                temperature=self.temperature,
                default_temperature=DEFAULT_TEMPERATURE[mode],
            )
            fitted_on = len(texts)
        else:
            truncated = scorer.count_truncated(texts) if texts else 0
        self.validation_proba_: np.ndarray | None = None
        if valid is not None and len(valid[0]) > 0:
            self.validation_proba_ = self.predict_proba(list(valid[0]))
        self.fit_info_ = {
            "mode": mode,
            "described_by_name": by_name,
            "anchors": scorer.n_anchors,
            "calibrated_on": fitted_on,
            "truncated_texts": int(truncated),
            "max_length": self.max_length,
        }
        report("done", 1.0)
        return self

    # -- prediction -----------------------------------------------------------------------

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Per-intent scores (similarities or entailment logits) minus the thresholds."""
        scores, _ = self.scorer_.scores(list(texts))
        return scores - self.thresholds_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.decision_function(texts) / self.temperature_)

    def export_onnx(self, directory: Path) -> dict[str, Any]:
        """``model.onnx`` (query → scores → thresholds → softmax, one graph) + tokenizer."""
        return self.scorer_.export_onnx(Path(directory), self.thresholds_, 1.0 / self.temperature_)

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        state = {
            "format": FORMAT,
            "mode": self.mode_,
            "classes": list(self.classes_),
            "params": self.get_params(),
            "body": enc.body_reference(self.body_),
            "temperature": self.temperature_,
            "fit_info": self.fit_info_,
            "scorer": self.scorer_.state(),
        }
        (directory / _STATE_FILE).write_text(
            json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        np.savez(directory / _ARRAYS_FILE, thresholds=self.thresholds_, **self.scorer_.arrays())

    @classmethod
    def load(cls, directory: Path) -> Self:
        directory = Path(directory)
        state, loaded = read_files(directory, "zeroshot", _STATE_FILE, _ARRAYS_FILE)
        return rebuild("zeroshot", directory, lambda: cls._from_files(directory, state, loaded))

    @classmethod
    def _from_files(cls, directory: Path, state: Any, loaded: dict[str, np.ndarray]) -> Self:
        check_format(state, FORMAT, "zeroshot")
        model = cls(**state["params"])
        classes = state["classes"]
        check_classes(classes, directory, "zeroshot")
        thresholds = loaded["thresholds"]
        if thresholds.shape != (len(classes),):
            raise ModelError(
                f"zeroshot model in {directory} lists {len(classes)} labels but has "
                f"{thresholds.shape} thresholds.",
                hint="re-train the model.",
            )
        mode = state["mode"]
        body = enc.resolve_reference(state["body"], owner="zeroshot")
        if mode == "nli":
            scorer: _Scorer = NliScorer.restore(body, classes, state["scorer"], model)
        elif mode == "embedding":
            scorer = AnchorScorer.restore(body, len(classes), state["scorer"], loaded, model)
        else:
            raise ModelError(f"zeroshot model in {directory} has unknown mode {mode!r}.")
        model.classes_ = tuple(classes)
        model.mode_ = mode
        model.body_ = body
        model.scorer_ = scorer
        model.thresholds_ = thresholds.astype(np.float32)
        model.temperature_ = float(state["temperature"])
        model.fit_info_ = dict(state.get("fit_info") or {})
        model.validation_proba_ = None
        return model


def _descriptions_json(
    descriptions: Mapping[str, str | Sequence[str]] | None,
) -> dict[str, Any] | None:
    if descriptions is None:
        return None
    if not isinstance(descriptions, Mapping):
        return descriptions  # type: ignore[return-value]  # _check_params reports it
    return {
        key: value if isinstance(value, str) else list(value) for key, value in descriptions.items()
    }


# -- calibration ----------------------------------------------------------------------------


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


# -- scorers --------------------------------------------------------------------------------


class _Scorer:
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
        """Logits from similarities ``(batch, n_anchors)``; an entry of ``_EXCLUDED`` (a text's
        own anchor, while calibrating) is skipped like a missing anchor."""
        per_class = similarities[:, self.index].masked_fill(self.invalid, _EXCLUDED)
        top = torch.topk(per_class, self.k, dim=-1).values  # (batch, n_classes, k)
        present = (top > _EXCLUDED / 2).to(top.dtype)
        mean = (top * present).sum(dim=-1) / present.sum(dim=-1).clamp(min=1.0)
        return (mean - self.thresholds) * self.scale


class AnchorScorer(_Scorer):
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
            similarities[rows, torch.as_tensor(exclude_anchor)] = _EXCLUDED
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
        return enc.export_onnx(self.encoder, head, directory)


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


class NliScorer(_Scorer):
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
        import inspect

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
        return enc.export_module(
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
