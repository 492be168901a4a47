from pathlib import Path

import pytest

from intently.data import Example, Source, read_examples, write_examples
from intently.errors import DataError

EXAMPLES = [
    Example("where is my parcel", "track_order", Source.DEFINITION, agent_id="support"),
    Example("cancel it, please", "cancel", Source.INTERACTION_CORRECTION),
    Example('say "hi"', "greeting", Source.TEMPLATE, weight=0.5),
    Example("two\nlines", "greeting", Source.IMPORTED, weight=2.25, agent_id="smalltalk"),
]


def fields(example: Example) -> tuple:
    return (example.text, example.label, example.source, example.weight, example.agent_id)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def data_error(path: Path) -> DataError:
    with pytest.raises(DataError) as caught:
        read_examples(path)
    assert path.name in str(caught.value)
    return caught.value


# --- round trips -----------------------------------------------------------------------------


def test_jsonl_round_trip(tmp_path):
    examples = [*EXAMPLES, Example("hey", "greeting", meta={"entities": {"name": "ann"}})]
    path = write_examples(examples, tmp_path / "out" / "examples.jsonl")

    assert path == tmp_path / "out" / "examples.jsonl"
    assert read_examples(path) == examples
    first = path.read_text(encoding="utf-8").splitlines()[0]
    # the default weight of a source is not written out
    assert first == (
        '{"text": "where is my parcel", "label": "track_order", "source": "definition", '
        '"agent_id": "support"}'
    )


def test_csv_round_trip(tmp_path):
    path = write_examples(EXAMPLES, tmp_path / "examples.csv")

    back = read_examples(path)

    assert [fields(e) for e in back] == [fields(e) for e in EXAMPLES]
    assert [e.weight for e in back] == [1.0, 1.9, 0.5, 2.25]
    assert path.read_text(encoding="utf-8").splitlines()[0] == "text,label,source,weight,agent_id"


def test_csv_and_tsv_with_optional_columns(tmp_path):
    csv_path = write(
        tmp_path / "a.csv", "text,label,weight,source\nhi,greet,2.5,\nyo,greet,,template\n"
    )
    tsv_path = write(tmp_path / "a.tsv", "label\ttext\ngreet\thi, there\n")

    first, second = read_examples(csv_path)
    assert (first.text, first.label, first.weight, first.source) == (
        "hi",
        "greet",
        2.5,
        Source.IMPORTED,
    )
    assert (second.weight, second.source) == (0.85, Source.TEMPLATE)
    assert [fields(e) for e in read_examples(tsv_path)] == [
        ("hi, there", "greet", Source.IMPORTED, 1.0, None)
    ]


def test_default_source_applies_to_rows_without_one(tmp_path):
    path = write(
        tmp_path / "a.jsonl",
        '{"text": "hi", "label": " greet "}\n'
        '{"text": "yo", "label": "greet", "source": "paraphrase"}\n',
    )
    first, second = read_examples(path, source=Source.AUGMENTATION)
    assert (first.label, first.source, first.weight) == ("greet", Source.AUGMENTATION, 0.75)
    assert (second.source, second.weight) == (Source.PARAPHRASE, 0.8)


def test_blank_lines_are_skipped_and_a_byte_order_mark_is_accepted(tmp_path):
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes('\n{"text": "hi", "label": "greet"}\n\n'.encode("utf-8-sig"))
    csv_path = tmp_path / "bom.csv"
    csv_path.write_bytes("text,label\nhi,greet\n".encode("utf-8-sig"))

    assert [fields(e) for e in read_examples(jsonl)] == [
        ("hi", "greet", Source.IMPORTED, 1.0, None)
    ]
    assert [fields(e) for e in read_examples(csv_path)] == [
        ("hi", "greet", Source.IMPORTED, 1.0, None)
    ]


def test_string_meta_becomes_a_note(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"text": "hi", "label": "greet", "meta": "from chat"}\n')
    assert dict(read_examples(path)[0].meta) == {"note": "from chat"}


# --- JSONL errors ----------------------------------------------------------------------------


def test_bad_json_names_the_line(tmp_path):
    path = write(
        tmp_path / "bad.jsonl",
        '{"text": "hi", "label": "greet"}\n\n{"text": "yo", "label": greet}\n',
    )
    error = data_error(path)
    assert error.where.line == 3
    assert "bad.jsonl:3" in str(error)
    assert error.message.startswith("invalid JSON (")
    assert error.code == "E200"


def test_line_that_is_not_an_object(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"text": "hi", "label": "greet"}\n["yo", "greet"]\n')
    error = data_error(path)
    assert error.where.line == 2
    assert error.message == "expected a JSON object, got list."


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"text": "hi"}', "'label' must be a non-empty string, got None."),
        ('{"text": "   ", "label": "greet"}', "'text' must be a non-empty string, got '   '."),
        ('{"text": 12, "label": "greet"}', "'text' must be a non-empty string, got 12."),
        (
            '{"text": "hi", "label": "g", "weight": "heavy"}',
            "'weight' must be a number, got 'heavy'.",
        ),
        (
            '{"text": "hi", "label": "g", "weight": -1}',
            "'weight' must be a positive number, got -1.0.",
        ),
        (
            '{"text": "hi", "label": "g", "weight": 0}',
            "'weight' must be a positive number, got 0.0.",
        ),
        (
            '{"text": "hi", "label": "g", "weight": NaN}',
            "'weight' must be a positive number, got nan.",
        ),
        ('{"text": "hi", "label": "g", "intent": "x", "id": 1}', "unknown field(s) id, intent."),
        ('{"text": "hi", "label": "g", "source": "robot"}', "unknown source 'robot'."),
        ('{"text": "hi", "label": "g", "meta": [1, 2]}', "'meta' must be an object, got list."),
    ],
)
def test_bad_row(tmp_path, row, message):
    path = write(tmp_path / "rows.jsonl", '{"text": "ok", "label": "g"}\n' + row + "\n")
    error = data_error(path)
    assert error.where.line == 2
    assert error.message == message
    assert "rows.jsonl:2" in str(error)


def test_non_utf8_file(tmp_path):
    jsonl = tmp_path / "latin1.jsonl"
    jsonl.write_bytes('{"text": "café", "label": "x"}\n'.encode("latin-1"))
    csv_path = tmp_path / "latin1.csv"
    csv_path.write_bytes("text,label\ncafé,x\n".encode("latin-1"))

    for path in (jsonl, csv_path):
        error = data_error(path)
        assert error.message.startswith("the file is not UTF-8")
        assert error.hint == "re-save the file as UTF-8."


# --- CSV errors ------------------------------------------------------------------------------


def test_csv_header_missing_a_column(tmp_path):
    error = data_error(write(tmp_path / "a.csv", "text,intent\nhi,greet\n"))
    assert error.where.line == 1
    assert error.message == "the header lacks column(s) label (found: text, intent)."


def test_empty_csv(tmp_path):
    error = data_error(write(tmp_path / "a.csv", ""))
    assert error.message == "the header lacks column(s) text, label (found: nothing)."


def test_csv_row_with_too_many_fields_names_the_line(tmp_path):
    error = data_error(write(tmp_path / "a.csv", "text,label\nhi,greet\nhello, you,greet\n"))
    assert error.where.line == 3
    assert error.message == "row has 3 fields, the header has 2."
    assert "a.csv:3" in str(error)


def test_csv_row_with_a_missing_label(tmp_path):
    error = data_error(write(tmp_path / "a.csv", "text,label\nhi,greet\nlonely\n"))
    assert error.where.line == 3
    assert error.message == "'label' must be a non-empty string, got None."


# --- files -----------------------------------------------------------------------------------


def test_unsupported_suffix(tmp_path):
    path = write(tmp_path / "data.txt", "hi\tgreet\n")
    error = data_error(path)
    assert error.message == "unsupported dataset format '.txt'."
    with pytest.raises(DataError, match=r"unsupported dataset format '\.xlsx'"):
        write_examples(EXAMPLES, tmp_path / "out.xlsx")


def test_missing_file(tmp_path):
    error = data_error(tmp_path / "missing.jsonl")
    assert error.message == "dataset file not found."
    assert error.where.line is None
