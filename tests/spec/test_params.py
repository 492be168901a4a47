"""The constraint machinery of ``intently.spec.params``: what each constraint accepts, how it
reads in a message, and the problems ``find_param_problem`` reports."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from intently.spec.params import (
    PARAMETERS,
    Boolean,
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
    find_param_problem,
)


@pytest.mark.parametrize(
    ("constraint", "accepted", "refused"),
    [
        (Interval(int, 1, None), [1, 7, np.int64(3)], [0, -1, True, 1.0, "2", None]),
        (Interval(int, 8, 8192), [8, 8192], [7, 8193]),
        (Interval(float, 0, None, closed="neither"), [1e-9, 3, Fraction(1, 2)], [0, -1.0]),
        (Interval(float, 0, 1, closed="left"), [0, 0.0, 0.99], [1, 1.0, float("nan")]),
        (Interval(float, 0, 1, closed="right"), [1, 0.5], [0, 1.5]),
        (Interval(float, None, 2), [-1e9, 2.0], [2.5, float("-inf"), False]),
        (Options("svm", "logreg"), ["svm", "logreg"], ["SVM", "", None, 1]),
        (Options(1, True), [1, True], [1.0, False]),
        (Boolean(), [True, False], [1, 0, "yes", None]),
        (Text(), ["a", " b "], ["", "   ", 3, None]),
        (Text(contains="{}"), ["about {}."], ["about", "{ }"]),
        (FolderPath(), ["models/body", Path("body")], ["", " ", 42]),
        (Pair(Interval(int, 1, None)), [[1, 2], (2, 2)], [[2, 1], [0, 1], [1], [1, 2, 3], "12"]),
        (ListOf((Text(),)), [["a"], ("a", "b")], [[], ["a", ""], "a"]),
        (ListOf((Interval(float, 0, None),), min_length=2), [[0, 1.5]], [[1.0], [1, -1]]),
        (MappingOf((Text(),)), [{}, {"greet": "says hello"}], [{"": "x"}, {"a": ""}, ["a"]]),
        (
            Members(),
            [[{"backend": "linear"}, {"backend": "embedding", "params": {"C": 1}}]],
            [
                [{"backend": "linear"}],
                [{"backend": "stack"}, {"backend": "linear"}],
                [{"params": {}}, {"backend": "linear"}],
                [{"backend": "linear", "weight": 2}, {"backend": "linear"}],
                [{"backend": "linear", "params": [1]}, {"backend": "linear"}],
            ],
        ),
    ],
)
def test_constraint_accepts_and_refuses(constraint, accepted, refused):
    for value in accepted:
        assert constraint.accepts(value), value
    for value in refused:
        assert not constraint.accepts(value), value


@pytest.mark.parametrize(
    ("constraints", "description"),
    [
        ((Interval(int, 1, None),), "an integer >= 1"),
        ((Interval(float, 0, None, closed="neither"),), "a number > 0"),
        ((Interval(float, 0, 0.5, closed="left"),), "a number in [0, 0.5)"),
        ((Interval(int, None, 3, closed="neither"),), "an integer < 3"),
        ((Options("balanced"), None), "null or 'balanced'"),
        ((Options("ovr", "crammer_singer"),), "one of 'ovr', 'crammer_singer'"),
        (
            (Options("auto"), ListOf((Interval(float, 0, None),))),
            "'auto' or a non-empty list, each a number >= 0",
        ),
        (
            (Pair(Interval(int, 1, None)),),
            "a pair [low, high] with low <= high, each an integer >= 1",
        ),
    ],
)
def test_descriptions_read_as_the_end_of_must_be(constraints, description):
    assert describe_allowed(constraints) == description


def test_none_in_the_list_allows_null_and_nothing_else():
    assert allows((Options("balanced"), None), None)
    assert not allows((Options("balanced"),), None)
    assert not allows((Options("balanced"), None), "none")


def test_unknown_key_gets_did_you_mean_and_the_parameter_list():
    problem = find_param_problem("embedding", {"C": 1.0, "finetune_epoch": 3})
    assert problem is not None and problem.key == ("finetune_epoch",)
    assert problem.message == (
        "backend 'embedding' has no parameter 'finetune_epoch'. Did you mean 'finetune_epochs'?"
    )
    assert problem.hint is not None and problem.hint.startswith("its parameters: C, batch_size")


def test_first_problem_is_reported_in_the_order_written():
    problem = find_param_problem("linear", {"min_df": 0, "C": 0})
    assert problem is not None and problem.key == ("min_df",)


def test_stack_members_are_checked_against_their_own_tables():
    params = {"members": [{"backend": "linear"}, {"backend": "zeroshot", "params": {"top_k": 0}}]}
    problem = find_param_problem("stack", params)
    assert problem is not None
    assert problem.key == ("members", 1, "params", "top_k")
    assert "'top_k' parameter of the zeroshot backend must be an integer >= 1" in problem.message


def test_a_backend_without_a_table_is_not_judged_here():
    assert find_param_problem("plugin", {"anything": object()}) is None


def test_valid_parameters_have_no_problem():
    params = {"C": 0.5, "word_ngrams": [1, 3], "char_ngrams": None, "class_weight": None}
    assert find_param_problem("linear", params) is None


def test_numbers_written_as_text_get_a_hint_and_other_text_does_not():
    quoted = find_param_problem("linear", {"C": "0.5"})
    assert quoted is not None and quoted.hint is not None and "(0.5)" in quoted.hint
    word = find_param_problem("linear", {"C": "high"})
    assert word is not None and word.hint is None


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        PARAMETERS["linear"]["C"] = ()  # type: ignore[index]
    with pytest.raises(TypeError):
        PARAMETERS["new"] = {}  # type: ignore[index]
