"""Batch prediction over files: readers, batching, bad records, strict mode, output formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

import intently.data.io as data_io
from intently.data.io import read_text_records, text_format_of
from intently.errors import DataError, InputError
from intently.predict_file import (
    PREDICTION_FIELDS,
    BadRecord,
    CsvWriter,
    FileProgress,
    JsonlWriter,
    output_format_of,
    predict_file,
    predict_stream,
)
from intently.runtime import Classifier, Prediction


class EchoClassifier:
    """Labels each text with its first word; refuses texts containing REFUSE like the real
    classifier refuses texts it cannot normalise."""

    max_text_chars = 40

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def predict_batch(self, texts: Sequence[str]) -> list[Prediction]:
        if any("REFUSE" in text for text in texts):
            raise InputError("text is empty.")
        self.batches.append(list(texts))
        return [
            Prediction(
                label=text.split()[0],
                confidence=0.75,
                ranking=((text.split()[0], 0.75), ("other", 0.25)),
                fallback=False,
                intent=text.split()[0],
                model_version="v1",
            )
            for text in texts
        ]


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _run(tmp_path: Path, name: str, content: str | bytes, out: str = "out.jsonl", **options):
    source = _write(tmp_path / name, content)
    bad: list[BadRecord] = []
    result = predict_file(EchoClassifier(), source, tmp_path / out, on_bad=bad.append, **options)
    return result, bad


# -- readers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.jsonl", "jsonl"), ("a.JSON", "jsonl"), ("a.ndjson", "jsonl"), ("a.csv", "csv"),
     ("a.tsv", "csv"), ("a.txt", "lines"), ("texts", "lines")],
)  # fmt: skip
def test_text_format_by_suffix(name, expected):
    assert text_format_of(name) == expected


def test_plain_lines_skip_blank_lines_and_strip_a_bom():
    stream = io.BytesIO("\ufeffhello there\r\n\n   \nbye now\n".encode())
    records = list(read_text_records(stream, "lines"))
    assert [(r.line, r.text) for r in records] == [(1, "hello there"), (4, "bye now")]


def test_jsonl_problems_name_their_line():
    lines = [
        '{"text": "ok one", "id": 7}',
        "",
        "{not json",
        '{"id": 3}',
        '{"text": 5}',
        '{"text": "  "}',
        "[1, 2]",
        '{"text": null}',
        '{"text": "ok two"}',
    ]
    stream = io.BytesIO(("\n".join(lines) + "\n").encode())
    records = list(read_text_records(stream, "jsonl"))
    assert [(r.line, r.text, r.fields) for r in records if r.text] == [
        (1, "ok one", {"id": 7}),
        (9, "ok two", {}),
    ]
    problems = {r.line: r.problem for r in records if r.text is None}
    assert problems == {
        3: "invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        4: "no 'text' field",
        5: "'text' must be a string, got a number",
        6: "'text' is empty",
        7: 'expected an object like {"text": ...}, got an array',
        8: "'text' must be a string, got null",
    }


def test_csv_rows_with_quoted_newlines_and_bad_rows():
    content = 'id,text\n1,hello\n2,"two\nlines"\n\n3,a,b\n4,\n5,bye\n'
    records = list(read_text_records(io.BytesIO(content.encode()), "csv", name="t.csv"))
    assert [(r.line, r.text, r.fields) for r in records if r.text] == [
        (2, "hello", {"id": "1"}),
        (3, "two\nlines", {"id": "2"}),
        (8, "bye", {"id": "5"}),
    ]
    problems = {r.line: r.problem for r in records if r.text is None}
    assert set(problems) == {6, 7}
    assert "3 field(s), the header 2" in problems[6]
    assert problems[7] == "'text' is empty"


def test_csv_without_a_text_column_is_an_error_at_line_1():
    with pytest.raises(DataError) as info:
        list(read_text_records(io.BytesIO(b"id,query\n1,hi\n"), "csv", name="in.csv"))
    assert "in.csv:1" in str(info.value)
    assert "found: id, query" in str(info.value)


def test_non_utf8_and_overlong_lines_are_bad_records(monkeypatch):
    monkeypatch.setattr(data_io, "MAX_LINE_BYTES", 16)
    stream = io.BytesIO(b"short one\n" + b"x" * 40 + b"\nbad \xff byte\nlast one\n")
    records = list(read_text_records(stream, "lines"))
    assert [(r.line, r.text) for r in records] == [
        (1, "short one"),
        (2, None),
        (3, None),
        (4, "last one"),
    ]
    assert "longer than 16 bytes" in (records[1].problem or "")
    assert "not UTF-8" in (records[2].problem or "")


def test_unreadable_line_inside_a_csv_row_marks_that_row():
    content = b'id,text\n1,"hello\n\xff\nworld"\n2,fine\n'
    records = list(read_text_records(io.BytesIO(content), "csv"))
    assert [(r.line, r.text) for r in records] == [(2, None), (5, "fine")]
    assert "not UTF-8" in (records[0].problem or "")


# -- predict_file -------------------------------------------------------------------------


def test_jsonl_to_jsonl_keeps_order_and_passes_fields_through(tmp_path):
    content = "".join(
        json.dumps({"id": i, "text": f"w{i} text", "label": f"gold{i}"}) + "\n" for i in range(7)
    )
    result, bad = _run(tmp_path, "in.jsonl", content, batch_size=3)
    rows = _jsonl(tmp_path / "out.jsonl")
    assert [row["id"] for row in rows] == list(range(7))
    assert rows[0] == {
        "text": "w0 text",
        "label": "w0",
        "confidence": 0.75,
        "intent": "w0",
        "fallback": False,
        "model_version": "v1",
        "ranking": [{"label": "w0", "confidence": 0.75}, {"label": "other", "confidence": 0.25}],
        "id": 0,
        "input_label": "gold0",  # the input's label does not overwrite the prediction
    }
    assert (result.records, result.predicted, result.skipped) == (7, 7, 0)
    assert bad == []


def test_bad_lines_are_skipped_and_reported_with_file_and_line(tmp_path):
    long_text = "x" * (EchoClassifier.max_text_chars + 1)
    content = (
        '{"text": "a one"}\n{oops\n{"text": "b two"}\n'
        + json.dumps({"text": long_text})
        + '\n{"text": "REFUSE me"}\n{"text": "c three"}\n'
    )
    result, bad = _run(tmp_path, "in.jsonl", content)
    assert [row["text"] for row in _jsonl(tmp_path / "out.jsonl")] == ["a one", "b two", "c three"]
    assert [str(b.where) for b in bad] == [
        f"{tmp_path / 'in.jsonl'}:2",
        f"{tmp_path / 'in.jsonl'}:4",
        f"{tmp_path / 'in.jsonl'}:5",
    ]
    assert "the limit is 40" in bad[1].problem
    assert bad[2].problem == "text is empty"  # refused by the classifier, not by the reader
    assert (result.records, result.predicted, result.skipped) == (6, 3, 3)


def test_strict_stops_at_the_first_bad_line_and_writes_nothing(tmp_path):
    (tmp_path / "out.csv").write_text("previous results\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        _run(tmp_path, "in.txt", "fine\nalso fine\n\xff\nnever read\n".encode("latin-1"),
             out="out.csv", strict=True)  # fmt: skip
    assert f"{tmp_path / 'in.txt'}:3" in str(info.value)
    assert "--strict" in str(info.value)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.csv"]


def test_csv_in_csv_out(tmp_path):
    content = 'id,text,note\n1,hello there,"a, b"\n2,bye now,\n3,,empty\n'
    result, bad = _run(tmp_path, "in.csv", content, out="out.csv")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [*PREDICTION_FIELDS, "id", "note"]
    assert [(r["id"], r["text"], r["label"], r["note"], r["fallback"]) for r in rows] == [
        ("1", "hello there", "hello", "a, b", "false"),
        ("2", "bye now", "bye", "", "false"),
    ]
    assert [b.where.line for b in bad] == [4]
    assert result.predicted == 2


def test_tsv_in_and_out(tmp_path):
    _run(tmp_path, "in.tsv", "text\tid\nhello, you\t1\n", out="out.tsv")
    lines = (tmp_path / "out.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == [*PREDICTION_FIELDS, "id"]
    assert lines[1].split("\t")[0] == "hello, you"


def test_csv_output_of_jsonl_fields_follows_the_first_record(tmp_path):
    content = '{"text": "a x", "meta": {"k": 1}}\n{"text": "b y", "other": 2}\n'
    _run(tmp_path, "in.jsonl", content, out="out.csv")
    rows = list(csv.reader((tmp_path / "out.csv").open(encoding="utf-8", newline="")))
    assert rows[0][-1] == "meta"
    assert [row[-1] for row in rows[1:]] == ['{"k": 1}', ""]


def test_an_empty_input_gives_an_empty_output(tmp_path):
    result, _ = _run(tmp_path, "in.csv", "text\n", out="out.csv")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == ",".join(PREDICTION_FIELDS) + "\n"
    assert result.predicted == 0


def test_stdin_to_stdout(tmp_path):
    stdout = io.StringIO()
    result = predict_file(
        EchoClassifier(),
        "-",
        "-",
        stdin=io.BytesIO(b'{"text": "hi you"}\n'),
        stdout=stdout,
        input_format="jsonl",
        output_format="csv",
    )
    assert stdout.getvalue().splitlines()[1].startswith("hi you,hi,0.75,hi,false,v1")
    assert result.predicted == 1


def test_batches_are_bounded_and_the_input_is_streamed():
    lines = b"".join(f"word{i} text\n".encode() for i in range(10))
    stream = io.BytesIO(lines)
    classifier = EchoClassifier()
    read_at_first_batch: list[int] = []
    predict = classifier.predict_batch

    def spy(texts: Sequence[str]) -> list[Prediction]:
        read_at_first_batch.append(stream.tell())
        return predict(texts)

    classifier.predict_batch = spy  # type: ignore[method-assign]
    out = io.StringIO()
    predict_stream(classifier, stream, JsonlWriter(out), input_format="lines", batch_size=4)
    assert [len(batch) for batch in classifier.batches] == [4, 4, 2]
    # When the first batch is classified, only its lines (and at most a line more) were read.
    assert read_at_first_batch[0] <= len(b"word0 text\n") * 5
    assert len(out.getvalue().splitlines()) == 10


def test_progress_counts_bytes_of_a_file_and_records_of_a_pipe(tmp_path):
    source = _write(tmp_path / "in.txt", "".join(f"t{i} x\n" for i in range(10)))
    seen: list[FileProgress] = []
    with source.open("rb") as handle:
        predict_stream(
            EchoClassifier(),
            handle,
            CsvWriter(io.StringIO()),
            input_format="lines",
            batch_size=3,
            progress=seen.append,
        )
    size = source.stat().st_size
    assert all(p.total_bytes == size for p in seen)
    assert seen[-1].bytes_read == size
    assert [p.records for p in seen] == [3, 6, 9, 10]

    seen.clear()
    predict_stream(
        EchoClassifier(),
        io.BytesIO(b"a b\nc d\n"),
        CsvWriter(io.StringIO()),
        input_format="lines",
        progress=seen.append,
    )
    assert seen == [FileProgress(records=2, bytes_read=None, total_bytes=None)]


def test_output_format_by_suffix_or_a_clear_error(tmp_path):
    assert output_format_of("-") == "jsonl"
    assert output_format_of("x.CSV") == "csv"
    with pytest.raises(InputError, match="--format"):
        output_format_of("x.txt")


def test_refuses_to_overwrite_its_input(tmp_path):
    source = _write(tmp_path / "same.jsonl", '{"text": "a b"}\n')
    with pytest.raises(InputError, match="is the input file"):
        predict_file(EchoClassifier(), source, source)
    assert source.read_text(encoding="utf-8") == '{"text": "a b"}\n'


def test_missing_input_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        predict_file(EchoClassifier(), tmp_path / "nope.csv", tmp_path / "out.csv")


def test_with_a_trained_model(trained_model_dir, tmp_path):
    classifier = Classifier.load(trained_model_dir)
    texts = ["where is my order", "cancel my order", "hello", "refund please"] * 3
    source = _write(tmp_path / "in.txt", "\n".join(texts) + "\n")
    result = predict_file(classifier, source, tmp_path / "out.jsonl", batch_size=5)
    rows = _jsonl(tmp_path / "out.jsonl")
    expected = classifier.predict_batch(texts)
    assert [row["label"] for row in rows] == [p.label for p in expected]
    assert [row["confidence"] for row in rows] == pytest.approx([p.confidence for p in expected])
    assert result.predicted == len(texts)
