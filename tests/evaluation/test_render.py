import json
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from intently.evaluation.gates import GateResult, WeakIntent
from intently.evaluation.metrics import EvaluationReport, evaluate_predictions
from intently.evaluation.render import (
    confusions_table,
    gates_table,
    misclassified_table,
    per_label_table,
    report_table,
    weak_intents_table,
    write_report_files,
)

PNG_MAGIC = b"\x89PNG"


def _report() -> EvaluationReport:
    rows = [
        ("where is my parcel", "track_order", "track_order", 0.92),
        ("track package 123", "track_order", "track_order", 0.88),
        ("<script>alert(1)</script> refund please", "refund", "track_order", 0.81),
        ("I want my money back", "refund", "refund", 0.77),
        ("give me a refund", "refund", "refund", 0.70),
        ("cancel everything", "cancel", "refund", 0.55),
        ("stop my subscription", "cancel", "cancel", 0.66),
        ("what's the weather", "fallback", "fallback", 0.30),
        ("tell me a joke", "fallback", "cancel", 0.45),
    ]
    texts, truth, predicted, confidence = (list(column) for column in zip(*rows, strict=True))
    return evaluate_predictions(
        texts,
        truth,
        predicted,
        confidence,
        defined_labels=["track_order", "refund", "cancel", "greet", "fallback"],
        fallback_label="fallback",
        threshold=0.4,
    )


def _gates() -> list[GateResult]:
    return [
        GateResult("accuracy", 0.5, 6 / 9, True),
        GateResult("min_intent_f1", 0.9, 0.5, False),
        GateResult("coverage", 1.0, None, False),
    ]


def _text(table: Table) -> str:
    console = Console(record=True, width=120)
    console.print(table)
    return console.export_text()


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:4] == PNG_MAGIC


def test_report_table_shows_headline_numbers() -> None:
    report = _report()
    text = _text(report_table(report, title="Smoke"))
    assert "Smoke" in text
    assert f"{report.accuracy:.4f}" in text
    assert f"{report.macro_f1:.4f}" in text
    assert "greet" in text  # uncovered
    assert "OOS recall" in text and "0.5000" in text
    assert "threshold" in text and "0.4000" in text


def test_report_table_counts_uncovered_beyond_max_labels() -> None:
    report = _report()
    many = EvaluationReport(**{**vars(report), "uncovered": ("a", "b", "c")})
    text = _text(report_table(many, max_labels=2))
    assert "a, b … and 1 more" in text


def test_report_table_does_not_read_labels_as_markup() -> None:
    report = evaluate_predictions(
        ["x"],
        ["[bold]odd"],
        ["[bold]odd"],
        [0.9],
        defined_labels=["[bold]odd"],
        fallback_label="fallback",
    )
    assert "[bold]odd" in _text(report_table(report))


def test_per_label_table_lists_worst_first_with_top_confusion() -> None:
    report = _report()
    text = _text(per_label_table(report, worst=2))
    lines = [line for line in text.splitlines() if "│" in line]
    body = "\n".join(lines)
    # cancel has the lowest F1 (0.5); track_order the highest (0.8).
    assert body.index("cancel") < body.index("fallback")
    assert "track_order" not in body
    assert "→ refund (1)" in text
    assert "Worst 2 of 4 labels" in text


def test_gates_table_marks_pass_and_fail() -> None:
    text = _text(gates_table(_gates()))
    assert "PASS" in text and text.count("FAIL") == 2
    assert "0.9000" in text and "—" in text


def test_weak_intents_table() -> None:
    items = [WeakIntent("refund", 0.4, 3, 12, (("cancel", 2), ("track_order", 1)), 30)]
    text = _text(weak_intents_table(items))
    assert "refund" in text and "0.4000" in text and "12" in text
    assert "cancel (2), track_order (1)" in text
    assert "~30 more examples" in text


def test_confusions_and_misclassified_tables() -> None:
    report = _report()
    pairs = _text(confusions_table(report, limit=10))
    assert "refund" in pairs and "track_order" in pairs
    wrong = _text(misclassified_table(report, limit=2))
    assert "<script>alert(1)</script> refund please" in wrong
    assert "0.8100" in wrong
    assert "tell me a joke" not in wrong  # limit=2 keeps the two most confident


def test_misclassified_table_truncates_long_texts() -> None:
    long_text = "word " * 40
    report = evaluate_predictions(
        [long_text],
        ["a"],
        ["b"],
        [0.6],
        defined_labels=["a", "b"],
        fallback_label="fallback",
    )
    text = _text(misclassified_table(report))
    assert "…" in text
    assert long_text.strip() not in text


def test_write_report_files(tmp_path: Path) -> None:
    report = _report()
    paths = write_report_files(report, tmp_path / "out", title="Shop <v1>", gates=_gates())
    names = [path.name for path in paths]
    assert names == ["report.json", "report.html", "confusion.png", "confidence.png"]
    assert all(path.is_file() for path in paths)

    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert data["accuracy"] == pytest.approx(6 / 9)
    assert data["n"] == 9
    assert data["gates"][1] == {
        "name": "min_intent_f1",
        "required": 0.9,
        "actual": 0.5,
        "passed": False,
    }

    _assert_png(tmp_path / "out" / "confusion.png")
    _assert_png(tmp_path / "out" / "confidence.png")

    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; refund please" in page
    assert "Shop &lt;v1&gt;" in page
    assert '<td class="fail">FAIL</td>' in page
    assert '<td class="pass">PASS</td>' in page
    assert '<img src="confusion.png"' in page and '<img src="confidence.png"' in page
    assert "http://" not in page and "https://" not in page
    # Per-label table is sorted by F1 ascending: track_order (best) comes after cancel.
    per_label = page[page.index("Per-label scores") : page.index("Most confused pairs")]
    assert per_label.index("cancel") < per_label.index("track_order")


def test_write_report_files_without_gates(tmp_path: Path) -> None:
    write_report_files(_report(), tmp_path, title="No gates")
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert "gates" not in data
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Quality gates" not in page


def test_write_report_files_empty_report(tmp_path: Path) -> None:
    report = evaluate_predictions([], [], [], [], defined_labels=[], fallback_label="fallback")
    paths = write_report_files(report, tmp_path, title="Empty")
    assert all(path.is_file() for path in paths)
    _assert_png(tmp_path / "confusion.png")
    _assert_png(tmp_path / "confidence.png")
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["n"] == 0
    assert "No misclassified examples." in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "examples" in _text(report_table(report))


def test_write_report_files_single_label_all_correct(tmp_path: Path) -> None:
    report = evaluate_predictions(
        ["hi", "hello"],
        ["greet", "greet"],
        ["greet", "greet"],
        [0.9, 0.8],
        defined_labels=["greet"],
        fallback_label="fallback",
    )
    write_report_files(report, tmp_path, title="One label")
    _assert_png(tmp_path / "confusion.png")
    _assert_png(tmp_path / "confidence.png")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "No confusions." in page
    assert "→" not in _text(per_label_table(report))


def test_write_report_files_many_labels(tmp_path: Path) -> None:
    labels = [f"intent_{i:02d}" for i in range(45)]
    truth = [label for label in labels for _ in range(2)]
    # Every label's second example goes to its neighbour, so all of them have errors.
    predicted = [labels[(i // 2 + i % 2) % len(labels)] for i in range(len(truth))]
    report = evaluate_predictions(
        truth,
        truth,
        predicted,
        [0.6] * len(truth),
        defined_labels=labels,
        fallback_label="fallback",
    )
    paths = write_report_files(report, tmp_path, title="Many")
    _assert_png(paths[2])
