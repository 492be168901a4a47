import textwrap
from collections import Counter
from pathlib import Path

import pytest

from intently.collect import build_dataset, collect_examples, defined_labels, validate_task
from intently.data import Source, fingerprint
from intently.errors import DataError, SpecError
from intently.spec import load_project

PROJECT = """\
name: shop
agents:
  - id: support
    intents:
      - name: greet
        variations: [hello, hi, hey there, good morning]
      - name: bye
        variations: [bye, goodbye, see you]
    examples:
      - query: Hello
        intent: greet
tasks:
  sentiment:
    labels: [pos, neg]
  topic: {}
datasets:
  - data/extra.jsonl
  - path: data/reviews.csv
    task: sentiment
"""

EXTRA = """\
{"text": "later!", "label": "bye"}
{"text": "what's the weather", "label": "oos"}
{"text": "tell me a joke", "label": "oos", "source": "interaction_correction"}
"""

REVIEWS = """\
text,label
great product,pos
love it,pos
works well,pos
broken on arrival,neg
waste of money,neg
"""


def make_project(folder: Path, extra: str = EXTRA, reviews: str = REVIEWS, text: str = PROJECT):
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "extra.jsonl").write_text(extra, encoding="utf-8")
    (folder / "data" / "reviews.csv").write_text(reviews, encoding="utf-8")
    path = folder / "intently.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_project(path)


def test_collect_examples_definitions_then_datasets(tmp_path):
    examples = collect_examples(make_project(tmp_path))
    assert [(e.text, e.label, e.source) for e in examples] == [
        ("hello", "greet", Source.VARIATION),
        ("hi", "greet", Source.VARIATION),
        ("hey there", "greet", Source.VARIATION),
        ("good morning", "greet", Source.VARIATION),
        ("bye", "bye", Source.VARIATION),
        ("goodbye", "bye", Source.VARIATION),
        ("see you", "bye", Source.VARIATION),
        ("Hello", "greet", Source.DEFINITION),
        ("later!", "bye", Source.IMPORTED),
        ("what's the weather", "oos", Source.IMPORTED),
        ("tell me a joke", "oos", Source.INTERACTION_CORRECTION),
    ]


def test_build_intent_dataset(tmp_path):
    project = make_project(tmp_path)

    dataset = build_dataset(project)

    assert dataset.task == "intent"
    assert dataset.labels == ("bye", "greet", "oos")
    # "hello" and "Hello" are one example, kept from the definition (weight 1.0 beats 0.95)
    assert dataset.counts() == Counter({"greet": 4, "bye": 4, "oos": 2})
    greet = sorted((e.text, e.source) for e in dataset.all if e.label == "greet")
    assert greet == [
        ("Hello", Source.DEFINITION),
        ("good morning", Source.VARIATION),
        ("hey there", Source.VARIATION),
        ("hi", Source.VARIATION),
    ]
    # 4 examples: one to test, one to valid; 2 examples: all train
    assert Counter(e.label for e in dataset.train) == Counter({"greet": 2, "bye": 2, "oos": 2})
    assert Counter(e.label for e in dataset.valid) == Counter({"greet": 1, "bye": 1})
    assert Counter(e.label for e in dataset.test) == Counter({"greet": 1, "bye": 1})
    assert [(f.code, f.label) for f in dataset.findings] == [
        ("duplicate", None),
        ("few_examples", "bye"),
        ("few_examples", "greet"),
        ("few_examples", "oos"),
    ]
    assert dataset.fingerprint == fingerprint(dataset.all)
    assert build_dataset(project) == dataset


def test_build_second_task_from_csv(tmp_path):
    project = make_project(tmp_path)

    dataset = build_dataset(project, "sentiment")

    assert dataset.task == "sentiment"
    assert dataset.labels == ("neg", "pos")
    assert dataset.counts() == Counter({"pos": 3, "neg": 2})
    assert {e.source for e in dataset.all} == {Source.IMPORTED}
    assert Counter(e.label for e in dataset.test) == Counter({"pos": 1})
    assert dataset.valid == ()


def test_defined_labels(tmp_path):
    project = make_project(tmp_path)
    assert defined_labels(project, "intent") == ("greet", "bye")
    assert defined_labels(project, "sentiment") == ("pos", "neg")
    assert defined_labels(project, "topic") is None


def test_task_without_data_fails_validation(tmp_path):
    report, examples = validate_task(make_project(tmp_path), "topic")
    assert examples == ()
    assert [f.code for f in report.errors] == ["empty_dataset"]


def test_unknown_task(tmp_path):
    project = make_project(tmp_path)
    with pytest.raises(SpecError) as caught:
        build_dataset(project, "sentimnt")
    error = caught.value
    assert error.message == "unknown task 'sentimnt'. Did you mean 'sentiment'?"
    assert error.hint == "tasks in this project: intent, sentiment, topic."


def test_data_errors_point_to_intently_data_validate(tmp_path):
    project = make_project(tmp_path, reviews="text,label\ngreat,pos\nlove it,pos\nbad,neg\n")
    with pytest.raises(DataError) as caught:
        build_dataset(project, "sentiment")
    error = caught.value
    assert error.message == (
        "task 'sentiment' has data errors: 'neg' has 1 example (at least 2 needed)."
    )
    assert "`intently data validate --task sentiment`" in (error.hint or "")


def test_undefined_label_in_a_dataset_is_a_data_error(tmp_path):
    project = make_project(tmp_path, extra=EXTRA + '{"text": "refund me", "label": "refund"}\n')
    with pytest.raises(DataError, match="use undefined label 'refund'") as caught:
        build_dataset(project)
    assert "intently data validate --task intent" in str(caught.value)


def test_bad_dataset_file_error_names_file_and_line(tmp_path):
    project = make_project(tmp_path, extra=EXTRA + '{"text": "x"}\n')
    with pytest.raises(DataError) as caught:
        collect_examples(project)
    assert caught.value.where.line == 4
    assert caught.value.where.path == tmp_path.resolve() / "data" / "extra.jsonl"
