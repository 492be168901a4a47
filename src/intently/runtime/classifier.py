"""``Classifier``: a trained model directory behind ``predict`` / ``predict_batch``."""

from __future__ import annotations

import gc
import importlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from intently.errors import InputError, IntentlyError, ModelError
from intently.runtime.fallback import FallbackRule
from intently.runtime.onnx_model import (
    MANIFEST_FILE,
    PRECISIONS,
    OnnxModel,
    OnnxStack,
    read_manifest,
    serving_choice,
)
from intently.runtime.version import METADATA_FILE, ModelVersion, read_version
from intently.text import normalize_plain_batch, normalize_text

MAX_TEXT_CHARS = 10_000
TOP_K = 5
PROBE_TEXT = "hello"
RUNTIMES = ("auto", "native", "onnx")
NATIVE_BACKENDS = "intently.backends"
"""Where native (training-stack) backends are looked up by name when a version was never
exported. The runtime never imports it statically: an app serving exported graphs installs
NumPy, onnxruntime and tokenizers alone."""


_GC_PAUSE_FROM = 64
"""Batches from this size build their records with the cyclic garbage collector paused."""


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic GC for a block that allocates many short-lived, acyclic objects.

    A batch allocates a few objects per text (records, tuples, floats); each 700 allocations
    start a collection that walks the young generation, and every tenth one the older ones —
    which hold the featurizer's large token caches. On BANKING77's 3,080 test texts, four
    alternating runs each: median 20.1k -> 22.5k texts/s with it paused. Nothing made
    here forms reference cycles, so reference counting frees it all; the collector runs as
    usual afterwards. It is re-enabled only if it was on (another thread may have paused it).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ProbabilityModel(Protocol):
    """What a Classifier serves: a native backend or an exported graph."""

    classes_: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


class _Answerer:
    """What every prediction of one model shares: its labels, version, runtime, precision."""

    __slots__ = ("labels", "model_version", "precision", "runtime")

    def __init__(
        self, labels: Sequence[str], model_version: str, runtime: str, precision: str | None
    ):
        self.labels = labels
        self.model_version = model_version
        self.runtime = runtime
        self.precision = precision


class Prediction:
    """The answer for one text (read-only). ``label`` is the fallback label when ``fallback``
    is set; ``intent`` is always the best-scoring class; ``ranking`` the top classes with their
    probabilities, best first.

    Not a frozen dataclass on purpose: a batch makes one record per text, and a frozen
    dataclass's ``__init__`` plus an eagerly built ranking cost ~1.8 µs a record, a fifth of
    what the linear model spends on a text. Here the fields are read-only properties over
    slots, and the records of one model share an :class:`_Answerer` and build their ranking
    when it is first read.
    """

    __slots__ = ("_answerer", "_confidence", "_fallback", "_intent", "_label", "_ranked")

    def __init__(
        self,
        label: str,
        confidence: float,
        ranking: Sequence[tuple[str, float]],
        fallback: bool,
        intent: str,
        model_version: str,
        runtime: str = "native",
        precision: str | None = None,
    ):
        self._label = label
        self._confidence = confidence
        self._ranked: tuple[tuple[str, float], ...] | tuple[list[int], list[float]] = tuple(
            (str(name), float(p)) for name, p in ranking
        )
        self._fallback = fallback
        self._intent = intent
        self._answerer = _Answerer((), model_version, runtime, precision)

    @property
    def label(self) -> str:
        return self._label

    @property
    def confidence(self) -> float:
        return self._confidence

    @property
    def fallback(self) -> bool:
        return self._fallback

    @property
    def intent(self) -> str:
        return self._intent

    @property
    def model_version(self) -> str:
        return self._answerer.model_version

    @property
    def runtime(self) -> str:
        return self._answerer.runtime

    @property
    def precision(self) -> str | None:
        """ "fp32" or "int8" for the ONNX runtime; None for the native one."""
        return self._answerer.precision

    @property
    def ranking(self) -> tuple[tuple[str, float], ...]:
        ranked = self._ranked
        if len(ranked) == 2 and isinstance(ranked[0], list):  # (class indices, probabilities)
            labels = self._answerer.labels
            indices, probabilities = ranked
            ranked = self._ranked = tuple(
                zip([labels[i] for i in indices], probabilities, strict=True)
            )
        return ranked  # type: ignore[return-value]

    def _key(self) -> tuple[object, ...]:
        return (
            self.label,
            self.confidence,
            self.ranking,
            self.fallback,
            self.intent,
            self.model_version,
            self.runtime,
            self.precision,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prediction):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ("label", "confidence", "ranking", "fallback", "intent", "model_version")
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"Prediction({shown}, runtime={self.runtime!r}, precision={self.precision!r})"

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "ranking": [{"label": label, "confidence": p} for label, p in self.ranking],
            "fallback": self.fallback,
            "intent": self.intent,
            "model_version": self.model_version,
            "runtime": self.runtime,
            "precision": self.precision,
        }


def _record(
    answerer: _Answerer, label: str, fallback: bool, ranked: list[int], ranked_p: list[float]
) -> Prediction:
    """A prediction from the model's shared :class:`_Answerer`, its class indices and their
    probabilities (best first), without ``Prediction.__init__``'s copy of the ranking."""
    prediction = object.__new__(Prediction)
    prediction._label = label
    prediction._confidence = ranked_p[0]
    prediction._ranked = (ranked, ranked_p)
    prediction._fallback = fallback
    prediction._intent = answerer.labels[ranked[0]]
    prediction._answerer = answerer
    return prediction


class Classifier:
    """Loads a model directory and answers with fallback and ambiguity rules applied.

    >>> clf = Classifier.load("models/intent/20261122T030512Z-3fa1")   # doctest: +SKIP
    >>> clf.predict("where is my card?").label                           # doctest: +SKIP
    'card_arrival'
    """

    def __init__(
        self,
        model: ProbabilityModel,
        version: ModelVersion,
        rule: FallbackRule,
        *,
        max_text_chars: int = MAX_TEXT_CHARS,
    ):
        self.model = model
        self.version = version
        self.rule = rule
        self.max_text_chars = max_text_chars
        self.labels: tuple[str, ...] = tuple(model.classes_)
        exported = isinstance(model, OnnxModel | OnnxStack)
        self.runtime = "native"
        """ "onnx": an exported graph serves (onnxruntime); "numpy": the exported linear
        weights, computed by the runtime's NumPy scorer; "native": the backend's own files."""
        if exported:
            self.runtime = "numpy" if getattr(model, "engine", "") == "numpy" else "onnx"
        self.precision: str | None = model.precision if exported else None
        """The exported graph's precision ("fp32" or "int8"); None for the native runtime."""
        self._answerer = _Answerer(self.labels, version.id, self.runtime, self.precision)

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        runtime: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
    ) -> Classifier:
        """Load a model version directory.

        Parameters
        ----------
        runtime : "auto", "native" or "onnx", default "auto"
            "onnx" serves the exported graph (``onnx.json``, written by ``intently train`` and
            ``intently export``) with onnxruntime and no training libraries; "native" loads the
            backend's own files (scikit-learn, torch...). "auto" serves the export whenever the
            version was exported (it passed the parity check against the native model) and
            "native" only when it was not.
        precision : "auto", "fp32" or "int8", default "auto"
            Which exported graph serves. "auto" takes the way export measured fastest among
            those that passed parity (``onnx.json`` → ``serving``): a graph at fp32 or int8
            in onnxruntime, or, for linear exports, the same fp32 weights computed by the
            runtime's NumPy scorer (``Classifier.runtime`` then says "numpy"). The native
            runtime ignores it.
        threads : int, optional
            onnxruntime intra-op threads (default: 1 for linear graphs, one per core for
            encoders); the native runtime ignores it.
        max_text_chars : int
            Longer texts are refused with an InputError.
        """
        model_dir = Path(model_dir)
        if runtime not in RUNTIMES:
            raise InputError(
                f"the 'runtime' parameter of Classifier.load must be one of "
                f"{', '.join(RUNTIMES)}; got {runtime!r}."
            )
        if precision not in ("auto", *PRECISIONS):
            raise InputError(
                f"the 'precision' parameter of Classifier.load must be one of "
                f"auto, {', '.join(PRECISIONS)}; got {precision!r}."
            )
        version = read_version(model_dir)
        exported = (model_dir / MANIFEST_FILE).is_file()
        model: ProbabilityModel
        if runtime == "onnx" or (runtime == "auto" and exported):
            engine = "onnxruntime"
            if precision == "auto":
                precision, engine = serving_choice(read_manifest(model_dir))
            if runtime == "onnx":  # asked for a graph: the NumPy scorer's graph is the fp32 one
                engine = "onnxruntime"
            model = OnnxModel.load(model_dir, precision=precision, threads=threads, engine=engine)
        else:
            model = _native_model(model_dir, version)
        if tuple(model.classes_) != version.labels:
            raise ModelError(
                f"the {version.backend} model in {model_dir} has labels that differ "
                "from labels.json.",
                hint="the directory was damaged; re-train.",
            )
        try:
            rule = FallbackRule.from_record(version.fallback, model_dir)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise ModelError(
                f"the fallback settings in {model_dir / METADATA_FILE} are incomplete or "
                f"invalid ({type(exc).__name__}: {exc}).",
                hint="re-train the model.",
            ) from None
        if rule.novelty is not None and not getattr(model, "gives_vectors", False):
            raise ModelError(
                f"the fallback rule of {model_dir} reads sentence vectors, which this "
                f"{type(model).__name__} does not give (exported before graphs gave them?).",
                hint=f"re-export with `intently export {model_dir}`, or serve it natively.",
            )
        if rule.novelty is not None:
            width = model.predict_proba_and_vectors([PROBE_TEXT])[1].shape[1]  # type: ignore[attr-defined]
            if width != rule.novelty.reference.shape[1]:
                raise ModelError(
                    f"the novelty reference of {model_dir} holds vectors of "
                    f"{rule.novelty.reference.shape[1]} dimensions, but the model gives {width}.",
                    hint="the directory was damaged; re-train.",
                )
        probe = model.predict_proba([PROBE_TEXT])
        if probe.shape != (1, len(version.labels)) or not np.isfinite(probe).all():
            raise ModelError(
                f"the {version.backend} model in {model_dir} answers a probe text with "
                "non-finite or misshapen probabilities (NaN or infinite weights?).",
                hint="re-train it, or deploy another version.",
            )
        return cls(model, version, rule, max_text_chars=max_text_chars)

    def _check(self, text: object) -> str:
        """The normalised text, or an InputError saying why it cannot be classified."""
        if not isinstance(text, str):
            raise InputError(f"text must be a string, got {type(text).__name__}.")
        if len(text) > self.max_text_chars:
            raise InputError(
                f"text has {len(text):,} characters; the limit is {self.max_text_chars:,}.",
                hint="send a shorter text.",
            )
        normalized = normalize_text(text, max_chars=self.max_text_chars)
        if not normalized:  # also catches texts of only control or zero-width characters
            raise InputError("text is empty.", hint="send at least one non-space character.")
        return normalized

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.predict_proba(self._normalized(texts))

    def _normalized(self, texts: Sequence[str]) -> list[str]:
        """The texts as the model reads them; an InputError names the first that cannot be."""
        if len(texts) == 1:
            return [self._check(texts[0])]
        limit = self.max_text_chars
        plain = normalize_plain_batch(texts) or [None] * len(texts)
        if all(plain) and max(map(len, texts), default=0) <= limit:
            return plain  # type: ignore[return-value]
        return [
            normalized if normalized and len(text) <= limit else self._check_in_batch(i, text)
            for i, (text, normalized) in enumerate(zip(texts, plain, strict=True))
        ]

    def _check_in_batch(self, position: int, text: object) -> str:
        try:
            return self._check(text)
        except InputError as error:
            raise InputError(
                f"text #{position} of the batch: {error.message}", hint=error.hint
            ) from None

    def predict(self, text: str) -> Prediction:
        if self.rule.novelty is not None:  # the rule reads the text's vector too
            return self._predict_batch([text])[0]
        # One text is the common request: plain Python on one row costs a fraction of the
        # array operations predict_batch spends on a batch (about 0.02 vs 0.18 ms).
        row = self.predict_proba([text])[0].tolist()
        if not all(map(math.isfinite, row)):
            raise self._non_finite()
        ranked = sorted(range(len(row)), key=row.__getitem__, reverse=True)[:TOP_K]
        labels = self.labels
        second = ranked[1] if len(ranked) > 1 else None
        is_fallback = self.rule.falls_back(labels[ranked[0]], row, ranked[0], second)
        label = self.rule.label if is_fallback else labels[ranked[0]]
        return _record(self._answerer, label, is_fallback, ranked, [row[i] for i in ranked])

    def _non_finite(self) -> ModelError:
        return ModelError(
            f"model {self.version.id} produced non-finite probabilities.",
            hint="its weights are damaged; deploy another version (deploy refuses such "
            "models: `intently models deploy`).",
        )

    def predict_batch(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        if len(texts) < _GC_PAUSE_FROM:
            return self._predict_batch(texts)
        with _cyclic_gc_paused():
            return self._predict_batch(texts)

    def _predict_batch(self, texts: Sequence[str]) -> list[Prediction]:
        vectors = None
        if self.rule.novelty is None:
            proba = self.predict_proba(texts)
        else:
            proba, vectors = self.model.predict_proba_and_vectors(  # type: ignore[attr-defined]
                self._normalized(texts)
            )
        if not np.isfinite(proba).all():
            raise self._non_finite()
        # Rule, ranking and confidences for the whole batch in a few array operations.
        index, fallback = self.rule.apply(proba, self.labels, vectors)
        k = min(TOP_K, proba.shape[1])
        top = np.argpartition(-proba, k - 1, axis=1)[:, :k]
        rows = np.arange(len(proba))[:, None]
        top = np.take_along_axis(top, np.argsort(-proba[rows, top], axis=1), axis=1)
        top_p = proba[rows, top].tolist()
        answerer, labels, fallback_label = self._answerer, self.labels, self.rule.label
        return [
            _record(
                answerer,
                fallback_label if is_fallback else labels[chosen],
                is_fallback,
                ranked,
                ranked_p,
            )
            for chosen, is_fallback, ranked, ranked_p in zip(
                index.tolist(), fallback.tolist(), top.tolist(), top_p, strict=True
            )
        ]


def _native_model(model_dir: Path, version: ModelVersion) -> ProbabilityModel:
    """The version's native backend, looked up by name in the training stack."""
    try:
        backends = importlib.import_module(NATIVE_BACKENDS)
    except ImportError as exc:
        raise ModelError(
            f"{model_dir} was never exported to ONNX, and serving it natively needs the "
            f"training stack ({exc.name or exc} is not installed).",
            hint="export it where it was trained (`intently export MODEL_DIR`) to serve it with "
            "onnxruntime alone, or `pip install intently` with its dependencies.",
        ) from None
    if version.backend not in backends.backend_names():
        raise ModelError(
            f"{model_dir} was trained with backend '{version.backend}', which this "
            "Intently does not provide.",
            hint=f"available backends: {', '.join(backends.backend_names())}; re-train the model.",
        )
    try:
        model: ProbabilityModel = backends.backend_class(version.backend).load(model_dir)
    except IntentlyError:
        raise
    except ImportError as exc:
        raise ModelError(
            f"the {version.backend} backend needs {exc.name or exc}, which is not installed.",
            hint="install what it needs, or export the model where it was trained "
            f"(`intently export {model_dir}`): exported versions serve with onnxruntime alone.",
        ) from None
    except Exception as exc:  # a damaged file can fail in many library-specific ways
        raise ModelError(
            f"cannot load the {version.backend} model in {model_dir}: {exc}.",
            hint="re-train, or deploy another version.",
        ) from exc
    return model
