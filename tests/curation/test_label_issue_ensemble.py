"""Out-of-fold probabilities for label-issue finding: the shared cross-fitting of
evaluation.crossval without a validation split, averaged members, and the frozen-embedding
member that encodes each text once."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from intently.backends import make_backend
from intently.cli import app
from intently.curation import label_issues
from intently.curation.label_issues import (
    average,
    estimated_issues,
    find_issues,
    issue_count,
    members_out_of_fold,
    out_of_fold_proba,
)
from intently.data import Example
from intently.errors import DataError
from intently.evaluation.crossval import OutOfFold, fold_assignment, fold_datasets
from tiny_project import INTENTS

EXAMPLES = [Example(text, label) for label, texts in INTENTS.items() for text in texts]


def test_without_a_validation_share_each_fold_trains_on_every_other_example_in_order():
    fold = fold_assignment(EXAMPLES, 3, seed=5)
    for f, (held, dataset) in enumerate(fold_datasets(EXAMPLES, 3, seed=5, valid_share=0.0)):
        assert held == [i for i in range(len(EXAMPLES)) if fold[i] == f]
        assert dataset.train == tuple(e for i, e in enumerate(EXAMPLES) if fold[i] != f)
        assert dataset.valid == ()


def test_out_of_fold_proba_is_one_linear_fit_per_fold_on_the_other_folds():
    oof = out_of_fold_proba(EXAMPLES, folds=3, seed=5)
    fold = fold_assignment(EXAMPLES, 3, seed=5)
    labels = sorted(INTENTS)
    for f in range(3):
        rest = [e for i, e in enumerate(EXAMPLES) if fold[i] != f]
        model = make_backend("linear", seed=5).fit([e.text for e in rest], [e.label for e in rest])
        held = np.flatnonzero(fold == f)
        expected = model.predict_proba([EXAMPLES[i].text for i in held])
        columns = [labels.index(c) for c in model.classes_]
        np.testing.assert_allclose(oof.proba[np.ix_(held, columns)], expected)
    assert [oof.classes[g] for g in oof.given] == [e.label for e in EXAMPLES]


def test_members_are_averaged_on_the_same_folds():
    members = [("linear", {}), ("linear", {"C": 0.5})]
    results = members_out_of_fold(EXAMPLES, members, folds=3, seed=5)
    each = [out_of_fold_proba(EXAMPLES, backend=b, params=p, folds=3, seed=5) for b, p in members]
    for got, expected in zip(results, each, strict=True):
        np.testing.assert_array_equal(got.proba, expected.proba)
    assert not np.allclose(each[0].proba, each[1].proba)  # the members do differ
    np.testing.assert_allclose(average(results).proba, (each[0].proba + each[1].proba) / 2)
    with pytest.raises(DataError, match="at least one model"):
        members_out_of_fold(EXAMPLES, [], folds=3)
    other = out_of_fold_proba(EXAMPLES[1:], folds=3, seed=5)
    with pytest.raises(DataError, match="different data"):
        average([each[0], other])


def test_an_ensemble_flags_the_mean_of_its_members_estimates():
    examples = [Example(f"text {i}", label) for i, label in enumerate("aaabbb")]
    given = np.array([0, 0, 0, 1, 1, 1])
    # one member finds example 0 and 3 confidently in the other class, the other only 0
    sure = np.array([[0.1, 0.9], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    unsure = sure.copy()
    unsure[3] = [0.4, 0.6]
    members = [OutOfFold(("a", "b"), sure, given), OutOfFold(("a", "b"), unsure, given)]
    assert [estimated_issues(m) for m in members] == [2, 1]
    assert issue_count(members) == 2  # round(1.5) (to even)
    assert issue_count(members[1:]) == 1
    report = find_issues(examples, average(members), n_issues=1)
    assert [issue.index for issue in report.label_issues] == [0]
    default = find_issues(examples, members[0])
    assert len(default.label_issues) == estimated_issues(members[0])


@pytest.fixture(scope="module")
def tiny_body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT (tests/backends/test_encoder.py's), loaded by path: pytest puts
    only this test's folder on sys.path."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    source = Path(__file__).resolve().parent.parent / "backends" / "test_encoder.py"
    spec = importlib.util.spec_from_file_location("intently_test_encoder_body", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_body(tmp_path_factory.mktemp("body"))


def test_frozen_embedding_member_matches_the_backend_and_encodes_once(tiny_body, monkeypatch):
    from intently.backends.encoder import SentenceEncoder

    params = {"model_path": str(tiny_body), "finetune": "none"}
    encoded: list[int] = []
    encode = SentenceEncoder.encode

    def counting(self: SentenceEncoder, texts: list[str], **kwargs: object) -> object:
        encoded.append(len(texts))
        return encode(self, texts, **kwargs)

    monkeypatch.setattr(SentenceEncoder, "encode", counting)
    monkeypatch.setattr(label_issues, "_ENCODED", {})
    oof = out_of_fold_proba(EXAMPLES, backend="embedding", params=params, folds=3, seed=5)
    assert encoded == [len(EXAMPLES)]  # once for all folds, not once per fold
    out_of_fold_proba(EXAMPLES, backend="embedding", params=params, folds=2, seed=6)
    assert encoded == [len(EXAMPLES)]  # and not again in the same process

    monkeypatch.setattr(SentenceEncoder, "encode", encode)
    fold = fold_assignment(EXAMPLES, 3, seed=5)
    rest = [e for i, e in enumerate(EXAMPLES) if fold[i] != 0]
    model = make_backend("embedding", params, seed=5)
    model.fit([e.text for e in rest], [e.label for e in rest])
    held = np.flatnonzero(fold == 0)
    columns = [oof.classes.index(c) for c in model.classes_]
    expected = model.predict_proba([EXAMPLES[i].text for i in held])
    np.testing.assert_allclose(oof.proba[np.ix_(held, columns)], expected, atol=1e-4)


def test_cli_members_average_the_named_backends(make_project, tmp_path, tiny_body):
    project = make_project(
        training={"backend": "embedding", "params": {"model_path": str(tiny_body)}, "seed": 13}
    )
    out = tmp_path / "issues.jsonl"
    runner = CliRunner()
    args = ["data", "issues", "-p", str(project), "--folds", "3", "--out", str(out)]
    result = runner.invoke(app, [*args, "--members", "linear,embedding"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(row["kind"] in ("label", "duplicate", "outlier") for row in rows)
    for bad in (["--members", "linear"], ["--members", "linear,linear"]):
        result = runner.invoke(app, [*args, *bad])
        assert result.exit_code != 0 and "2 or more different" in result.output
    result = runner.invoke(app, [*args, "--members", "linear,embedding", "--backend", "linear"])
    assert result.exit_code != 0 and "not both" in result.output
