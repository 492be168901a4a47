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

The scorers live in :mod:`intently.backends.zeroshot_scoring` (embedding mode, calibration)
and :mod:`intently.backends.zeroshot_nli`.

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

from intently.backends import encoder as enc
from intently.backends.base import ProgressFn
from intently.backends.bodies import body_reference, resolve_body, resolve_reference
from intently.backends.fitting import check_fit_inputs, softmax, usable_valid
from intently.backends.zeroshot_nli import NliScorer
from intently.backends.zeroshot_scoring import AnchorScorer, Scorer, fit_calibration
from intently.errors import ModelError, TrainingError
from intently.runtime.model_files import check_classes, check_format, read_files, rebuild
from intently.spec.params import check_backend_params

FORMAT = "intently.zeroshot.v1"
_STATE_FILE = "zeroshot.json"
_ARRAYS_FILE = "zeroshot_arrays.npz"
DEFAULT_TEMPERATURE = {"embedding": 0.05, "nli": 1.0}


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
        described = {
            label: [value] if isinstance(value, str) else list(value)
            for label, value in (self.descriptions or {}).items()
        }
        texts, labels, weights, classes = check_fit_inputs(
            texts,
            labels,
            weights,
            described=described,
            hint="describe each intent in training.params.descriptions, or add examples.",
        )
        mode = self.resolved_mode
        by_name = [label for label in classes if label not in described]
        for label in by_name:
            described[label] = [label_phrase(label)]
        targets = np.searchsorted(classes, np.asarray(labels, dtype=object))
        report("loading the model", 0.0)
        if mode == "nli":
            body = resolve_body(self.nli_model_path)
            scorer: Scorer = NliScorer.build(body, classes, described, self)
        else:
            body = resolve_body(self.model_path)
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
        valid_texts, _ = usable_valid(valid, classes)
        if valid_texts:
            self.validation_proba_ = self.predict_proba(valid_texts)
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
            "body": body_reference(self.body_),
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
        body = resolve_reference(state["body"], owner="zeroshot")
        if mode == "nli":
            scorer: Scorer = NliScorer.restore(body, classes, state["scorer"], model)
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
