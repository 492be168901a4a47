"""intently.export.parity: agreement numbers and the parity text files."""

import numpy as np
import pytest

from intently.errors import DataError
from intently.export import compare, read_texts, write_labeled_texts

CLASSES = ("a", "b", "c")


def test_compare_counts_agreement_differences_and_accuracy():
    native = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    fp32 = native.copy()
    int8 = native + np.array([[0, 0, 0], [0, 0, 0], [0.2, 0, -0.2], [0, 0, 0]])
    report = compare(native, fp32, int8, classes=CLASSES, labels=["a", "b", "c", "zzz"])
    assert report.n == 4
    assert report.fp32.agreement == 1.0 and report.fp32.disagreements == 0
    assert report.fp32.max_abs_diff == 0.0
    assert report.int8.agreement == 0.75 and report.int8.disagreements == 1
    assert report.int8.max_abs_diff == pytest.approx(0.2)
    assert report.native_accuracy == 0.75  # an unknown label counts as wrong
    assert report.int8.accuracy == 0.5
    (failure,) = report.failures()
    assert failure.startswith("int8 ONNX agrees with the native model on 75.00% of 4 texts")
    assert report.to_json()["int8"]["disagreements"] == 1


def test_compare_without_labels_has_no_accuracy():
    proba = np.eye(3)
    report = compare(proba, proba, proba, classes=CLASSES)
    assert report.native_accuracy is None and report.int8.accuracy is None
    assert report.failures() == []


def test_labeled_texts_round_trip(tmp_path):
    path = tmp_path / "evaluation.jsonl"
    write_labeled_texts(path, ["hello", 'a "quoted" text'], ["a", "b"])
    assert read_texts(path) == (["hello", 'a "quoted" text'], ["a", "b"])


def test_plain_text_file_has_one_text_per_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("hello\n\nwhere is my order\n", encoding="utf-8")
    assert read_texts(path) == (["hello", "where is my order"], None)


def test_jsonl_rows_without_labels_give_no_labels(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "hi", "label": "a"}\n{"text": "bye"}\n', encoding="utf-8")
    assert read_texts(path) == (["hi", "bye"], None)


@pytest.mark.parametrize("line", ["not json", '{"label": "a"}', "[1, 2]"])
def test_bad_jsonl_line_names_file_and_line(tmp_path, line):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"texts\.jsonl:2"):
        read_texts(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_texts(tmp_path / "absent.txt")
