"""Search spaces: declared beside each backend's parameters, overridden by tuning.space, and
a bad entry refused with its key, the allowed forms, file and line."""

from __future__ import annotations

import pytest
import yaml

from intently.errors import SearchSpaceError
from intently.spec import load_project
from intently.spec.params import PARAMETERS, allows
from intently.spec.search_space import (
    SEARCH_SPACES,
    Choice,
    Fixed,
    Range,
    as_param,
    resolve_space,
    space_problem,
)


@pytest.mark.parametrize("backend", sorted(SEARCH_SPACES))
def test_every_declared_range_and_choice_is_a_value_the_backend_takes(backend):
    table = PARAMETERS[backend]
    for name, dim in SEARCH_SPACES[backend].items():
        values = (dim.low, dim.high) if isinstance(dim, Range) else dim.values
        assert all(allows(table[name], as_param(v)) for v in values), (backend, name)


def test_overrides_replace_extend_and_pin_the_declared_space():
    space = resolve_space(
        "linear",
        {"C": {"low": 0.5, "high": 8, "log": True}, "min_df": 2, "holdout": {"choices": [0.1]}},
    )
    assert space["C"] == Range(0.5, 8.0, log=True)
    assert space["min_df"] == Fixed(2)
    assert space["holdout"] == Choice(0.1)
    assert space["word_ngrams"] == SEARCH_SPACES["linear"]["word_ngrams"]


def test_a_range_of_an_integer_parameter_draws_integers():
    assert resolve_space("linear", {"min_df": {"low": 1, "high": 5}})["min_df"].integer
    assert space_problem("linear", {"min_df": {"low": 1, "high": 2.5}}) is not None


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"Cee": {"low": 1, "high": 2}}, "has no parameter 'Cee' to search"),
        ({"C": {"low": 0, "high": 2}}, "would try 0, but the 'C' parameter"),
        ({"C": {"low": 5, "high": 1}}, "low must be below high"),
        ({"C": {"low": 1}}, "unknown range keys ['low']"),
        ({"C": {"choices": []}}, "'choices' must be a non-empty list"),
        ({"class_weight": {"choices": ["balanced", "even"]}}, "would try 'even'"),
        ({"word_ngrams": {"choices": [[2, 1]]}}, "would try [2, 1]"),
    ],
)
def test_bad_entries_are_named(entry, expected):
    problem = space_problem("linear", entry)
    assert problem is not None and expected in problem.message


def test_the_loader_refuses_a_bad_entry_with_file_line_key_and_forms(tmp_path, make_project):
    path = make_project(tuning={"space": {"C": {"low": -1, "high": 10, "log": True}}})
    lines = path.read_text().splitlines()
    with pytest.raises(SearchSpaceError) as caught:
        load_project(path)
    error = caught.value
    assert error.code == "E340"
    assert error.where is not None and error.where.line is not None
    assert "C:" in lines[error.where.line - 1] or "low" in lines[error.where.line - 1]
    assert "tuning.space.C" in str(error) and "{low: L, high: H}" in str(error)


def test_a_task_of_its_own_is_checked_against_its_own_backend(tmp_path, make_project):
    path = make_project(
        tasks={"mood": {"training": {"backend": "embedding"}, "tuning": {"space": {"lr": 0.1}}}}
    )
    with pytest.raises(SearchSpaceError, match="embedding backend has no parameter 'lr'"):
        load_project(path)
    assert yaml.safe_load(path.read_text())["tasks"]["mood"]["tuning"]["space"] == {"lr": 0.1}
