"""Backend parameters as data: what each built-in backend accepts, checked before any data is read.

Each backend's table maps a parameter to its constraints; a value is valid when one of them
accepts it, and ``None`` in the list allows null (scikit-learn's ``_parameter_constraints``)::

    "C": (Interval(float, 0, None, closed="neither"),)        # a number > 0
    "class_weight": (Options("balanced"), None)                # 'balanced' or null

``load_project`` checks every ``training.params`` against its backend's table and reports the
file, line and ``training.params.<key>``; each backend checks the same table at the start of
``fit`` (:func:`check_backend_params`), for code that builds it directly. A backend without a
table here (one registered by a plugin) is checked only by its own ``fit``.

This module imports the standard library alone, so the spec layer and tools that search the
parameter space (ranges in :class:`Interval`, choices in :class:`Options`) read it without torch.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any, Literal

from intently.errors import TrainingError, did_you_mean

KeyPath = tuple[str | int, ...]


class Constraint(ABC):
    """One shape a parameter value may take."""

    @abstractmethod
    def accepts(self, value: Any) -> bool: ...

    @abstractmethod
    def describe(self) -> str:
        """What is allowed, as it ends 'must be ...' (e.g. 'an integer >= 1')."""


Constraints = tuple[Constraint | None, ...]
"""A parameter's alternatives; ``None`` allows null."""


@dataclass(frozen=True)
class Interval(Constraint):
    """An integer (``kind=int``) or finite number (``kind=float``) between ``low`` and ``high``
    (None: unbounded); ``closed`` says which ends belong. Booleans are not numbers here."""

    kind: type[int] | type[float]
    low: float | None
    high: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, Integral if self.kind is int else Real):
            return False
        if not math.isfinite(value):
            return False
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        above_low = self.low is None or value > self.low or (low_in and value == self.low)
        below_high = self.high is None or value < self.high or (high_in and value == self.high)
        return above_low and below_high

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            left, right = "[" if low_in else "(", "]" if high_in else ")"
            return f"{noun} in {left}{self.low}, {self.high}{right}"
        if self.low is not None:
            return f"{noun} {'>=' if low_in else '>'} {self.low}"
        if self.high is not None:
            return f"{noun} {'<=' if high_in else '<'} {self.high}"
        return noun


@dataclass(frozen=True, init=False)
class Options(Constraint):
    """One of a fixed set of values, compared with their type (``True`` is not ``1``)."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", values)

    def accepts(self, value: Any) -> bool:
        return any(type(value) is type(option) and value == option for option in self.values)

    def describe(self) -> str:
        shown = [repr(option) for option in self.values]
        return shown[0] if len(shown) == 1 else f"one of {', '.join(shown)}"


@dataclass(frozen=True)
class Boolean(Constraint):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Text(Constraint):
    """A string with something besides spaces; with ``contains``, a string holding it."""

    contains: str = ""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value.strip()) and self.contains in value

    def describe(self) -> str:
        return f"a text containing {self.contains!r}" if self.contains else "a non-empty text"


@dataclass(frozen=True)
class FolderPath(Constraint):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | os.PathLike) and bool(str(value).strip())

    def describe(self) -> str:
        return "a folder path"


@dataclass(frozen=True)
class Pair(Constraint):
    """``[low, high]`` (a list or tuple), both accepted by ``item``, with ``low <= high``."""

    item: Interval

    def accepts(self, value: Any) -> bool:
        return (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(self.item.accepts(part) for part in value)
            and value[0] <= value[1]
        )

    def describe(self) -> str:
        return f"a pair [low, high] with low <= high, each {self.item.describe()}"


@dataclass(frozen=True)
class ListOf(Constraint):
    """A list (or tuple) of at least ``min_length`` items, each accepted by one of ``items``."""

    items: tuple[Constraint, ...]
    min_length: int = 1

    def accepts(self, value: Any) -> bool:
        return (
            isinstance(value, list | tuple)
            and len(value) >= self.min_length
            and all(any(c.accepts(item) for c in self.items) for item in value)
        )

    def describe(self) -> str:
        size = "non-empty list" if self.min_length == 1 else f"list of {self.min_length}+ items"
        return f"a {size}, each {describe_allowed(self.items)}"


@dataclass(frozen=True)
class MappingOf(Constraint):
    """A mapping from non-empty names (``key`` says of what) to values one of ``values``
    accepts."""

    values: tuple[Constraint, ...]
    key: str = "name"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping) and all(
            Text().accepts(name) and any(c.accepts(item) for c in self.values)
            for name, item in value.items()
        )

    def describe(self) -> str:
        return f"a mapping of {self.key} to {describe_allowed(self.values)}"


@dataclass(frozen=True)
class Members(Constraint):
    """A stack's members: ``{backend: NAME, params: {...}}`` entries, no stack inside.

    Each member's ``params`` are checked against its own backend's table in turn."""

    min_length: int = 2

    def accepts(self, value: Any) -> bool:
        return (
            isinstance(value, list | tuple)
            and len(value) >= self.min_length
            and all(_is_member(member) for member in value)
        )

    def describe(self) -> str:
        return (
            f"a list of {self.min_length}+ entries {{backend: NAME, params: {{...}}}} "
            "(a stack cannot contain another stack)"
        )


def _is_member(member: Any) -> bool:
    return (
        isinstance(member, Mapping)
        and set(member) <= {"backend", "params"}
        and Text().accepts(member.get("backend"))
        and member["backend"] != "stack"
        and (member.get("params") is None or isinstance(member["params"], Mapping))
    )


def describe_allowed(constraints: Constraints) -> str:
    """What ``constraints`` allow, as it ends 'must be ...'."""
    # null first: "null or a mapping of a to b or c" cannot be misread as "... (c or null)"
    described = [c.describe() for c in constraints if c is not None]
    return " or ".join(["null"] * (None in constraints) + described)


def allows(constraints: Constraints, value: Any) -> bool:
    """Whether one of ``constraints`` accepts ``value`` (``None`` in them accepts null)."""
    return any(value is None if c is None else c.accepts(value) for c in constraints)


# -- the tables -----------------------------------------------------------------------------

_POSITIVE = Interval(float, 0, None, closed="neither")
_COUNT = Interval(int, 1, None)
_SHARE = Interval(float, 0, 1, closed="left")
_SEED: Constraints = (Interval(int, 0, 2**32 - 1),)  # numpy's and liblinear's seed range
_CLASS_WEIGHT: Constraints = (Options("balanced"), None)
_ENCODER: dict[str, Constraints] = {
    "model_path": (FolderPath(), None),
    # how the last hidden states become one vector; mean+max concatenates the two
    "pooling": (Options("mean", "cls", "max", "mean+max"),),
    "max_length": (Interval(int, 8, 8192),),
    "threads": (_COUNT, None),
}

_TABLES: dict[str, dict[str, Constraints]] = {
    "linear": {
        "classifier": (Options("svm", "logreg"),),
        "C": (_POSITIVE,),
        "word_ngrams": (Pair(_COUNT),),
        "char_ngrams": (Pair(_COUNT), None),
        "char_weight": (_POSITIVE,),
        "class_weight": _CLASS_WEIGHT,
        "multi_class": (Options("ovr", "crammer_singer"),),
        "min_df": (_COUNT,),
        "holdout": (Interval(float, 0, 0.5, closed="left"),),
        "seed": _SEED,
    },
    "embedding": {
        **_ENCODER,
        "C": (_POSITIVE,),
        "class_weight": _CLASS_WEIGHT,
        "batch_size": (_COUNT,),
        "finetune": (Options("auto", "none", "contrastive", "probe"),),
        "finetune_epochs": (Interval(int, 0, None), None),
        "finetune_lr": (Interval(float, 0, 1, closed="neither"),),
        "finetune_batch_size": (Interval(int, 2, None),),
        "finetune_layers": (_COUNT, None),
        "token_dropout": (_SHARE,),
        "pairs_per_label": (Interval(int, 2, None),),
        "few_shot_max": (Interval(int, 0, None),),
        "seed": _SEED,
    },
    "transformer": {
        **_ENCODER,
        "init_from": (FolderPath(), None),
        "epochs": (_COUNT,),
        "lr": (Interval(float, 0, 1, closed="neither"),),
        "head_lr_scale": (_POSITIVE,),
        "batch_size": (Interval(int, 2, None),),
        "warmup": (_SHARE,),
        "weight_decay": (Interval(float, 0, None),),
        "class_weight": _CLASS_WEIGHT,
        "patience": (Interval(int, 0, None),),
        "holdout": (Interval(float, 0, 0.5, closed="left"),),
        "probe_C": (_POSITIVE,),
        "token_dropout": (_SHARE,),
        "eval_batch_size": (_COUNT,),
        "seed": _SEED,
    },
    "zeroshot": {
        **_ENCODER,
        "descriptions": (
            MappingOf((Text(), ListOf((Text(),))), key="intent name"),
            None,
        ),
        "mode": (Options("embedding", "nli"), None),
        "nli_model_path": (FolderPath(), None),
        "hypothesis_template": (Text(contains="{}"),),
        "use_examples": (Boolean(),),
        "top_k": (_COUNT,),
        "temperature": (_POSITIVE, None),
        "fit_thresholds": (Boolean(),),
        "batch_size": (_COUNT,),
        "seed": _SEED,
    },
    "spacy": {
        # a spaCy config file used verbatim (training.spacy_config sets it); the other
        # parameters then only pick the base pipeline, the hold-out and the seed
        "config": (FolderPath(), None),
        "architecture": (Options("bow", "cnn", "reduce", "ensemble"),),
        "base_model": (Text(), None),  # an installed pipeline (en_core_web_sm) or a folder
        "language": (Text(),),
        "ngram_size": (Interval(int, 1, 4),),
        "length": (Interval(int, 2**10, 2**24),),  # BOW hash table rows (a power of 2)
        "width": (Interval(int, 8, 1024),),
        "depth": (_COUNT,),
        "embed_size": (Interval(int, 100, None),),
        "dropout": (_SHARE,),
        "learn_rate": (Interval(float, 0, 1, closed="neither"),),
        "batch_size": (Pair(_COUNT),),  # compounding from low to high
        "batch_compound": (Interval(float, 1, 2),),
        "max_epochs": (_COUNT,),
        "patience": (Interval(int, 0, None),),  # epochs without a better validation score
        "min_steps": (Interval(int, 0, None),),  # update steps even on a few hundred examples
        "holdout": (Interval(float, 0, 0.5, closed="left"),),
        "lowercase": (Options("auto"), Boolean()),  # the pipeline reads text.lower()
        "seed": _SEED,
    },
    "stack": {
        "members": (Members(),),
        "weights": (Options("auto"), ListOf((Interval(float, 0, None),))),
        "folds": (Interval(int, 2, 20),),
        "seed": _SEED,
    },
}
PARAMETERS: Mapping[str, Mapping[str, Constraints]] = MappingProxyType(
    {name: MappingProxyType(table) for name, table in _TABLES.items()}
)
"""Every parameter of each built-in backend, by backend name (read-only)."""


# -- checking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamProblem:
    """The first thing wrong with a backend's parameters; ``key`` is the path inside the
    params mapping (``("C",)``, or ``("members", 1, "params", "C")`` in a stack)."""

    key: KeyPath
    message: str
    hint: str | None = None


def find_param_problem(backend: str, params: Mapping[str, Any]) -> ParamProblem | None:
    """The first unknown key or refused value in ``params``; None when all are fine or when
    ``backend`` has no table here."""
    table = PARAMETERS.get(backend)
    if table is None:
        return None
    for key, value in params.items():
        if key not in table:
            return ParamProblem(
                (key,),
                f"backend '{backend}' has no parameter '{key}'.{did_you_mean(key, list(table))}",
                hint=f"its parameters: {', '.join(sorted(table))}.",
            )
        constraints = table[key]
        if not allows(constraints, value):
            return ParamProblem(
                (key,),
                f"the '{key}' parameter of the {backend} backend must be "
                f"{describe_allowed(constraints)}; got {value!r}.",
                hint=_number_as_text_hint(constraints, value),
            )
        if any(isinstance(c, Members) and c.accepts(value) for c in constraints):
            for i, member in enumerate(value):
                nested = find_param_problem(member["backend"], member.get("params") or {})
                if nested is not None:
                    return ParamProblem(
                        (key, i, "params", *nested.key), nested.message, nested.hint
                    )
    return None


def _number_as_text_hint(constraints: Constraints, value: Any) -> str | None:
    # YAML 1.1 (PyYAML) reads 1e-4 as a string: only 1.0e-4 is a float.
    if not (isinstance(value, str) and any(isinstance(c, Interval) for c in constraints)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return f"write it as a number without quotes, with a dot before any exponent ({number!r})."


def check_backend_params(backend: Any) -> None:
    """At the start of ``fit``: the parameters a backend object stores, against its table.

    Constructors store each keyword argument under its own name (scikit-learn's rule), so the
    table's keys are the attributes to read. A refused value is a TrainingError."""
    table = PARAMETERS.get(backend.name, {})
    problem = find_param_problem(backend.name, {key: getattr(backend, key) for key in table})
    if problem is not None:
        raise TrainingError(problem.message, hint=problem.hint)
