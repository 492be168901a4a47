"""``bench/run_all.py``: the markdown table and the marker splice."""

from __future__ import annotations

from typing import Any

import pytest
from run_all import END_MARKER, START_MARKER, render_table, splice_table

from intently.benchmark import BENCHMARK_KEYS


def _row(dataset: str, backend: str, **figures: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dataset": dataset,
        "backend": backend,
        "n_train": 1000,
        "n_test": 200,
        "n_labels": 5,
        "accuracy": 0.9,
        "macro_f1": 0.9,
        "in_scope_accuracy": None,
        "oos_recall": None,
        "train_seconds": 1.0,
        "predict_p50_ms": 1.0,
        "predict_p99_ms": 2.0,
        "batch_qps": 1000.0,
        "model_mb": 1.0,
        "versions": {"intently": "0.1.0", "python": "3.11.7"},
    }
    row.update(figures)
    assert tuple(row) == BENCHMARK_KEYS
    return row


def _line(table: str, start: str) -> list[str]:
    """The cells of the first table line starting with ``start``."""
    for line in table.splitlines():
        if line.startswith(start):
            return [cell.strip() for cell in line.strip().strip("|").split("|")]
    raise AssertionError(f"no line starting with {start!r} in:\n{table}")


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    """Rows of one ``make bench`` run (timings are compared only within a run)."""
    run = {"measured_on": "2030-01-01", "run": "2030-01-01T00:00:00+00:00"}
    return [
        _row("snips", "fasttext", accuracy=0.8, predict_p50_ms=0.5, model_mb=400.0) | run,
        _row("snips", "linear", accuracy=0.96, predict_p50_ms=0.25, batch_qps=3000.0) | run,
        _row("snips", "sklearn-tfidf-logreg", accuracy=0.96, train_seconds=4.0, batch_qps=1500.0)
        | run,
    ]


def test_ratios_are_oriented_so_that_above_one_means_intently_is_better(rows):
    table = render_table(rows, generated="2030-01-01")
    header = _line(table, "| backend |")
    ratios = dict(zip(header, _line(table, "| ↳ linear vs peers |"), strict=True))
    # higher is better: intently / peer
    assert ratios["accuracy"] == "×1.00 vs LR, ×1.20 vs fastText"
    assert ratios["batch qps"] == "×2.00 vs LR, ×3.00 vs fastText"
    # lower is better: peer / intently
    assert ratios["train s"] == "×4.00 vs LR, ×1.00 vs fastText"
    assert ratios["p50 ms"] == "×4.00 vs LR, ×2.00 vs fastText"
    assert ratios["model MB"] == "×1.00 vs LR, ×400 vs fastText"
    assert "×>1 means intently is better" in table
    assert "2030-01-01" in table and "make bench" in table and "2-core CPU" in table


def test_rows_values_and_order(rows):
    table = render_table(rows, generated="2030-01-01")
    names = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    assert names == [
        "backend",
        "**linear**",
        "↳ linear vs peers",
        "sklearn-tfidf-logreg",
        "fasttext",
    ]
    linear = dict(zip(_line(table, "| backend |"), _line(table, "| **linear** |"), strict=True))
    assert linear["accuracy"] == "0.9600"
    assert linear["batch qps"] == "3,000"
    assert linear["p50 ms"] == "0.250"


def test_oos_columns_only_for_datasets_with_oos(rows):
    oos_rows = [
        _row("clinc150", "linear", in_scope_accuracy=0.9, oos_recall=0.6),
        _row("clinc150", "sklearn-tfidf-logreg", in_scope_accuracy=0.95, oos_recall=0.3),
    ]
    table = render_table(rows + oos_rows, generated="2030-01-01")
    clinc, snips = table.split("## clinc150")[1].split("## snips")
    assert "OOS recall" in clinc and "in-scope acc" in clinc
    assert "OOS recall" not in snips and "in-scope acc" not in snips
    assert table.index("## clinc150") < table.index("## snips")  # the known datasets' order
    ratios = dict(zip(_line(clinc, "| backend |"), _line(clinc, "| ↳ linear"), strict=True))
    assert ratios["OOS recall"] == "×2.00 vs LR"
    assert ratios["in-scope acc"] == "×0.95 vs LR"


def test_no_ratio_line_without_peers_and_zero_is_not_a_crash():
    table = render_table([_row("snips", "linear", model_mb=0.0)], generated="2030-01-01")
    assert "↳" not in _line(table, "| **linear** |")[0]
    assert not any(line.startswith("| ↳") for line in table.splitlines())
    table = render_table(
        [_row("snips", "linear", model_mb=0.0), _row("snips", "fasttext")], generated="x"
    )
    ratios = dict(zip(_line(table, "| backend |"), _line(table, "| ↳ linear"), strict=True))
    assert ratios["model MB"] == "n/a vs fastText"


def test_splice_replaces_only_the_marked_block():
    before = "# Benchmarks\n\nHand-written intro.\n\n"
    after = "\n\n## Discussion\n\nHand-written notes.\n"
    existing = f"{before}{START_MARKER}\nold table\n{END_MARKER}{after}"
    updated = splice_table(existing, "new table\n")
    assert updated == f"{before}{START_MARKER}\nnew table\n{END_MARKER}{after}"
    assert splice_table(updated, "new table\n") == updated  # idempotent


def test_splice_creates_or_appends_when_markers_are_missing():
    created = splice_table(None, "the table")
    assert created.startswith("# Benchmarks")
    assert f"{START_MARKER}\nthe table\n{END_MARKER}\n" in created
    appended = splice_table("# Mine\n\nProse.\n", "the table")
    assert appended == f"# Mine\n\nProse.\n\n{START_MARKER}\nthe table\n{END_MARKER}\n"


def test_exported_rows_get_an_onnx_table_and_plain_rows_do_not(rows, tmp_path):
    import json

    from run_all import load_rows

    exported = _row("snips", "transformer", accuracy=0.97)
    exported["export_parity"] = {
        "fp32": {"agreement": 1.0},
        "int8": {"agreement": 0.9958},
        "int8_level": "mixed",
    }
    exported["int8"] = {
        "accuracy": 0.9657,
        "predict_p50_ms": 3.61,
        "predict_p99_ms": 9.46,
        "batch_qps": 519.9,
        "model_mb": 33.1,
    }
    assert "ONNX export" not in render_table(rows, generated="2030-01-01")
    table = render_table([*rows, exported], generated="2030-01-01")
    cells = _line(table, "| **transformer** | 1.0000")
    assert cells == [
        "**transformer**",
        "1.0000",
        "0.9958",
        "mixed",
        "0.9657",
        "3.610",
        "9.460",
        "520",
        "33.10",
    ]
    for row in [*rows, exported, {"dataset": "snips", "backend": "odd"}]:
        (tmp_path / f"{row['dataset']}__{row['backend']}.json").write_text(json.dumps(row))
    assert sorted(r["backend"] for r in load_rows(tmp_path)) == [
        "fasttext",
        "linear",
        "sklearn-tfidf-logreg",
        "transformer",
    ]


def test_batch_throughput_is_the_median_of_several_calls(monkeypatch):
    import intently.benchmark as benchmark

    durations = iter([0.5, 0.1, 0.2])
    clock = {"now": 0.0}

    def fake_batch(texts: list[str]) -> None:
        clock["now"] += next(durations)

    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: clock["now"])
    assert benchmark.batch_qps(fake_batch, ["a"] * 100) == pytest.approx(100 / 0.2)


def test_timings_are_compared_only_within_one_run(rows, tmp_path):
    import json

    from run_all import load_rows

    same = [dict(row) for row in rows]
    same[0]["run"] = "another"  # fastText measured in another run
    table = render_table(same, generated="2030-01-01")
    header = _line(table, "| backend |")
    ratios = dict(zip(header, _line(table, "| ↳ linear vs peers |"), strict=True))
    assert ratios["p50 ms"] == "×4.00 vs LR, other run vs fastText"
    assert ratios["batch qps"] == "×2.00 vs LR, other run vs fastText"
    assert ratios["accuracy"] == "×1.00 vs LR, ×1.20 vs fastText"  # not a timing
    assert header[-1] == "measured"
    assert _line(table, "| **linear** |")[-1] == "2030-01-01"
    # a row without a run compares no timing at all
    unstamped = render_table(
        [{key: row[key] for key in BENCHMARK_KEYS} for row in rows], generated="2030-01-01"
    )
    ratios = dict(zip(header, _line(unstamped, "| ↳ linear vs peers |"), strict=True))
    assert ratios["train s"] == "other run vs LR, other run vs fastText"
    for row in same:
        (tmp_path / f"{row['dataset']}__{row['backend']}.json").write_text(json.dumps(row))
    assert len(load_rows(tmp_path)) == 3  # the run keys are accepted
