"""The backend protocol and the registry of backends by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

from intently.data import Dataset, columns
from intently.errors import SpecError, did_you_mean

ProgressFn = Callable[[str, float], None]
"""Called with a step description and the fraction of the fit done (0..1)."""


def notify_epoch(progress: ProgressFn, epoch: int, score: float) -> None:
    """Pass an iterative backend's validation score after ``epoch`` to a progress function
    that listens for one (an ``epoch_score(epoch, score)`` method): ``intently tune`` reports
    it to Optuna's pruner, which may stop the fit by raising ``optuna.TrialPruned``."""
    listener = getattr(progress, "epoch_score", None)
    if listener is not None:
        listener(epoch, score)


ONNX_OPSET = 17
"""The default ONNX opset of exported graphs (``ai.onnx`` domain)."""
ONNX_MODEL_FILE = "model.onnx"
"""The graph ``export_onnx`` writes into its directory."""
ONNX_OUTPUT = "probabilities"
"""The one output of every exported graph: float32 ``[batch, n_classes]``, rows sum to 1."""


@runtime_checkable
class Backend(Protocol):
    """What every trainer implements, scikit-learn style.

    The constructor only stores keyword parameters; ``fit`` sets learned state ending in ``_``.
    ``validation_proba_`` holds probabilities for the ``valid`` texts from a model that did not
    train on them (None when no validation data was given); threshold tuning uses it. A model
    whose probabilities carry a temperature the out-of-scope threshold should read undone (a
    ``stack``'s) names it in an optional ``fallback_temperature_``.
    """

    name: ClassVar[str]
    classes_: tuple[str, ...]
    validation_proba_: np.ndarray | None

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        weights: np.ndarray | None = None,
        *,
        valid: tuple[Sequence[str], Sequence[str]] | None = None,
        progress: ProgressFn | None = None,
    ) -> Self: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def get_params(self) -> dict[str, Any]: ...

    def save(self, directory: Path) -> None: ...

    @classmethod
    def load(cls, directory: Path) -> Self: ...

    def export_onnx(self, directory: Path) -> dict[str, Any]:
        """Write the fitted model as an ONNX graph, ``directory / ONNX_MODEL_FILE``.

        The graph's single output is ``ONNX_OUTPUT``: float32 probabilities of shape
        ``[batch, n_classes]``, columns in ``classes_`` order, equal to ``predict_proba``.
        Its inputs depend on ``kind``, the key of the returned description:

        - ``"linear"``: the featurizer stays in Python; inputs ``indices`` (int64) and
          ``values`` (float32), both ``[batch, L]``: each text's sparse feature vector padded
          to the batch's longest with index ``n_features`` and value 0.
        - ``"encoder"``: inputs ``input_ids`` and ``attention_mask`` (int64, ``[batch, seq]``),
          optionally ``token_type_ids``; the backend also writes ``tokenizer.json`` (a
          ``tokenizers`` file) and texts are tokenised with truncation to ``max_length`` and
          padding to the batch's longest.

        Returns a JSON-ready description that ``intently.export`` records in ``onnx.json``::

            {"kind": "linear" | "encoder", "inputs": [...], "output": "probabilities",
             "opset": 17, "max_length": 128, "tokenizer": "tokenizer.json"}  # last two: encoder

        plus what the runtime needs to rebuild the inputs (the linear backend names its
        featurizer files under ``"featurizer"``). Use the graph's own ``opset``; ``ir_version``
        should be the lowest one that opset allows, so older onnxruntime releases load it.
        A backend that cannot export raises NotImplementedError; ``intently train`` then skips
        the export and ``intently export`` says so.
        """
        ...


_BACKENDS: dict[str, Callable[[], type[Backend]]] = {}


def register_backend(name: str, factory: Callable[[], type[Backend]]) -> None:
    """Register a backend class under ``name``; ``factory`` imports it lazily."""
    _BACKENDS[name] = factory


def backend_names() -> tuple[str, ...]:
    return tuple(sorted(_BACKENDS))


def backend_class(name: str) -> type[Backend]:
    if name not in _BACKENDS:
        raise SpecError(
            f"unknown backend '{name}'.{did_you_mean(name, list(_BACKENDS))}",
            hint=f"available backends: {', '.join(backend_names())}.",
        )
    return _BACKENDS[name]()


def make_backend(name: str, params: dict[str, Any] | None = None, *, seed: int = 13) -> Backend:
    """Instantiate backend ``name`` with ``params``; unknown parameters are a SpecError."""
    cls = backend_class(name)
    params = dict(params or {})
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    for key in params:
        if key not in allowed:
            raise SpecError(
                f"backend '{name}' has no parameter '{key}'.{did_you_mean(key, allowed)}",
                hint=f"its parameters: {', '.join(sorted(allowed))}.",
            )
    if "seed" in allowed:
        params.setdefault("seed", seed)
    return cls(**params)


def fit_predict(
    name: str,
    params: dict[str, Any],
    dataset: Dataset,
    texts: Sequence[str],
    *,
    seed: int = 13,
    progress: ProgressFn | None = None,
) -> tuple[tuple[str, ...], np.ndarray]:
    """One fold of cross-fitting: backend ``name`` fitted on ``dataset.train`` (its ``valid``
    split for early stopping and calibration), then its classes and the probabilities of
    ``texts``, which it never saw."""
    train_texts, labels, weights = columns(dataset.train)
    valid_texts, valid_labels, _ = columns(dataset.valid)
    model = make_backend(name, params, seed=seed).fit(
        train_texts,
        labels,
        weights,
        valid=(valid_texts, valid_labels) if valid_texts else None,
        progress=progress,
    )
    return tuple(model.classes_), model.predict_proba(list(texts))
