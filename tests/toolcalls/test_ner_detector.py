"""How NerDetector turns entities into calls, with fixed entities from spaCy's entity ruler
(no training): names pair with the value after them, bare values go to the parameter they fit,
entities before the first tool name belong to it, each tool name opens a call."""

from __future__ import annotations

import spacy

from intently.toolcalls import Tool, ToolRegistry
from intently.toolcalls.ner import ToolNer, tool_fingerprint
from intently.toolcalls.ner_detector import NerDetector

WEATHER = Tool(
    "get_weather",
    "Weather in a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city"],
    },
)
TIME = Tool("get_time", "", {"type": "object", "properties": {"timezone": {"type": "string"}}})


def _ruler_model(patterns: list[tuple[str, str]]) -> ToolNer:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": label, "pattern": text} for label, text in patterns])
    return ToolNer(nlp, {t.name: tool_fingerprint(t) for t in (WEATHER, TIME)})


MODEL = _ruler_model(
    [
        ("TOOL_NAME", "get weather"),
        ("TOOL_NAME", "get_time"),
        ("PARAM_NAME", "unit"),
        ("PARAM_NAME", "timezone"),
        ("PARAM_VALUE", "Celsius"),
        ("PARAM_VALUE", "Oslo"),
        ("PARAM_VALUE", "3"),
        ("PARAM_VALUE", "UTC"),
    ]
)


def test_entities_become_arguments_by_name_enum_and_type() -> None:
    text = "The unit is Celsius. Now get weather for Oslo over 3 days, then get_time timezone UTC"
    first, second = NerDetector(MODEL).candidates(text, ToolRegistry([WEATHER, TIME]))
    assert first.name == "get_weather" and first.context == "phrase"
    assert first.raw_arguments == {"unit": "Celsius", "city": "Oslo", "days": "3"}
    assert text[first.span.start : first.span.end].startswith("unit is Celsius")
    assert (second.name, second.raw_arguments) == ("get_time", {"timezone": "UTC"})
    assert (
        first.score > NerDetector(MODEL).candidates("get weather", ToolRegistry([WEATHER]))[0].score
    )  # a call missing a required argument scores lower


def test_a_bare_value_goes_to_the_enum_that_holds_it_whatever_its_case() -> None:
    (call,) = NerDetector(MODEL).candidates(
        "get weather in Celsius for Oslo", ToolRegistry([WEATHER])
    )
    assert call.raw_arguments == {"unit": "Celsius", "city": "Oslo"}


def test_a_name_right_after_a_bare_value_names_it() -> None:
    book = Tool("book", "", {
        "type": "object",
        "properties": {"nights": {"type": "integer"}, "guests": {"type": "integer"}},
    })  # fmt: skip
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(
        [{"label": "TOOL_NAME", "pattern": "book"}]
        + [{"label": "PARAM_NAME", "pattern": p} for p in ("nights", "guests")]
        + [{"label": "PARAM_VALUE", "pattern": v} for v in ("2", "4")]
    )
    model = ToolNer(nlp, {"book": tool_fingerprint(book)})
    (call,) = NerDetector(model).candidates("book for 4 guests and 2 nights", ToolRegistry([book]))
    assert call.raw_arguments == {"guests": "4", "nights": "2"}


def test_nothing_without_a_model_or_for_unknown_tools() -> None:
    registry = ToolRegistry([WEATHER, TIME])
    assert NerDetector().candidates("get weather for Oslo", registry) == []
    assert NerDetector(MODEL).candidates("get weather for Oslo", ToolRegistry([TIME])) == []
