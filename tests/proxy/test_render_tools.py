"""Tools and tool turns rendered into plain messages for models without a tool template."""

from __future__ import annotations

from intently.proxy.render import render_messages
from intently.toolcalls import Tool

WEATHER = Tool("get_weather", "Weather in a city.", {"type": "object", "properties": {}})


def test_tool_turns_become_text_the_model_can_read() -> None:
    history = [
        {"role": "user", "content": "weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "-3C"}]},
    ]
    rendered = render_messages(history, [WEATHER])
    assert [m["role"] for m in rendered] == ["system", "user", "assistant", "user"]
    assert "get_weather" in rendered[0]["content"]
    assert rendered[2]["content"] == (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    )
    assert rendered[3]["content"] == "<tool_response>\n-3C\n</tool_response>"
    assert history[1]["content"] is None  # the input is not modified
