import dataclasses

import pytest

from intently.data import DEFAULT_WEIGHT, Example, Source


@pytest.mark.parametrize(
    ("source", "weight"),
    [
        (Source.DEFINITION, 1.0),
        (Source.VARIATION, 0.95),
        (Source.TEMPLATE, 0.85),
        (Source.PARAPHRASE, 0.8),
        (Source.AUGMENTATION, 0.75),
        (Source.INTERACTION_CORRECT, 0.9),
        (Source.INTERACTION_CORRECTION, 1.9),
        (Source.IMPORTED, 1.0),
    ],
)
def test_default_weight_by_source(source, weight):
    assert DEFAULT_WEIGHT[source] == weight
    assert Example("hi", "greet", source).weight == weight


def test_every_source_has_a_weight_and_a_correction_counts_double():
    assert set(DEFAULT_WEIGHT) == set(Source)
    assert DEFAULT_WEIGHT[Source.INTERACTION_CORRECTION] == pytest.approx(
        2 * DEFAULT_WEIGHT[Source.VARIATION]
    )
    with pytest.raises(TypeError):
        DEFAULT_WEIGHT[Source.TEMPLATE] = 5.0  # type: ignore[index]


def test_defaults_and_string_source():
    example = Example("hi", "greet", "template")  # type: ignore[arg-type]
    assert example.source is Source.TEMPLATE
    assert example.weight == 0.85
    assert example.agent_id is None
    assert dict(example.meta) == {}
    assert Example("hi", "greet").source is Source.IMPORTED
    with pytest.raises(ValueError):
        Example("hi", "greet", "robot")  # type: ignore[arg-type]


def test_explicit_weight_is_kept():
    assert Example("hi", "greet", Source.TEMPLATE, weight=3.0).weight == 3.0


def test_example_is_frozen():
    example = Example("hi", "greet")
    with pytest.raises(dataclasses.FrozenInstanceError):
        example.text = "bye"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        example.weight = 2.0  # type: ignore[misc]


def test_meta_is_read_only_and_copied():
    given = {"template": "hi {name}"}
    example = Example("hi ann", "greet", meta=given)

    with pytest.raises(TypeError):
        example.meta["template"] = "other"  # type: ignore[index]
    given["template"] = "changed"
    assert example.meta["template"] == "hi {name}"


def test_to_dict():
    assert Example("hi", "greet", Source.DEFINITION).to_dict() == {
        "text": "hi",
        "label": "greet",
        "source": "definition",
    }
    assert Example(
        "hi", "greet", Source.TEMPLATE, weight=0.5, agent_id="a", meta={"k": 1}
    ).to_dict() == {
        "text": "hi",
        "label": "greet",
        "source": "template",
        "weight": 0.5,
        "agent_id": "a",
        "meta": {"k": 1},
    }


def test_equality_includes_meta_and_weight():
    assert Example("hi", "greet", meta={"a": 1}) == Example("hi", "greet", meta={"a": 1})
    assert Example("hi", "greet", meta={"a": 1}) != Example("hi", "greet", meta={"a": 2})
    assert Example("hi", "greet") != Example("hi", "greet", weight=2.0)
