"""Detected calls in OpenAI's chat-completion shapes: whole replies and stream chunks.

A call becomes ``{"id": "call_…", "type": "function", "function": {"name", "arguments"}}``
with the arguments as a JSON string, as the OpenAI API sends them. Only calls without
problems are reported: a rejected call (an unknown tool, a missing required parameter) stays in
the content as the model wrote it, so the client sees what the model said rather than a call
it must not execute.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from intently.toolcalls import ToolCall, ToolCallDetector


def call_id() -> str:
    """An id in OpenAI's shape (``call_`` + 24 characters), unique per call."""
    return "call_" + secrets.token_hex(12)


def tool_call_json(call: ToolCall, *, index: int | None = None) -> dict[str, Any]:
    """One ``tool_calls`` entry; stream deltas carry the call's ``index`` too."""
    entry: dict[str, Any] = {
        "id": call_id(),
        "type": "function",
        "function": {
            "name": call.name,
            "arguments": json.dumps(dict(call.arguments), ensure_ascii=False),
        },
    }
    return entry if index is None else {"index": index, **entry}


def with_tool_calls(reply: Mapping[str, Any], detector: ToolCallDetector) -> dict[str, Any]:
    """The upstream ``chat.completion`` with the calls in each choice's text reported as
    ``tool_calls``, cut out of the content (``content: null`` when nothing else is left, as
    OpenAI sends it)."""
    choices = []
    for choice in reply.get("choices") or []:
        message = dict(choice.get("message") or {})
        text = message.get("content")
        found = detector.analyze(text) if isinstance(text, str) and text else None
        if found is not None and found.calls:
            message["content"] = found.content or None
            native = list(message.get("tool_calls") or [])  # an upstream parser's own calls
            message["tool_calls"] = native + [tool_call_json(c) for c in found.calls]
            choice = {**choice, "message": message, "finish_reason": "tool_calls"}
        choices.append(choice)
    return {**reply, "choices": choices}


def chunk(
    template: Mapping[str, Any], index: int, delta: Mapping[str, Any], finish: str | None = None
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` like ``template`` (id, model, created) with one choice."""
    return {
        "id": template.get("id", ""),
        "object": "chat.completion.chunk",
        "created": template.get("created", 0),
        "model": template.get("model", ""),
        "choices": [{"index": index, "delta": dict(delta), "finish_reason": finish}],
    }


def error_body(message: str, *, code: str, kind: str = "upstream_error") -> dict[str, Any]:
    """OpenAI's error object, which the official client turns into an ``APIError``."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
