"""Search spaces as data: what ``intently tune`` may try for each backend's parameters.

Each built-in backend declares, beside its parameter table in :mod:`intently.spec.params`, the
parameters worth searching and their ranges (:data:`SEARCH_SPACES`). A project overrides or
extends them under ``tuning.space``; every entry takes one of three forms::

    tuning:
      space:
        C: {low: 0.1, high: 100, log: true}       # a range (integers when the parameter is)
        word_ngrams: {choices: [[1, 1], [1, 2]]}   # one of these values
        min_df: 2                                  # fixed: not searched

Bounds and choices are checked against the parameter's own constraints, so a range can never
propose a value ``training.params`` would refuse. Like ``params``, this module imports the
standard library alone: the spec layer checks a space without importing Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from intently.errors import did_you_mean
from intently.spec.params import (
    PARAMETERS,
    Constraints,
    Interval,
    ParamProblem,
    allows,
    describe_allowed,
)


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high`` (both included); ``integer`` draws whole numbers,
    ``log`` samples evenly in log space (for scales such as C or a learning rate)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True, init=False)
class Choice:
    """One of ``values`` (any JSON values: numbers, texts, null, pairs such as ``[1, 2]``)."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", values)

    def to_json(self) -> dict[str, Any]:
        return {"choices": list(self.values)}


@dataclass(frozen=True)
class Fixed:
    """A value the study does not vary (an override that pins a searched parameter)."""

    value: Any

    def to_json(self) -> Any:
        return self.value


Dimension = Range | Choice | Fixed
SearchSpace = Mapping[str, Dimension]

# -- the declared spaces (beside each backend's defaults) -------------------------------------

_SPACES: dict[str, dict[str, Dimension]] = {
    # defaults: C=1, word (1, 2), char_wb (2, 5), min_df 1, balanced
    "linear": {
        "C": Range(0.05, 50.0, log=True),
        "word_ngrams": Choice([1, 1], [1, 2], [1, 3]),
        "char_ngrams": Choice(None, [2, 4], [2, 5], [3, 5], [1, 4]),
        "char_weight": Range(0.5, 2.0, log=True),
        "min_df": Range(1, 3, integer=True),
        "class_weight": Choice("balanced", None),
    },
    # defaults: C=20; the fine-tuning knobs matter only when the body is fine-tuned
    # (finetune="auto" on few-shot data, or "probe"/"contrastive")
    "embedding": {
        "C": Range(1.0, 200.0, log=True),
        "class_weight": Choice(None, "balanced"),
        "finetune_lr": Range(1e-5, 2e-4, log=True),
        "finetune_epochs": Range(2, 10, integer=True),
        "finetune_batch_size": Choice(8, 16, 32),
    },
    # defaults: bow, unigrams, dropout 0.2, learn_rate 0.005, width 64, batches 64 -> 256
    "spacy": {
        "architecture": Choice("bow", "reduce", "cnn", "ensemble"),
        "ngram_size": Range(1, 3, integer=True),
        "dropout": Range(0.0, 0.5),
        "learn_rate": Range(1e-4, 2e-2, log=True),
        "width": Choice(32, 64, 128),
        "batch_size": Choice([16, 128], [32, 256], [64, 256], [128, 512]),
    },
    # defaults: lr 5e-5, 4 epochs, batch 16, warmup 0.1, weight decay 0.01, probe C 20
    "transformer": {
        "lr": Range(1e-5, 2e-4, log=True),
        "epochs": Range(2, 8, integer=True),
        "batch_size": Choice(8, 16, 32),
        "warmup": Range(0.0, 0.3),
        "weight_decay": Range(0.0, 0.1),
        "probe_C": Range(1.0, 100.0, log=True),
    },
}
SEARCH_SPACES: Mapping[str, SearchSpace] = MappingProxyType(
    {name: MappingProxyType(space) for name, space in _SPACES.items()}
)
"""The default search space of each built-in backend that has one (read-only)."""

FORMS = (
    "{low: L, high: H} (a range; add log: true to sample on a log scale), "
    "{choices: [A, B, ...]} (one of these values), or a single value (fixed, not searched)"
)


# -- reading and checking overrides --------------------------------------------------------


def parse_dimension(raw: Any, constraints: Constraints) -> Dimension:
    """The dimension an override entry describes (the shape alone; see :func:`space_problem`).

    Raises ValueError naming what is wrong with the shape."""
    if not isinstance(raw, Mapping):
        return Fixed(raw)
    keys = set(raw)
    if keys == {"choices"}:
        values = raw["choices"]
        if not isinstance(values, list | tuple) or not values:
            raise ValueError("'choices' must be a non-empty list")
        return Choice(*values)
    if {"low", "high"} <= keys <= {"low", "high", "log"}:
        low, high, log = raw["low"], raw["high"], raw.get("log", False)
        if not isinstance(log, bool):
            raise ValueError("'log' must be true or false")
        integer = any(isinstance(c, Interval) and c.kind is int for c in constraints)
        kind = int if integer else float
        for bound in (low, high):
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise ValueError(f"bounds must be numbers; got {bound!r}")
            if integer and not float(bound).is_integer():
                raise ValueError(f"this parameter takes integers, so bounds must too; got {bound}")
        if low >= high:
            raise ValueError(f"low must be below high; got low={low}, high={high}")
        if log and low <= 0:
            raise ValueError(f"a log range needs low > 0; got {low}")
        return Range(kind(low), kind(high), log=log, integer=integer)
    raise ValueError(f"unknown range keys {sorted(map(str, keys))}")


def _candidates(raw: Any) -> tuple[Any, ...]:
    """The values an entry (already known to be well-formed) may propose, as written."""
    if not isinstance(raw, Mapping):
        return (raw,)
    return tuple(raw["choices"]) if "choices" in raw else (raw["low"], raw["high"])


def as_param(value: Any) -> Any:
    """A value of a dimension as the backend takes it: YAML and JSON give lists, and the
    pairs of parameter tables are tuples."""
    return tuple(value) if isinstance(value, list) else value


def space_problem(backend: str, overrides: Mapping[str, Any]) -> ParamProblem | None:
    """The first bad entry of a ``tuning.space`` for ``backend``: an unknown parameter, a shape
    that is none of :data:`FORMS`, or a bound or choice the parameter itself refuses."""
    table = PARAMETERS.get(backend)
    if table is None:
        return None  # a plugin backend: its own fit checks what the study proposes
    for key, raw in overrides.items():
        if key not in table:
            return ParamProblem(
                (key,),
                f"the {backend} backend has no parameter '{key}' to search."
                f"{did_you_mean(key, list(table))}",
                hint=f"its parameters: {', '.join(sorted(table))}.",
            )
        constraints = table[key]
        try:
            parse_dimension(raw, constraints)
        except ValueError as exc:
            return ParamProblem(
                (key,),
                f"tuning.space.{key} is not a search-space entry: {exc}.",
                hint=f"write it as {FORMS}.",
            )
        for value in _candidates(raw):
            if not allows(constraints, as_param(value)):
                return ParamProblem(
                    (key,),
                    f"tuning.space.{key} would try {value!r}, but the '{key}' parameter of the "
                    f"{backend} backend must be {describe_allowed(constraints)}.",
                    hint=f"keep bounds and choices within that; entries take the forms {FORMS}.",
                )
    return None


def resolve_space(backend: str, overrides: Mapping[str, Any]) -> dict[str, Dimension]:
    """``backend``'s declared space with ``overrides`` applied (checked by the loader; see
    :func:`space_problem`). Values are returned as the backend takes them (pairs as tuples)."""
    table = PARAMETERS.get(backend, {})
    space = dict(SEARCH_SPACES.get(backend, {}))
    for key, raw in overrides.items():
        space[key] = parse_dimension(raw, table.get(key, ()))
    return space


def searched(space: Mapping[str, Dimension]) -> dict[str, Dimension]:
    """The dimensions a study varies (not the fixed ones)."""
    return {key: dim for key, dim in space.items() if not isinstance(dim, Fixed)}


def fixed_params(space: Mapping[str, Dimension]) -> dict[str, Any]:
    """The pinned values of ``space``, as backend parameters."""
    return {key: as_param(d.value) for key, d in space.items() if isinstance(d, Fixed)}
