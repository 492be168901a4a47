"""What every backend's ``fit`` shares: input checks, the validation split, a hold-out, softmax,
and the scale fitted to turn scores into calibrated probabilities.

NumPy only, so the torch-free backends use it as well as the neural ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence

import numpy as np

from intently.errors import IntentlyError, TrainingError
from intently.runtime.linear_scores import softmax

__all__ = ["Valid", "check_fit_inputs", "fit_scale", "holdout_split", "softmax", "usable_valid"]

Valid = tuple[Sequence[str], Sequence[str]]
"""``(texts, labels)`` of a validation split, as ``Backend.fit(valid=...)`` takes it."""


def check_fit_inputs(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: np.ndarray | None = None,
    *,
    described: Collection[str] = (),
    hint: str = "add examples of a second intent.",
) -> tuple[list[str], list[str], np.ndarray, tuple[str, ...]]:
    """The training data as ``(texts, labels, weights, classes)``, checked.

    ``weights`` default to 1; ``classes`` are the sorted labels plus ``described`` (labels a
    backend knows without examples, as zeroshot's descriptions). Raises TrainingError when the
    lengths differ, a weight is negative or not finite, or there are fewer than two classes
    (``hint`` says how to add one).
    """
    texts, labels = list(texts), list(labels)
    if len(texts) != len(labels):
        raise TrainingError(f"got {len(texts)} texts but {len(labels)} labels.")
    weights = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
    if weights.shape != (len(texts),) or not np.all(np.isfinite(weights) & (weights >= 0)):
        raise TrainingError("example weights must be one finite, non-negative number a text.")
    classes = tuple(sorted(set(labels) | set(described)))
    if len(classes) < 2:
        raise TrainingError(
            f"need at least two labels to train a classifier; got {len(classes)}.", hint=hint
        )
    return texts, labels, weights, classes


def usable_valid(valid: Valid | None, classes: Collection[str]) -> tuple[list[str], list[str]]:
    """The validation split as lists, or two empty lists when there is none to use.

    A split is unusable when it is empty or names a label outside ``classes`` (a model cannot
    be scored on a class it never saw); the backend then holds out part of its training data.
    """
    if valid is None or len(valid[0]) == 0:
        return [], []
    texts, labels = list(valid[0]), list(valid[1])
    if len(texts) != len(labels):
        raise TrainingError(f"got {len(texts)} validation texts but {len(labels)} labels.")
    if not set(labels) <= set(classes):
        return [], []
    return texts, labels


def holdout_split(
    labels: Sequence[object], share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(train rows, held-out rows)``, both sorted.

    A class with at least 3 examples holds out ``round(share * n)`` of them, but at least one;
    smaller classes stay entirely in training, and ``share <= 0`` holds out nothing. At least
    one, because a class without a held-out example is invisible to what the hold-out is for
    (temperature fitting, early stopping): 15% of 3 examples rounds to none. At least 3,
    because holding out 1 of 2 examples would halve what the model learns from for that
    class. Rows are drawn per class, in sorted label order, from ``seed``.
    """
    if share <= 0:
        return np.arange(len(labels)), np.arange(0)
    rng = np.random.default_rng(seed)
    label_array = np.asarray(labels)
    held: list[int] = []
    for label in np.unique(label_array):
        members = rng.permutation(np.flatnonzero(label_array == label))
        if len(members) >= 3:
            held.extend(members[: max(1, round(share * len(members)))].tolist())
    held_rows = np.sort(np.asarray(held, dtype=int))
    train_rows = np.setdiff1d(np.arange(len(labels)), held_rows)
    return train_rows, held_rows


@contextlib.contextmanager
def fit_failures(failed: str) -> Iterator[None]:
    """A fit's numerical or memory error (NaNs, a singular matrix, data too large) becomes a
    TrainingError that starts with ``failed`` ("the linear backend failed to fit"); Intently's
    own errors pass unchanged."""
    try:
        yield
    except IntentlyError:
        raise
    except (ValueError, FloatingPointError, MemoryError) as exc:
        raise TrainingError(
            f"{failed}: {exc}.", hint="check the data with `intently data validate`."
        ) from exc


def fit_scale(
    scores: np.ndarray,
    targets: np.ndarray,
    *,
    prior_scale: float,
    upper: float,
    prior_log_sd: float = 0.5,
) -> float:
    """The factor (an inverse temperature) in ``[0.05, upper]`` maximising the likelihood of
    ``targets`` under ``softmax(scores * factor)``, with a log-normal prior centred on
    ``prior_scale``: a few perfectly separated rows cannot drive the factor (and every
    confidence) to its bound; with thousands of rows the data decide."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(targets))

    def penalised_nll(scale: float) -> float:
        nll = -float(np.sum(np.log(softmax(scores * scale)[rows, targets] + 1e-12)))
        return nll + 0.5 * (np.log(scale / prior_scale) / prior_log_sd) ** 2

    return float(minimize_scalar(penalised_nll, bounds=(0.05, upper), method="bounded").x)
