"""Tools into the prompt, for models whose chat template has no tool section.

With ``--render-tools`` the proxy removes ``tools`` and ``tool_choice`` from the request and
puts one system message in front that lists each tool (name, description, JSON Schema of the
arguments) and asks for calls as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``,
the Hermes/Qwen shape most open models have seen in training. The history is rewritten the same
way, because such a template also refuses the ``tool`` role and assistant ``tool_calls``: an
earlier assistant call becomes that tagged text, and a tool result becomes a user message
wrapped in ``<tool_response>``. The detector reads any format, so a model that answers in
another shape (fenced JSON, a Python call) is still understood.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from intently.toolcalls import Tool

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"

_INSTRUCTIONS = """You can call tools. The tools are:

{tools}

To call a tool, answer with one line per call and nothing else on that line:
{open}{{"name": "<tool name>", "arguments": {{<arguments as a JSON object>}}}}{close}
Use only the tools above and only the parameters their schema lists; give every required
parameter. When no tool is needed, answer in plain text without any {open} tag."""


def tools_prompt(tools: Sequence[Tool]) -> str:
    """The system message that describes ``tools`` and the call format."""
    listed = "\n".join(
        json.dumps(
            {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
            ensure_ascii=False,
        )
        for t in tools
    )
    return _INSTRUCTIONS.format(tools=listed, open=CALL_OPEN, close=CALL_CLOSE)


def _content_text(content: Any) -> str:
    """A message's content as text (a string, or OpenAI's list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return ""


def _rendered_call(call: Mapping[str, Any]) -> str:
    function = call.get("function") or {}
    arguments = function.get("arguments", "{}")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError:
        parsed = arguments  # what the client sent back; the model sees it unchanged
    body = {"name": function.get("name", ""), "arguments": parsed}
    return f"{CALL_OPEN}{json.dumps(body, ensure_ascii=False)}{CALL_CLOSE}"


def render_messages(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Tool]
) -> list[dict[str, Any]]:
    """``messages`` with the tools prompt first and tool turns rewritten as plain text."""
    rendered: list[dict[str, Any]] = [{"role": "system", "content": tools_prompt(tools)}]
    for message in messages:
        role = message.get("role")
        if role == "tool":
            result = _content_text(message.get("content"))
            rendered.append(
                {"role": "user", "content": f"<tool_response>\n{result}\n</tool_response>"}
            )
        elif role == "assistant" and message.get("tool_calls"):
            parts = [_content_text(message.get("content"))]
            parts += [_rendered_call(call) for call in message["tool_calls"]]
            rendered.append({"role": "assistant", "content": "\n".join(p for p in parts if p)})
        else:
            rendered.append(dict(message))
    return rendered
