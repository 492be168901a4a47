"""Tests generated from the parameter tables (``intently.spec.params.PARAMETERS``): each table
matches its backend's constructor, every default is accepted, and for every parameter a value
built to break one of its constraints is refused by the table and by ``fit``."""

import inspect
from typing import Any

import pytest

from intently.backends import backend_class
from intently.errors import TrainingError
from intently.spec.params import (
    PARAMETERS,
    Boolean,
    Constraint,
    FolderPath,
    Interval,
    ListOf,
    MappingOf,
    Members,
    Options,
    Pair,
    Text,
    allows,
    describe_allowed,
)


def _breakers(constraint: Constraint | None) -> list[Any]:
    """Values that ``constraint`` refuses: out of range, wrong type or wrong shape."""
    if constraint is None:
        return []
    if isinstance(constraint, Interval):
        edge = constraint.low - 1 if constraint.low is not None else constraint.high + 1
        return [edge, "12", True] + ([2.5] if constraint.kind is int else [])
    if isinstance(constraint, Options):
        return ["not-an-option", 0]
    if isinstance(constraint, Boolean):
        return ["yes", 1]
    if isinstance(constraint, Text):
        return ["", 3] + (["no placeholder"] if constraint.contains else [])
    if isinstance(constraint, FolderPath):
        return ["", 42]
    if isinstance(constraint, Pair):
        return [[3, 1], [1], "1,2"]
    if isinstance(constraint, ListOf):
        return [[], "text", [object()]]
    if isinstance(constraint, MappingOf):
        return [["a", "list"], {"": "x"}]
    if isinstance(constraint, Members):
        return [[{"backend": "linear"}], [{"backend": "stack"}, {"backend": "linear"}]]
    raise AssertionError(f"no invalid values for {type(constraint).__name__}: add them here")


def _backend(name: str) -> type:
    try:
        return backend_class(name)
    except ImportError as exc:  # the neural backends need the [neural] extra
        pytest.skip(f"{name} backend unavailable: {exc}")


CASES = [(name, key) for name, table in PARAMETERS.items() for key in table]


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_the_table_lists_exactly_the_constructor_parameters(name):
    signature = inspect.signature(_backend(name).__init__)
    assert set(PARAMETERS[name]) == set(signature.parameters) - {"self"}


@pytest.mark.parametrize(("name", "key"), CASES)
def test_the_default_is_accepted(name, key):
    default = inspect.signature(_backend(name).__init__).parameters[key].default
    assert allows(PARAMETERS[name][key], default), f"{name}.{key} refuses its default {default!r}"


@pytest.mark.parametrize(("name", "key"), CASES)
def test_each_constraint_refuses_its_breakers(name, key):
    for constraint in PARAMETERS[name][key]:
        for value in _breakers(constraint):
            assert constraint is None or not constraint.accepts(value), (name, key, value)


@pytest.mark.parametrize(("name", "key"), CASES)
def test_an_invalid_value_is_refused_by_fit_with_the_allowed_values(name, key):
    constraints = PARAMETERS[name][key]
    invalid = [v for c in constraints for v in _breakers(c) if not allows(constraints, v)]
    assert invalid, f"every generated value for {name}.{key} is allowed"
    cls = _backend(name)
    for value in invalid:
        with pytest.raises(TrainingError) as caught:
            cls(**{key: value}).fit([], [])  # checked before anything else: no data needed
        message = caught.value.message
        assert f"'{key}' parameter of the {name} backend" in message
        assert describe_allowed(constraints) in message
