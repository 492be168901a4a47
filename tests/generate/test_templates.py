"""The templates generator (slot filling from examples) and malformed templates in the file."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from intently.data import Example, Source
from intently.errors import SpecError
from intently.generate.base import GenerationContext
from intently.generate.registry import get_generator
from intently.spec import load_project, project_from_dict

ENTITIES = {
    "city": ["paris", {"value": "new york", "synonyms": ["nyc"]}, "new york city", "rome"],
    "day": ["monday", "friday"],
}


def generator(per_example: int = 10, entities=ENTITIES):
    project = project_from_dict({"name": "t", "entities": entities})
    kind = get_generator("templates")
    return kind.build(
        kind.params.model_validate({"per_example": per_example}),
        GenerationContext(project, "intent"),
    )


def test_entity_values_in_examples_are_refilled_with_spans() -> None:
    out = generator().generate(
        [Example("fly to Paris on monday", "book"), Example("hello", "greet")],
        np.random.default_rng(0),
    )
    texts = [e.text for e in out]
    assert len(texts) == len(set(texts)) == 9  # 5 city forms x 2 days - the original
    assert "fly to Paris on monday" not in texts and "fly to nyc on friday" in texts
    for example in out:
        assert example.source is Source.TEMPLATE and example.label == "book"
        assert example.meta["original"] == "fly to Paris on monday"
        assert example.meta["template"] == "fly to {city} on {day}"
        for span in example.meta["spans"]:
            surface = example.text[span["start"] : span["end"]]
            forms = {"nyc", "new york"} if span["value"] == "new york" else {span["value"]}
            assert surface in forms


def test_longest_value_wins_and_examples_without_entities_give_nothing() -> None:
    out = generator().generate(
        [Example("a flight to new york city", "book")], np.random.default_rng(0)
    )
    assert {e.meta["template"] for e in out} == {"a flight to {city}"}
    assert generator().generate([Example("hello there", "greet")], np.random.default_rng(0)) == []
    assert generator(entities={}).generate([Example("paris", "x")], np.random.default_rng(0)) == []


def test_seeded_sample_when_capped() -> None:
    examples = [Example("paris on monday", "book")]
    one = generator(per_example=3).generate(examples, np.random.default_rng(1))
    assert len(one) == 3
    assert one == generator(per_example=3).generate(examples, np.random.default_rng(1))
    others = {
        tuple(e.text for e in generator(3).generate(examples, np.random.default_rng(s)))
        for s in range(6)
    }
    assert len(others) > 1


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("fly to {city", "unbalanced '{'"),
        ("fly to city}", "unbalanced '}'"),
        ("fly to { city }", "unbalanced '{'"),
        ("fly to {town}", "template slot '{town}' names no entity"),
    ],
)
def test_malformed_templates_are_rejected_with_file_and_line(
    tmp_path: Path, pattern: str, message: str
) -> None:
    data = {
        "name": "t",
        "agents": [{"id": "a", "intents": [{"name": "book", "variations": ["book it"]}]}],
        "entities": {"city": ["paris"]},
        "templates": {"book": ["book to {city}", pattern]},
    }
    path = tmp_path / "intently.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecError) as caught:
        load_project(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if pattern in text)
    assert f"{path}:{line} (templates.book[1])" in str(caught.value)
    assert message in str(caught.value)
