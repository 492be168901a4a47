"""``POST /v1/toolcalls/detect``: the tool calls in a model's output.

The tools come with the request (any accepted shape) or, when the request gives none, from
the project's ``tools:`` section. A detector is built once per distinct tool set and kept in a
small per-app cache (building compiles patterns and schema validators; detecting then takes
well under a millisecond for a typical output). Outputs longer than :data:`INLINE_CHARS` are
read in the thread pool so they never hold up the event loop.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intently.errors import ToolCallError
from intently.server.deps import RequirePredict
from intently.server.errors import error_response
from intently.server.routes._common import AUTH, errors, json_response
from intently.toolcalls import ToolCallDetector, ToolRegistry

router = APIRouter(prefix="/v1/toolcalls", tags=["toolcalls"])

INLINE_CHARS = 4_000
CACHED_TOOL_SETS = 64


class DetectRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}'
                    "</tool_call>",
                    "tools": [
                        {
                            "name": "get_weather",
                            "parameters": {
                                "type": "object",
                                "properties": {"city": {"type": "string"}},
                                "required": ["city"],
                            },
                        }
                    ],
                }
            ]
        },
    )

    text: str = Field(description="The model's output; at most `max_text_chars` characters.")
    tools: list[dict[str, Any]] | None = Field(
        None,
        description="Offered tools ({name, description, parameters}, MCP inputSchema or OpenAI "
        "function shape); the project's tools when omitted.",
    )
    threshold: float = Field(0.5, ge=0, le=1, description="Lowest confidence returned.")


class ToolCallPublic(BaseModel):
    name: str
    arguments: dict[str, Any]
    confidence: float
    span: tuple[int, int]
    detector: str
    problems: list[str]


class DetectResponse(BaseModel):
    calls: list[ToolCallPublic] = Field(description="Calls that may be executed.")
    rejected: list[ToolCallPublic] = Field(
        description="Calls the model attempted but that cannot run, each with its problems."
    )
    content: str = Field(description="The text with the accepted calls removed.")


class _Detectors:
    """Detectors by tool set, least recently used dropped first."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, ToolCallDetector] = OrderedDict()

    def get(self, tools: list[dict[str, Any]], threshold: float) -> ToolCallDetector:
        key = json.dumps([tools, threshold], sort_keys=True, default=str)
        detector = self._cache.get(key)
        if detector is None:
            detector = ToolCallDetector(ToolRegistry(tools), threshold=threshold)
            self._cache[key] = detector
            if len(self._cache) > CACHED_TOOL_SETS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return detector


def _detectors(request: Request) -> _Detectors:
    cache = getattr(request.app.state, "toolcall_detectors", None)
    if cache is None:
        cache = request.app.state.toolcall_detectors = _Detectors()
    return cache


@router.post(
    "/detect",
    response_model=DetectResponse,
    responses=errors(400, *AUTH, 413, 422),
    summary="Detect tool calls in a model's output",
)
async def detect(request: Request, body: DetectRequest, state: RequirePredict) -> Response:
    """Calls in any format (Hermes, Mistral, Llama, pythonic, ReAct, ...) with schema-checked
    arguments; refused calls come back with the reasons, ready to send to the model."""
    limit = state.settings.max_text_chars
    if len(body.text) > limit:
        return error_response(
            422,
            "E600",
            f"text has {len(body.text):,} characters; the limit is {limit:,}.",
            "send a shorter text.",
        )
    tools = body.tools if body.tools is not None else [t.model_dump() for t in state.project.tools]
    try:
        detector = _detectors(request).get(tools, body.threshold)
    except ToolCallError as exc:
        return error_response(422, exc.code, exc.message, exc.hint)
    if len(body.text) <= INLINE_CHARS:
        result = detector.analyze(body.text)
    else:
        result = await run_in_threadpool(detector.analyze, body.text)
    return json_response(
        {
            "calls": [c.to_dict() for c in result.calls],
            "rejected": [c.to_dict() for c in result.rejected],
            "content": result.content,
        }
    )
