"""What one trial measures: a backend's cross-fitted score with the parameters a trial draws.

Every trial is scored on out-of-fold predictions of the train and validation splits together
(:func:`intently.evaluation.crossval.out_of_fold_proba`): each example is predicted by a model
that neither trained nor early-stopped nor calibrated on it, so the parameters chosen are those
that generalise, and the test split stays untouched for the final report. Predictions are the
argmax (the out-of-scope label, when the data has one, is a class like the others); the score is
the report's ``metric`` (macro-F1 by default), computed exactly as the quality gates compute it.

Pruning: after each fold the score of the folds done so far is reported at step ``fold``; an
iterative backend also reports each epoch's validation macro-F1 at step ``1000·fold + epoch``
(through :func:`intently.backends.base.notify_epoch`). Optuna's pruner compares a trial with the
others at the same step and stops it by raising ``optuna.TrialPruned``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from intently.backends.base import fit_predict
from intently.data import Dataset, Example
from intently.evaluation.crossval import OutOfFold, out_of_fold_proba
from intently.evaluation.metrics import evaluate_predictions
from intently.spec.search_space import Choice, Dimension, Range, as_param, fixed_params, searched

if TYPE_CHECKING:
    import optuna

AUTO_FOLDS_LIMIT = 3000
"""Up to this many examples ``folds: auto`` cross-validates with 5 folds, above it with 3: each
fold of a larger set is already a stable estimate, and 3 folds cost 40% less."""
EPOCH_STEP = 1000
"""Epoch reports of fold ``f`` go to steps ``EPOCH_STEP·f + epoch``, apart from fold reports."""


def folds_for(n_examples: int, folds: int | str) -> int:
    """The number of folds ``tuning.folds`` means for ``n_examples`` examples."""
    if isinstance(folds, int):
        return folds
    return 5 if n_examples <= AUTO_FOLDS_LIMIT else 3


def suggest(trial: optuna.trial.Trial, space: Mapping[str, Dimension]) -> dict[str, Any]:
    """Backend parameters drawn for ``trial`` from ``space`` (fixed entries included).

    Optuna's categorical values must be None, bool, int, float or str: a choice among pairs
    such as ``[1, 2]`` is stored as its JSON text and parsed back."""
    params = fixed_params(space)
    for name, dim in searched(space).items():
        if isinstance(dim, Range):
            if dim.integer:
                params[name] = trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
            else:
                params[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, Choice):
            params[name] = as_param(_choice(trial, name, dim.values))
    return params


def _primitive(values: Sequence[Any]) -> bool:
    """Whether Optuna can store ``values`` as they are (else they go as JSON texts)."""
    return all(value is None or isinstance(value, bool | int | float | str) for value in values)


def _choice(trial: optuna.trial.Trial, name: str, values: Sequence[Any]) -> Any:
    if _primitive(values):
        return trial.suggest_categorical(name, list(values))
    return json.loads(trial.suggest_categorical(name, [json.dumps(v) for v in values]))


def baseline_trial(
    backend: str, base_params: Mapping[str, Any], space: Mapping[str, Dimension]
) -> dict[str, Any]:
    """The parameters the project trains with today, in the study's encoding: enqueued as a
    study's first trial, so the best trial is never worse (on the objective) than not tuning.
    A value outside its dimension is left for the sampler to draw."""
    import inspect

    from intently.backends import backend_class

    signature = inspect.signature(backend_class(backend).__init__).parameters
    trial: dict[str, Any] = {}
    for name, dim in searched(space).items():
        value = base_params.get(name, signature[name].default if name in signature else None)
        if isinstance(value, tuple):
            value = list(value)
        if (
            isinstance(dim, Range)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            if dim.low <= value <= dim.high:
                trial[name] = int(value) if dim.integer else float(value)
        elif isinstance(dim, Choice) and value in dim.values:
            trial[name] = value if _primitive(dim.values) else json.dumps(value)
    return trial


def decode_params(space: Mapping[str, Dimension], stored: Mapping[str, Any]) -> dict[str, Any]:
    """A finished trial's stored params (``trial.params``) as backend parameters, with the
    space's fixed values: the inverse of :func:`suggest`'s JSON encoding of pairs."""
    params = fixed_params(space)
    for name, value in stored.items():
        dim = space.get(name)
        encoded = isinstance(dim, Choice) and isinstance(value, str) and value not in dim.values
        params[name] = as_param(json.loads(value) if encoded else value)
    return params


def score(metric: str, truth: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> float:
    """``metric`` of the argmax predictions, as the gates compute it (0 when undefined)."""
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    report = evaluate_predictions(
        [""] * len(truth),
        list(truth),
        predicted,
        proba.max(axis=1),
        defined_labels=sorted(set(truth)),
        fallback_label="",  # no fallback here: every label is scored as a class
    )
    value = getattr(report, metric)
    return float(value) if value is not None else 0.0


class _EpochListener:
    """The progress function a trial's backend gets: it ignores progress text and forwards
    per-epoch validation scores to the pruner (see :func:`intently.backends.base.notify_epoch`)."""

    def __init__(self, on_epoch: Callable[[int, float], None]):
        self._on_epoch = on_epoch

    def __call__(self, _step: str, _done: float) -> None:
        return None

    def epoch_score(self, epoch: int, value: float) -> None:
        self._on_epoch(epoch, value)


@dataclass(frozen=True)
class Objective:
    """Scores a parameter set on ``examples`` (train + valid; never test) by ``folds``-fold
    cross-fitting of ``backend``, with ``base_params`` under the drawn ones."""

    examples: tuple[Example, ...]
    backend: str
    base_params: Mapping[str, Any]
    space: Mapping[str, Dimension]
    metric: str = "macro_f1"
    folds: int = 5
    seed: int = 13
    task: str = "intent"

    def __call__(self, trial: optuna.trial.Trial) -> float:
        import optuna

        params = {**self.base_params, **suggest(trial, self.space)}
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        truth = [e.label for e in self.examples]
        fold_now = [0]

        def on_epoch(epoch: int, value: float) -> None:
            trial.report(value, EPOCH_STEP * (fold_now[0] + 1) + epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at fold {fold_now[0] + 1}, epoch {epoch}")

        def on_fold(fold: int, done: np.ndarray, partial: OutOfFold) -> None:
            fold_now[0] = fold
            value = score(
                self.metric, [truth[i] for i in done], partial.proba[done], partial.classes
            )
            trial.report(value, fold)
            if fold < self.folds and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {fold}: {value:.4f}")

        oof = self.cross_fit(params, on_fold=on_fold, listener=_EpochListener(on_epoch))
        return score(self.metric, truth, oof.proba, oof.classes)

    def cross_fit(
        self,
        params: Mapping[str, Any],
        *,
        on_fold: Callable[[int, np.ndarray, OutOfFold], None] | None = None,
        listener: Callable[[str, float], None] | None = None,
    ) -> OutOfFold:
        """Out-of-fold probabilities of the backend with ``params``."""

        def fit_proba(dataset: Dataset, held: Sequence[Example]) -> tuple[Sequence[str], Any]:
            texts = [e.text for e in held]
            return fit_predict(
                self.backend, dict(params), dataset, texts, seed=self.seed, progress=listener
            )

        return out_of_fold_proba(
            self.examples, fit_proba, k=self.folds, seed=self.seed, task=self.task, on_fold=on_fold
        )
