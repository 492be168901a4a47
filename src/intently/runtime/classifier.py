"""``Classifier``: a trained model directory behind ``predict`` / ``predict_batch``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intently.backends import Backend, backend_class, backend_names
from intently.data.clean import normalize_text
from intently.errors import InputError, IntentlyError, ModelError
from intently.registry import METADATA_FILE, ModelVersion, read_version
from intently.runtime.fallback import FallbackRule
from intently.runtime.onnx_model import MANIFEST_FILE, PRECISIONS, OnnxModel, OnnxStack

MAX_TEXT_CHARS = 10_000
TOP_K = 5
RUNTIMES = ("auto", "native", "onnx")


@dataclass(frozen=True, slots=True)
class Prediction:
    """The answer for one text. ``label`` is the fallback label when ``fallback`` is set;
    ``intent`` is always the best-scoring class."""

    label: str
    confidence: float
    ranking: tuple[tuple[str, float], ...]
    fallback: bool
    intent: str
    model_version: str

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "ranking": [{"label": label, "confidence": p} for label, p in self.ranking],
            "fallback": self.fallback,
            "intent": self.intent,
            "model_version": self.model_version,
        }


class Classifier:
    """Loads a model directory and answers with fallback and ambiguity rules applied.

    >>> clf = Classifier.load("models/intent/20261122T030512Z-3fa1")   # doctest: +SKIP
    >>> clf.predict("where is my card?").label                           # doctest: +SKIP
    'card_arrival'
    """

    def __init__(
        self,
        model: Backend | OnnxModel | OnnxStack,
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

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        runtime: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
    ) -> Classifier:
        """Load a model version directory.

        Parameters
        ----------
        runtime : "auto", "native" or "onnx", default "auto"
            "native" loads the backend's own files; "onnx" the exported graph (``onnx.json``,
            written by ``intently export`` and by ``intently train``) with onnxruntime and no
            training libraries. "auto" is native unless the version is exported and its
            backend cannot be imported here (torch or SciPy missing, say).
        precision : "fp32" or "int8", default "fp32"
            Which exported graph the ONNX runtime serves; the native runtime ignores it.
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
        if precision not in PRECISIONS:
            raise InputError(
                f"the 'precision' parameter of Classifier.load must be one of "
                f"{', '.join(PRECISIONS)}; got {precision!r}."
            )
        version = read_version(model_dir)
        model: Backend | OnnxModel | OnnxStack
        if runtime == "onnx":
            model = OnnxModel.load(model_dir, precision=precision, threads=threads)
        else:
            try:
                model = _native_model(model_dir, version)
            except _NativeUnavailable as missing:
                if runtime == "native" or not (model_dir / MANIFEST_FILE).is_file():
                    raise ModelError(
                        missing.message,
                        hint="install what it needs, or export the model where it was trained "
                        f"(`intently export {model_dir}`) and load it with runtime='onnx'.",
                    ) from None
                model = OnnxModel.load(model_dir, precision=precision, threads=threads)
        if tuple(model.classes_) != version.labels:
            raise ModelError(
                f"the {version.backend} model in {model_dir} has labels that differ "
                "from labels.json.",
                hint="the directory was damaged; re-train.",
            )
        try:
            fallback = version.fallback
            if not isinstance(fallback["label"], str):
                raise TypeError("the fallback label is not a string")
            rule = FallbackRule(
                label=fallback["label"],
                threshold=float(fallback["threshold"]),
                ambiguity_threshold=float(fallback["ambiguity_threshold"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(
                f"the fallback settings in {model_dir / METADATA_FILE} are incomplete or "
                f"invalid ({type(exc).__name__}: {exc}).",
                hint="re-train the model.",
            ) from None
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
        normalized = normalize_text(text)
        if not normalized:  # also catches texts of only control or zero-width characters
            raise InputError("text is empty.", hint="send at least one non-space character.")
        return normalized

    @property
    def runtime(self) -> str:
        """ "onnx" when an exported graph serves, else "native"."""
        return "onnx" if isinstance(self.model, OnnxModel | OnnxStack) else "native"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1:
            return self.model.predict_proba([self._check(texts[0])])
        checked = []
        for position, text in enumerate(texts):
            try:
                checked.append(self._check(text))
            except InputError as error:
                raise InputError(
                    f"text #{position} of the batch: {error.message}", hint=error.hint
                ) from None
        return self.model.predict_proba(checked)

    def predict(self, text: str) -> Prediction:
        return self.predict_batch([text])[0]

    def predict_batch(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        proba = self.predict_proba(texts)
        # Rule, ranking and confidences for the whole batch in a few array operations.
        index, fallback = self.rule.apply(proba, self.labels)
        k = min(TOP_K, proba.shape[1])
        top = np.argpartition(-proba, k - 1, axis=1)[:, :k]
        rows = np.arange(len(proba))[:, None]
        top = np.take_along_axis(top, np.argsort(-proba[rows, top], axis=1), axis=1)
        top_p = proba[rows, top].tolist()
        labels, version, fallback_label = self.labels, self.version.id, self.rule.label
        return [
            Prediction(
                label=fallback_label if is_fallback else labels[chosen],
                confidence=ranked_p[0],
                ranking=tuple(zip([labels[i] for i in ranked], ranked_p, strict=True)),
                fallback=is_fallback,
                intent=labels[ranked[0]],
                model_version=version,
            )
            for chosen, is_fallback, ranked, ranked_p in zip(
                index.tolist(), fallback.tolist(), top.tolist(), top_p, strict=True
            )
        ]


class _NativeUnavailable(Exception):
    """The native backend of a version cannot be imported here (a library is missing)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _native_model(model_dir: Path, version: ModelVersion) -> Backend:
    """The version's native backend; _NativeUnavailable when it cannot be imported here."""
    if version.backend not in backend_names():
        raise ModelError(
            f"{model_dir} was trained with backend '{version.backend}', which this "
            "Intently does not provide.",
            hint=f"available backends: {', '.join(backend_names())}; re-train the model.",
        )
    try:
        return backend_class(version.backend).load(model_dir)
    except IntentlyError:
        raise
    except ImportError as exc:
        raise _NativeUnavailable(
            f"the {version.backend} backend needs {exc.name or exc}, which is not installed."
        ) from None
    except Exception as exc:  # a damaged file can fail in many library-specific ways
        raise ModelError(
            f"cannot load the {version.backend} model in {model_dir}: {exc}.",
            hint="re-train, or deploy another version.",
        ) from exc
