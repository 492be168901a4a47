"""The OpenAI-compatible proxy, end to end: the official ``openai`` client → the proxy →
a fake upstream model server, all over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_upstream import FakeUpstream, free_port, serving

from intently.proxy import ProxySettings, create_proxy_app

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current time in a timezone.",
            "parameters": {
                "type": "object",
                "properties": {"timezone": {"type": "string"}},
                "required": ["timezone"],
            },
        },
    },
]

REPLIES = {
    "weather?": 'Let me check.\n<tool_call>{"name": "get_weather", "arguments": '
    '{"city": "Paris", "unit": "celsius"}}</tool_call>',
    "hi": "Hello! How can I help you today? I can look up the weather in any city, in "
    "celsius or fahrenheit, and tell you the time in any timezone (say, Europe/Oslo). "
    "Just ask in your own words; there is no special syntax to learn.",
    "both": 'Sure.\n```json\n[{"name": "get_weather", "arguments": {"city": "Oslo"}}, '
    '{"name": "get_time", "arguments": {"timezone": "Europe/Oslo"}}]\n```\nOne moment.',
    "python": 'I will look it up: [get_time(timezone="Asia/Tokyo")]',
    "hallucinated": '<tool_call>{"name": "book_flight", "arguments": {"to": "Rome"}}</tool_call>',
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(REPLIES)
    with serving(fake.app()) as url:
        yield fake, url


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="test-key", max_retries=0, timeout=20)


@pytest.fixture(scope="module")
def proxied(upstream: tuple[FakeUpstream, str]) -> Iterator[openai.OpenAI]:
    with serving(create_proxy_app(ProxySettings(upstream=upstream[1]))) as url:
        yield _client(url)


def _ask(client: openai.OpenAI, text: str, **options: Any) -> Any:
    return client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": text}], tools=TOOLS, **options
    )


def _streamed(client: openai.OpenAI, text: str) -> dict[str, Any]:
    """Assemble a streamed answer as a client does; remember every delta."""
    content, calls, finish, deltas = "", [], None, []
    for event in _ask(client, text, stream=True):
        for choice in event.choices:
            deltas.append(choice.delta)
            content += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                calls.append(call)
            finish = choice.finish_reason or finish
    return {"content": content or None, "calls": calls, "finish": finish, "deltas": deltas}


def test_a_call_in_the_text_comes_back_as_tool_calls(proxied: openai.OpenAI) -> None:
    reply = _ask(proxied, "weather?")
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert reply.usage is not None and reply.usage.total_tokens == 8  # upstream fields kept


def test_a_plain_answer_passes_unchanged(proxied: openai.OpenAI) -> None:
    choice = _ask(proxied, "hi").choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    assert choice.message.content == REPLIES["hi"]


def test_several_calls_and_an_unoffered_tool(proxied: openai.OpenAI) -> None:
    both = _ask(proxied, "both").choices[0].message
    assert [c.function.name for c in both.tool_calls] == ["get_weather", "get_time"]
    assert len({c.id for c in both.tool_calls}) == 2
    assert both.content.startswith("Sure.") and both.content.endswith("One moment.")
    assert "get_weather" not in both.content
    refused = _ask(proxied, "hallucinated").choices[0]  # book_flight is not offered
    assert refused.finish_reason == "stop" and refused.message.tool_calls is None


def test_tool_choice_none_and_a_named_function(proxied: openai.OpenAI) -> None:
    untouched = _ask(proxied, "weather?", tool_choice="none").choices[0]
    assert untouched.message.tool_calls is None and untouched.message.content == REPLIES["weather?"]
    only_time = {"type": "function", "function": {"name": "get_time"}}
    other = _ask(proxied, "weather?", tool_choice=only_time).choices[0]
    assert other.message.tool_calls is None  # get_weather was not the function asked for
    assert _ask(proxied, "python", tool_choice=only_time).choices[0].finish_reason == "tool_calls"


def test_streamed_call_is_one_complete_delta_and_text_streams(proxied: openai.OpenAI) -> None:
    streamed = _streamed(proxied, "weather?")
    assert streamed["finish"] == "tool_calls"
    (call,) = streamed["calls"]
    assert call.index == 0 and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert streamed["content"] == "Let me check."
    assert not any("<tool_call" in (d.content or "") for d in streamed["deltas"])

    plain = _streamed(proxied, "hi")
    assert plain["content"] == REPLIES["hi"] and plain["finish"] == "stop"
    assert sum(1 for d in plain["deltas"] if d.content) > 1  # streamed, not held to the end


@pytest.mark.parametrize("text", sorted(REPLIES))
def test_streaming_and_whole_answers_agree(proxied: openai.OpenAI, text: str) -> None:
    whole = _ask(proxied, text).choices[0]
    streamed = _streamed(proxied, text)
    assert streamed["content"] == whole.message.content
    assert streamed["finish"] == whole.finish_reason
    assert [(c.function.name, json.loads(c.function.arguments)) for c in streamed["calls"]] == [
        (c.function.name, json.loads(c.function.arguments)) for c in whole.message.tool_calls or []
    ]


def test_upstream_error_and_unreachable_upstream(proxied: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as failed:
        _ask(proxied, "fail")
    assert failed.value.status_code == 500
    assert "model exploded" in str(failed.value) and "E970" in str(failed.value)

    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with serving(create_proxy_app(ProxySettings(upstream=dead))) as url:
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as unreachable:
                _ask(_client(url), "hi", stream=stream)
            assert unreachable.value.status_code == 502
            assert "cannot reach the upstream server" in str(unreachable.value)


def test_a_stream_cut_before_its_finish_reason_still_reports_the_call(
    proxied: openai.OpenAI,
) -> None:
    streamed = _streamed(proxied, "cut:weather?")
    assert [c.function.name for c in streamed["calls"]] == ["get_weather"]
    assert streamed["finish"] == "tool_calls" and streamed["content"] == "Let me check."


def test_calls_the_upstream_parsed_itself_are_kept(proxied: openai.OpenAI) -> None:
    whole = _ask(proxied, "native:weather?").choices[0].message
    assert whole.tool_calls[0].id == "call_native"
    assert [c.function.name for c in whole.tool_calls] == ["get_time", "get_weather"]
    streamed = _streamed(proxied, "native:weather?")
    assert [(c.index, c.function.name) for c in streamed["calls"]] == [
        (0, "get_time"),
        (0, None),  # the rest of the upstream's arguments
        (1, "get_weather"),
    ]
    assert streamed["finish"] == "tool_calls"


def test_malformed_tools_are_a_bad_request(proxied: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        proxied.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"description": "no name"}}],
        )
    assert "E951" in str(refused.value) and "name" in str(refused.value)


def test_render_tools_writes_them_into_the_prompt(upstream: tuple[FakeUpstream, str]) -> None:
    fake, url = upstream
    with serving(create_proxy_app(ProxySettings(upstream=url, render_tools=True))) as proxy:
        reply = _ask(_client(proxy), "weather?")
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"
    sent = fake.received[-1]
    assert "tools" not in sent
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert '"name": "get_weather"' in system["content"] and "<tool_call>" in system["content"]


def test_models_pass_through(proxied: openai.OpenAI) -> None:
    assert [m.id for m in proxied.models.list()] == ["fake-model"]
