"""Behaviours of the detector one by one: formats, failure modes, arguments, plug-ins."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest

from intently.errors import ToolCallError
from intently.toolcalls import Candidate, Span, ToolCallDetector, ToolRegistry

WEATHER = {
    "name": "get_weather",
    "description": "Current weather and forecast for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "days": {"type": "integer"},
            "hourly": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city"],
    },
}
SEARCH = {
    "name": "search_web",
    "description": "Search the web.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}
DETECTOR = ToolCallDetector([WEATHER, SEARCH])


def calls(text: str, detector: ToolCallDetector = DETECTOR) -> list[tuple[str, dict]]:
    return [(c.name, dict(c.arguments)) for c in detector.detect(text)]


def problems(text: str) -> list[str]:
    return [p for c in DETECTOR.analyze(text).rejected for p in c.problems]


PARIS = ("get_weather", {"city": "Paris", "unit": "celsius"})


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        "<tool_call>\n{'arguments': {'city': 'Paris'}, 'name': 'get_weather'}\n</tool_call>",
        '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}</tool_call>',
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
        '[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris"}',
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>',
        '{"name": "get_weather", "parameters": {"city": "Paris"}}',
        "[get_weather(city='Paris')]",
        "<|python_start|>[get_weather(city='Paris')]<|python_end|>",
        "get_weather('Paris')",
        'Let me check.\nget_weather(city="Paris")',
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n"
        "</tool_call>",
        '<functioncall> {"name": "get_weather", "arguments": \'{"city": "Paris"}\'}',
        'Thought: I need the weather.\nAction: get_weather\nAction Input: {"city": "Paris"}',
        "Action: get_weather\nAction Input: city=Paris",
        '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        '<function_call> {"name": "get_weather", "arguments": {"city": "Paris"}}',
        '<|action_start|><|plugin|>\n{"name": "get_weather", "parameters": {"city": "Paris"}}'
        "<|action_end|>",
        'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
        '{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
        '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}'
        "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
        '<tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</tool_calls>',
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
        '<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>',
        "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
        '<|message|>{"city": "Paris"}<|call|>',
        "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>",
        '<minimax:tool_call>\n<invoke name="get_weather">\n'
        '<parameter name="city">Paris</parameter>\n'
        "</invoke>\n</minimax:tool_call>",
        '<function=get_weather>{"city": "Paris"}</function>',
        '>>>get_weather\n{"city": "Paris"}',
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        '```json\n{"action": "get_weather", "action_input": {"city": "Paris"}}\n```',
        '{"tool_calls": [{"type": "function", "function": {"name": "get_weather", '
        '"arguments": "{\\"city\\": \\"Paris\\"}"}}]}',
        '```tool_code\nprint(default_api.get_weather(city="Paris"))\n```',
        "I'll call the get_weather tool with city=Paris.",
        "Calling `get_weather(city='Paris')` now.",
    ],
)
def test_each_format(text: str) -> None:
    assert calls(text) == [PARIS]


def test_reasoning_is_skipped_and_text_before_the_call_does_not_break_it() -> None:
    text = (
        '<think>I could do <tool_call>{"name": "search_web", "arguments": {"query": "x"}}'
        "</tool_call> but no.</think>\nThe user asked about Paris, so:\n"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    )
    assert calls(text) == [PARIS]
    assert (
        calls(
            '[THINK]<tool_call>{"name": "search_web", "arguments": {"query": "x"}}'
            "</tool_call>[/THINK]It is sunny."
        )
        == []
    )


def test_several_calls_in_order_with_the_wrappers_cut_from_the_content() -> None:
    text = (
        'Checking both.\n[TOOL_CALLS] [{"name": "search_web", "arguments": {"query": "a"}}, '
        '{"name": "get_weather", "arguments": {"city": "Paris"}}]'
    )
    result = DETECTOR.analyze(text)
    assert [c.name for c in result.calls] == ["search_web", "get_weather"]
    assert result.calls[0].span.start < result.calls[1].span.start
    assert result.content == "Checking both."


@pytest.mark.parametrize(
    "text",
    [
        "I can use the get_weather tool if you tell me the city.",
        "You could call get_weather with city=Paris.",
        "Should I call get_weather with city=Paris?",
        "I won't call get_weather with city=Paris, you already know it.",
        'For example:\n```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```\nThis is just an '
        "example.",
        'To call a tool, write <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}'
        "</tool_call> in your answer.",
        'Use `{"name": "get_weather", "arguments": {"city": "Paris"}}` as the payload.',
        "```python\ndef get_weather(city):\n    return None\n\nget_weather('Paris')\n```",
        "```python\nresult = get_weather(city='Paris')\n```",
        '```json\n{"name": "get_weather", "description": "Weather.", "parameters": {"type": '
        '"object", "properties": {"city": {"type": "string"}}}}\n```',
        'The response was {"city": "Paris", "temperature": 21}.',
        "Answer in this format:\nAction: the action to take\nAction Input: the input",
        "get_weather(city) returns the forecast for a city.",
    ],
)
def test_false_positives_are_rejected(text: str) -> None:
    assert calls(text) == []


def test_every_refused_call_says_why() -> None:
    assert problems(
        '<tool_call>{"name": "book_hotel", "arguments": {"city": "Paris"}}</tool_call>'
    )[0].startswith("unknown_tool: 'book_hotel'")
    assert problems('<tool_call>{"name": "get_weather", "arguments": {"days": 2}}</tool_call>') == [
        "missing required parameter 'city' of tool 'get_weather'"
    ]
    assert problems(
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", '
        '"days": "soon"}}</tool_call>'
    ) == ["parameter 'days' of tool 'get_weather' must be of type integer, got 'soon'"]
    assert problems(
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", '
        '"unit": "kelvin"}}</tool_call>'
    )[0].startswith("parameter 'unit' of tool 'get_weather' must be one of")
    assert problems('<tool_call>{"name": "get_weather", "arguments": {"city": "Par')[0].startswith(
        "truncated: the call to 'get_weather'"
    )


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Par',
        '[TOOL_CALLS]get_weather[ARGS]{"city": "Par',
        "[get_weather(city='Par",
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nPar",
        '{"name": "get_weather", "arguments": {"city": "Paris", "days": ',
    ],
)
def test_truncated_calls_are_never_completed(text: str) -> None:
    assert calls(text) == []


def test_arguments_are_coerced_to_the_schema_with_defaults() -> None:
    text = (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": "3", '
        '"hourly": "true", "unit": "FAHRENHEIT", "tags": "[\\"a\\", \\"b\\"]"}}</tool_call>'
    )
    assert calls(text) == [
        (
            "get_weather",
            {"city": "Paris", "days": 3, "hourly": True, "unit": "fahrenheit", "tags": ["a", "b"]},
        )
    ]


def test_broken_json_is_repaired_but_quotes_are_never_blindly_swapped() -> None:
    assert calls(
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris",}}</tool_call>'
    ) == [PARIS]
    text = (
        "<tool_call>{'name': 'search_web', 'arguments': "
        '{\'query\': "it\'s \\"big\\""}}</tool_call>'
    )
    assert calls(text) == [("search_web", {"query": 'it\'s "big"'})]
    repaired = DETECTOR.detect(
        '<tool_call>{"name": "get_weather", arguments: {"city": "Paris"}}</tool_call>'
    )
    assert repaired[0].arguments == {"city": "Paris", "unit": "celsius"}
    assert (
        repaired[0].confidence
        < DETECTOR.detect(
            '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
        )[0].confidence
    )


def test_unknown_names_map_only_above_the_similarity_cutoff() -> None:
    for written in ("getWeather", "functions.get_weather", "GET_WEATHER", "get_wether"):
        assert calls(
            f'<tool_call>{{"name": "{written}", "arguments": {{"city": "Paris"}}}}</tool_call>'
        ) == [PARIS]
    for written in ("get_weather_forecast", "weather", "fetch_weather_now"):
        text = f'<tool_call>{{"name": "{written}", "arguments": {{"city": "Paris"}}}}</tool_call>'
        assert calls(text) == []
        assert problems(text)[0].startswith("unknown_tool")
    strict = ToolCallDetector([WEATHER], name_cutoff=0.99)
    assert (
        calls(
            '<tool_call>{"name": "get_wether", "arguments": {"city": "Paris"}}</tool_call>', strict
        )
        == []
    )


def test_without_tools_any_well_formed_call_is_accepted() -> None:
    open_world = ToolCallDetector()
    assert calls(
        '<tool_call>{"name": "anything", "arguments": {"x": 1}}</tool_call>', open_world
    ) == [("anything", {"x": 1})]


class _FakeNer:
    name = "ner"

    def candidates(self, text: str, registry: ToolRegistry) -> list[Candidate]:
        at = text.find("weather in")
        if at < 0:
            return []
        return [
            Candidate(
                "get_weather",
                {"city": text[at + 11 :].strip(" .")},
                0.8,
                Span(at, len(text)),
                "ner",
                context="ner",
            )
        ]


def test_a_plugged_in_detector_adds_calls_and_corroborates_structure() -> None:
    detector = ToolCallDetector([WEATHER], plugins=[_FakeNer()])
    assert detector.detector_names == ("structure", "regex", "ner")
    assert calls("Looking up the weather in Paris.", detector) == [PARIS]
    tagged = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    plain = DETECTOR.detect(tagged)[0]
    assert plain.confidence == pytest.approx(0.97)
    detector.remove_detector("ner")
    assert calls("Looking up the weather in Paris.", detector) == []


def _hashing_encoder(texts: Sequence[str]) -> np.ndarray:
    rows = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().replace("_", " ").split():
            rows[i, int(hashlib.md5(word.strip(".,:").encode()).hexdigest(), 16) % 64] += 1
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def test_semantic_similarity_raises_confidence_but_never_calls_alone() -> None:
    semantic = ToolCallDetector(
        [WEATHER, SEARCH], detectors=("structure", "regex", "semantic"), encoder=_hashing_encoder
    )
    text = (
        'The current weather and forecast for a city: <tool_call>{"name": "get_weather", '
        '"arguments": {"city": "Paris"}}</tool_call>'
    )
    assert semantic.detect(text)[0].confidence > DETECTOR.detect(text)[0].confidence
    assert semantic.detect("Current weather and forecast for a city, please.") == []


def test_unknown_built_in_detector_is_refused() -> None:
    with pytest.raises(ToolCallError, match="unknown detector"):
        ToolCallDetector([WEATHER], detectors=("structure", "magic"))


def test_stream_reports_a_call_only_once_complete() -> None:
    text = (
        'Sure.\n<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}'
        '</tool_call>\n<tool_call>{"name": "search_web", "arguments": {"query": "q"}}'
        "</tool_call>"
    )
    stream = DETECTOR.stream()
    first_seen = {}
    for i, ch in enumerate(text):
        for call in stream.feed(ch):
            first_seen[call.name] = i
    rest = stream.finish()
    assert first_seen["get_weather"] >= text.index("}}") + 1
    assert [c.name for c in rest] == ["search_web"]  # the last one waits for the end
    assert [c.name for c in stream.calls] == ["get_weather", "search_web"]
    with pytest.raises(RuntimeError):
        stream.feed("more")


@pytest.mark.parametrize(
    "text",
    [
        'Sure! Here is a sample tool call in Hermes format:\n<tool_call>\n{"name": "get_weather", '
        '"arguments": {"city": "Oslo"}}\n</tool_call>',
        'Yesterday you called:\n```json\n{"name": "get_weather", '
        '"arguments": {"city": "Oslo"}}\n```',
        'def get_weather(city):\n    return 1\n\nget_weather("Oslo")',
        'const get_weather = async (city) => fetch(city);\nget_weather("Oslo");',
    ],
)
def test_introduced_examples_and_defined_functions_are_not_calls(text: str) -> None:
    assert calls(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>"
        '{"city": "Paris"}<|call|>',
        'I\'ll check: get_weather(city="Paris")',
        "I will now call get_weather, passing city = 'Paris'.",
        'Let me check the weather:\n<tool_call>\n{"name": "get_weather", "arguments": '
        '{"city": "Paris"}}\n</tool_call>',
        '<function_calls>\nget_weather(city="Paris")\n</function_calls>',
    ],
)
def test_more_ways_of_writing_a_call(text: str) -> None:
    assert calls(text) == [PARIS]


def test_defaults_can_be_left_out() -> None:
    text = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    assert calls(text, ToolCallDetector([WEATHER], fill_defaults=False)) == [
        ("get_weather", {"city": "Paris"})
    ]


def test_a_sentence_of_purpose_and_a_labelled_example_are_not_calls() -> None:
    assert calls("To call get_weather with city=Paris, use the API.") == []
    assert calls('Example:\n```python\nget_weather(city="Paris")\n```') == []
    assert (
        calls(
            'Here\'s the call you\'d make:\n<tool_call>{"name": "get_weather", '
            '"arguments": {"city": "Paris"}}</tool_call>'
        )
        == []
    )


def test_labelled_calls_need_a_json_object() -> None:
    assert calls('**Function:** get_weather\n**Arguments:** {"city": "Paris"}') == [PARIS]
    assert calls("Tool: get_weather\nArguments: city (string)") == []


def test_a_remark_after_the_block_can_make_it_an_example() -> None:
    text = (
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```\n'
        "The above JSON shows the format of a tool call."
    )
    assert calls(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "{" * 20_000,
        '{"a": ' * 5_000,
        '<tool_call>{"name": "get_weather", "arguments": '
        + "[" * 5_000
        + "]" * 5_000
        + "}</tool_call>",
        "<｜tool▁call▁begin｜>" * 5_000,
        "call get_weather with city=Paris and " * 2_000,
    ],
)
def test_hostile_outputs_are_read_in_linear_time(text: str) -> None:
    # Each of these took from 10 s to minutes before the scans were bounded; now well under
    # a second. Nothing here is a valid call except the repeated sentence.
    found = DETECTOR.detect(text)
    assert all(c.name == "get_weather" for c in found)


def test_a_detector_follows_changes_to_its_registry() -> None:
    registry = ToolRegistry([SEARCH])
    detector = ToolCallDetector(registry)
    text = "I'll call get_weather with city=Paris."
    assert calls(text, detector) == []
    registry.add(WEATHER)
    assert calls(text, detector) == [PARIS]
    registry.remove("get_weather")
    assert calls(text, detector) == []


def test_function_gemma_calls() -> None:
    text = (
        "<start_function_call>call:get_weather{city:<escape>Paris, France<escape>,days:3,"
        'tags:["a","b"]}<end_function_call>'
    )
    assert calls(text) == [
        ("get_weather", {"city": "Paris, France", "days": 3, "tags": ["a", "b"], "unit": "celsius"})
    ]


def test_a_stated_call_with_pairs_in_parentheses() -> None:
    assert calls("I will call get_weather(city: Paris, days: 2) now.") == [
        ("get_weather", {"city": "Paris", "days": 2, "unit": "celsius"})
    ]
    assert calls("Use get_weather(city=Paris)") == [PARIS]


def test_repair_leaves_the_words_inside_strings_alone() -> None:
    text = (
        '<tool_call>{"name": "search_web", "arguments": {"query": "True Detective None",}, }'
        "</tool_call>"
    )
    assert calls(text) == [("search_web", {"query": "True Detective None"})]


def test_a_sentence_reporting_how_a_call_went_is_not_a_call() -> None:
    assert calls("Calling get_weather with city=Paris returned an error.") == []
    assert calls("Calling get_weather with city=Paris failed, so I will retry.") == []
