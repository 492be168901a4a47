"""Generated NER sentences: entities on the right text, values from the schema, determinism;
and the entity P/R/F1 arithmetic."""

from __future__ import annotations

import pytest

from intently.toolcalls import Tool
from intently.toolcalls.ner import entity_scores
from intently.toolcalls.ner_data import generate_examples, spoken, values_for

WEATHER = Tool(
    "get_weather",
    "Weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city"],
    },
)
PING = Tool("ping")


def test_entities_mark_the_tool_the_names_and_the_values() -> None:
    examples = generate_examples([WEATHER, PING], per_tool=30, seed=3)
    assert len(examples) == 60
    assert {e.family for e in examples} == {"direct", "request", "statement"}
    for example in examples:
        marked = [(example.text[s:t], label) for s, t, label in example.entities]
        tool_texts = [text for text, label in marked if label == "TOOL_NAME"]
        assert tool_texts and spoken(tool_texts[0]) == spoken(example.tool)
        values = [text for text, label in marked if label == "PARAM_VALUE"]
        assert values == [value for _name, value in example.arguments]
        if example.tool == "get_weather":
            assert "city" in dict(example.arguments)  # required parameters always stated
            arguments = dict(example.arguments)
            assert arguments.get("unit", "celsius") in ("celsius", "fahrenheit")
            assert 1 <= int(arguments.get("days", 1)) <= 7


def test_generation_is_deterministic_and_pure() -> None:
    before = WEATHER.to_dict()
    first = generate_examples([WEATHER], per_tool=10, seed=5)
    assert first == generate_examples([WEATHER], per_tool=10, seed=5)
    assert first != generate_examples([WEATHER], per_tool=10, seed=6)
    assert WEATHER.to_dict() == before


def test_values_come_from_the_schema() -> None:
    import random

    rng = random.Random(0)
    assert values_for("unit", {"enum": ["a", "b"]}, rng) == ["a", "b"]
    assert values_for("tz", {"type": "string", "examples": ["UTC"]}, rng) == ["UTC"]
    assert values_for("flag", {"type": "boolean"}, rng) == ["true", "false"]
    assert all(
        v.isdigit() and 2 <= int(v) <= 4
        for v in values_for("n", {"type": "integer", "minimum": 2, "maximum": 4}, rng)
    )
    assert "Paris" in values_for("destination_city", {"type": "string"}, rng)
    assert spoken("getWeatherNow") == "get weather now" == spoken("get_weather-now")


def test_entity_scores_count_exact_span_and_label() -> None:
    gold = [[(0, 4, "TOOL_NAME"), (10, 15, "PARAM_VALUE")], [(0, 3, "TOOL_NAME")]]
    predicted = [[(0, 4, "TOOL_NAME"), (10, 14, "PARAM_VALUE")], [(0, 3, "PARAM_NAME")]]
    scores = entity_scores(gold, predicted)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.f1 == pytest.approx(1 / 3)
    assert scores.support == 3
    assert scores.per_label["TOOL_NAME"]["recall"] == pytest.approx(0.5)
    assert scores.per_label["TOOL_NAME"]["precision"] == pytest.approx(1.0)
    assert scores.per_label["PARAM_NAME"]["precision"] == 0.0


def test_training_without_tools_is_a_clear_error() -> None:
    from intently.errors import TrainingError
    from intently.toolcalls.ner import train_tool_ner

    with pytest.raises(TrainingError, match="at least one tool"):
        train_tool_ner([])
