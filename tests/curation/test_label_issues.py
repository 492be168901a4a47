"""Label-error finding (confident learning on out-of-fold probabilities), near-duplicates,
outliers, and feeding a reviewed issues file back into the dataset files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from intently.cli import app
from intently.curation.issue_apply import apply_reviewed, read_reviewed
from intently.curation.label_issues import (
    IssueKind,
    OutOfFold,
    confident_joint,
    find_issues,
    out_of_fold_proba,
    per_class_thresholds,
)
from intently.data import Example, read_examples
from intently.errors import DataError
from tiny_project import INTENTS

FLIPS = {"cancel my order": "greeting", "bye": "refund", "refund my money": "order_status"}
TRUE_LABEL = {text: label for label, texts in INTENTS.items() for text in texts}


def _noisy_examples() -> list[Example]:
    return [
        Example(text, FLIPS.get(text, label), origin=f"data.jsonl:{i}")
        for i, (text, label) in enumerate(TRUE_LABEL.items(), start=1)
    ]


@pytest.fixture(scope="module")
def noisy_oof() -> tuple[list[Example], OutOfFold]:
    examples = _noisy_examples()
    return examples, out_of_fold_proba(examples, folds=5, seed=13)


def test_thresholds_and_confident_joint_by_hand():
    proba = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    given = np.array([0, 0, 1, 1])
    thresholds = per_class_thresholds(proba, given)
    np.testing.assert_allclose(thresholds, [0.8, 0.6])
    # row 3 (labeled 1) reaches class 0's threshold (0.6 < 0.8? no) and its own (0.4 < 0.6: no)
    np.testing.assert_array_equal(confident_joint(proba, given, thresholds), [[1, 0], [0, 1]])
    proba[3] = [0.85, 0.15]  # now confidently class 0: an off-diagonal count
    np.testing.assert_array_equal(confident_joint(proba, given, thresholds), [[1, 0], [1, 1]])


@pytest.mark.parametrize("method", ["low_self_confidence", "prune_by_noise_rate"])
def test_flipped_labels_are_found_first_with_the_right_suggestion(noisy_oof, method):
    examples, oof = noisy_oof
    report = find_issues(examples, oof, method=method)
    found = {issue.text: issue for issue in report.label_issues}
    assert set(FLIPS) <= set(found)
    for text in FLIPS:
        assert found[text].suggested_label == TRUE_LABEL[text]
        assert found[text].origin is not None
    ranked = [issue.text for issue in report.label_issues]
    assert set(ranked[:3]) == set(FLIPS)
    assert ranked == sorted(ranked, key=lambda t: found[t].self_confidence)
    assert report.out_of_fold_accuracy() >= 0.75  # against the noisy labels


def test_rows_are_reviewable_json(noisy_oof):
    examples, oof = noisy_oof
    rows = find_issues(examples, oof).rows()
    first = rows[0]
    assert first["kind"] == "label" and first["rank"] == 1 and first["action"] == "remove"
    assert first["text"] in FLIPS and first["suggested_label"] == TRUE_LABEL[first["text"]]
    json.dumps(rows)


def _oof(examples: list[Example], proba: list[list[float]]) -> OutOfFold:
    classes = tuple(sorted({e.label for e in examples}))
    given = np.array([classes.index(e.label) for e in examples])
    return OutOfFold(classes, np.array(proba), given)


def test_near_duplicates_across_labels_suggest_the_likelier_label():
    examples = [
        Example("where is my parcel right now", "track"),
        Example("where is my parcel right now please", "cancel"),
        Example("cancel the parcel", "cancel"),
        Example("stop my parcel", "cancel"),
        Example("track my parcel", "track"),
    ]
    proba = [[0.1, 0.9], [0.3, 0.7], [0.9, 0.1], [0.8, 0.2], [0.2, 0.8]]  # cancel, track
    report = find_issues(examples, _oof(examples, proba), duplicate_similarity=0.8)
    assert len(report.duplicates) == 1
    duplicate = report.duplicates[0]
    assert duplicate.kind is IssueKind.DUPLICATE
    assert duplicate.text == "where is my parcel right now please"
    assert duplicate.suggested_label == "track" and duplicate.score >= 0.8
    assert duplicate.duplicate_of == {"text": "where is my parcel right now", "label": "track"}


def test_outliers_are_unsure_and_unlike_their_label():
    texts = [f"refund for order {i}" for i in range(8)] + ["the weather is lovely in spring"]
    examples = [Example(t, "refund") for t in texts] + [
        Example(f"hello friend {i}", "greeting") for i in range(8)
    ]
    proba = [[0.05, 0.95]] * 8 + [[0.45, 0.55]] + [[0.95, 0.05]] * 8  # greeting, refund
    report = find_issues(examples, _oof(examples, proba), outlier_max_proba=0.6)
    assert [issue.text for issue in report.outliers] == ["the weather is lovely in spring"]
    assert report.outliers[0].suggested_label is None
    assert report.outliers[0].to_dict(1)["action"] == "keep"


def test_a_class_is_never_flagged_whole():
    examples = [Example("a b", "x"), Example("c d", "y"), Example("e f", "y")]
    proba = [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]  # every label looks wrong
    report = find_issues(examples, _oof(examples, proba))
    labels = [issue.label for issue in report.label_issues]
    assert labels.count("x") == 0 and labels.count("y") == 1


def test_unusable_inputs_are_refused():
    with pytest.raises(DataError, match="2 labels"):
        out_of_fold_proba([Example("a", "x"), Example("b", "x")], folds=2)
    with pytest.raises(DataError, match="2 folds"):
        out_of_fold_proba([Example("a", "x"), Example("b", "y")], folds=1)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def _review(path: Path, rows: list[dict]) -> list:
    _write_jsonl(path, rows)
    return read_reviewed(path)


def test_apply_relabels_and_removes_in_jsonl_and_csv(tmp_path):
    data = tmp_path / "data.jsonl"
    _write_jsonl(
        data,
        [
            {"text": "cancel my order", "label": "greeting", "weight": 2},
            {"text": "hello", "label": "greeting"},
            {"text": "bye", "label": "refund"},
        ],
    )
    table = tmp_path / "more.csv"
    table.write_text('text,label\n"refund, now",greeting\nhi,greeting\n', encoding="utf-8")
    reviewed = _review(
        tmp_path / "issues.jsonl",
        [
            {"text": "cancel my order", "label": "greeting", "action": "relabel",
             "suggested_label": "cancel_order", "origin": f"{data}:1"},
            {"text": "bye", "label": "refund", "action": "remove", "origin": f"{data}:3"},
            {"text": "refund, now", "label": "greeting", "action": "relabel",
             "suggested_label": "refund", "origin": f"{table}:2"},
            {"text": "hi", "label": "greeting", "action": "keep", "origin": f"{table}:3"},
        ],
    )  # fmt: skip
    report = apply_reviewed(reviewed, [data, table])
    assert (report.relabeled, report.removed, report.kept, report.skipped) == (2, 1, 1, [])
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert rows == [
        {"text": "cancel my order", "label": "cancel_order", "weight": 2},
        {"text": "hello", "label": "greeting"},
    ]
    assert [(e.text, e.label) for e in read_examples(table)] == [
        ("refund, now", "refund"),
        ("hi", "greeting"),
    ]


def test_apply_skips_stale_rows_project_definitions_and_foreign_files(tmp_path):
    data = tmp_path / "data.jsonl"
    _write_jsonl(data, [{"text": "hello", "label": "greeting"}])
    before = data.read_text()
    reviewed = _review(
        tmp_path / "issues.jsonl",
        [
            {"text": "hello", "label": "refund", "action": "remove", "origin": f"{data}:1"},
            {"text": "hey", "label": "greeting", "action": "remove", "origin": None},
            {"text": "hello", "label": "greeting", "action": "remove",
             "origin": f"{tmp_path / 'other.jsonl'}:1"},
        ],
    )  # fmt: skip
    report = apply_reviewed(reviewed, [data])
    assert report.removed == 0 and len(report.skipped) == 3 and data.read_text() == before
    notes = " | ".join(report.skipped)
    assert "no longer holds" in notes and "project file" in notes and "not a dataset" in notes


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"text": "a", "label": "b", "action": "fix"}, "unknown action"),
        ({"text": "a", "label": "b", "action": "relabel"}, "needs a suggested_label"),
        ({"text": "a", "action": "keep"}, "string fields"),
    ],
)
def test_a_malformed_review_row_names_its_line(tmp_path, row, fragment):
    path = tmp_path / "issues.jsonl"
    path.write_text("\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=fragment) as info:
        read_reviewed(path)
    assert f"{path}:2" in str(info.value)


def test_cli_issues_then_apply(make_project, tmp_path):
    intents = {label: [] for label in INTENTS}
    data = tmp_path / "data.jsonl"
    _write_jsonl(data, [{"text": e.text, "label": e.label} for e in _noisy_examples()])
    project = make_project(intents=intents, datasets=["data.jsonl"])
    out = tmp_path / "issues.jsonl"
    runner = CliRunner()
    result = runner.invoke(
        app, ["data", "issues", "-p", str(project), "--folds", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "likely label errors" in result.output and "--apply" in " ".join(result.output.split())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    flagged = {row["text"]: row for row in rows if row["kind"] == "label"}
    assert set(FLIPS) <= set(flagged)
    kept = [row | {"action": "keep"} for row in rows if row["text"] not in FLIPS]
    fixed = [flagged[text] | {"action": "relabel"} for text in FLIPS]
    _write_jsonl(out, fixed + kept)
    result = runner.invoke(app, ["data", "issues", "-p", str(project), "--apply", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 relabeled" in result.output
    labels = {e.text: e.label for e in read_examples(data)}
    assert all(labels[text] == TRUE_LABEL[text] for text in FLIPS)
