"""Anchors and aliases in a project file cannot blow up into a huge document, and deep nesting
in project or data files is a clear error, not a RecursionError (issue 8, #9)."""

from pathlib import Path

import pytest

from intently.data import read_examples
from intently.data.io import read_text_records
from intently.errors import DataError, SpecError
from intently.spec import load_project
from intently.spec._yaml import load_with_lines

# Eight lines, 9**8 (43 million) strings once expanded: 8 minutes and 9.8 GB before the limit.
BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
name: &name [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def write(tmp_path: Path, text: str, name: str = "intently.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_budget(tmp_path):
    path = write(tmp_path, BILLION_LAUGHS)
    with pytest.raises(SpecError, match="aliases expand to more than 10,000") as caught:
        load_project(path)
    # Line 5 is the first whose aliases (*d: 9**3 + ... nodes each) pass 10,000 in total.
    assert caught.value.where is not None
    assert (caught.value.where.path, caught.value.where.line) == (path, 5)
    assert "'*d'" in caught.value.message


def test_an_alias_used_as_a_mapping_key_counts_too(tmp_path):
    text = BILLION_LAUGHS.replace("name: &name", "h: &h") + "? *h\n: 1\nname: x\n"
    with pytest.raises(SpecError, match="aliases expand"):
        load_project(write(tmp_path, text))


def test_json_files_get_the_same_limit(tmp_path):
    # JSON has no aliases, but a .json project is read by the same loader: nesting is bounded.
    text = '{"name": ' + "[" * 500 + "]" * 500 + "}"
    with pytest.raises(SpecError, match="nests more than 100 levels") as caught:
        load_project(write(tmp_path, text, "intently.json"))
    assert caught.value.where is not None and caught.value.where.line == 1


def test_a_self_referencing_alias_is_a_spec_error_not_a_recursion_error(tmp_path):
    text = "name: shop\nentities:\n  city: &loop [paris, *loop]\n"
    with pytest.raises(SpecError, match="'\\*loop' refers to the collection") as caught:
        load_project(write(tmp_path, text))
    assert caught.value.where is not None and caught.value.where.line == 3


def test_a_few_anchors_and_aliases_still_load(tmp_path):
    text = """\
name: shop
agents:
  - id: support
    intents:
      - name: greeting
        variations: &hello [hello, hi there, good morning]
      - name: farewell
        variations: [bye, see you]
  - id: web
    intents:
      - name: greeting_web
        variations: *hello
training: &training {backend: linear, seed: 7}
tasks:
  urgency:
    labels: [urgent, normal]
    training: *training
"""
    project = load_project(write(tmp_path, text))
    assert project.intents["greeting_web"].variations == ("hello", "hi there", "good morning")
    assert project.training_for("urgency").seed == 7


def aliased_lists(tmp_path: Path, count: int) -> Path:
    values = ", ".join(f"v{i}" for i in range(99))  # 100 nodes with the list itself
    lines = [f"base: &base [{values}]", "name: shop", "many:", *["  - *base"] * count]
    return write(tmp_path, "\n".join(lines) + "\n", "data.yaml")


def test_aliases_up_to_the_budget_load(tmp_path):
    data, _ = load_with_lines(aliased_lists(tmp_path, 100))  # 10,000 nodes: the limit itself
    assert len(data["many"]) == 100 and data["many"][99][-1] == "v98"


def test_one_alias_past_the_budget_is_refused(tmp_path):
    with pytest.raises(SpecError, match="aliases expand") as caught:
        load_with_lines(aliased_lists(tmp_path, 101))
    assert caught.value.where is not None and caught.value.where.line == 104


DEEP_JSON = '{"text": ' + "[" * 100_000 + "]" * 100_000 + ', "label": "a"}'


def test_a_deeply_nested_dataset_line_is_a_data_error_at_its_line(tmp_path):
    path = write(tmp_path, '{"text": "hi", "label": "a"}\n' + DEEP_JSON + "\n", "extra.jsonl")
    with pytest.raises(DataError, match="nested too deeply") as caught:
        read_examples(path)
    assert caught.value.where is not None and caught.value.where.line == 2


def test_a_deeply_nested_line_to_classify_is_skipped_with_its_line(tmp_path):
    path = write(tmp_path, DEEP_JSON + '\n{"text": "hi"}\n', "texts.jsonl")
    with path.open("rb") as stream:
        records = list(read_text_records(stream, "jsonl"))
    assert [(r.line, r.text, r.problem) for r in records] == [
        (1, None, "the JSON is nested too deeply to read"),
        (2, "hi", None),
    ]
