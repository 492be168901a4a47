"""``intently proxy``: an OpenAI-compatible endpoint that gives any model function calling.

``POST /v1/chat/completions`` forwards the request to an upstream OpenAI-compatible server
(Ollama, llama.cpp, vLLM without a tool parser), reads the reply with
:class:`~intently.toolcalls.ToolCallDetector` against the ``tools`` the request offered, and
answers with standard ``tool_calls`` (``finish_reason: "tool_calls"``, call ids, arguments as
JSON strings), both whole and as server-sent events. ``GET /v1/models`` is passed through.

Requests without ``tools`` (or with ``tool_choice: "none"``) are forwarded and answered
unchanged. With ``render_tools`` the tools are written into the prompt
(:mod:`intently.proxy.render`) for models whose chat template has no tool section.

An upstream that cannot be reached, times out or fails answers as an OpenAI error object
(``{"error": {"message", "type", "code"}}``, code E970) with status 502, 504 or the
upstream's own status; the official client raises it as an ``APIError``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from intently.errors import IntentlyError, UpstreamError
from intently.proxy.render import render_messages
from intently.proxy.replies import chunk, error_body, tool_call_json, with_tool_calls
from intently.proxy.stream_text import ContentStream
from intently.toolcalls import ToolCallDetector, ToolRegistry, remove_calls

FORWARDED_HEADERS = ("authorization", "openai-organization", "openai-project")


@dataclass(frozen=True)
class ProxySettings:
    """``upstream`` is the base URL an OpenAI client would use (``http://host:11434/v1``)."""

    upstream: str
    render_tools: bool = False
    timeout: float = 120.0
    api_key: str | None = None
    """Sent upstream as a bearer token when the client sends no Authorization header."""


def _error(status: int, message: str, *, code: str, kind: str) -> JSONResponse:
    return JSONResponse(error_body(message, code=code, kind=kind), status_code=status)


def _upstream_failure(error: UpstreamError) -> JSONResponse:
    return _error(error.status, str(error), code=error.code, kind="upstream_error")


def _failed_reply(status: int, body: bytes) -> UpstreamError:
    """The upstream's error answer, its own message kept when it sent an OpenAI error."""
    detail = body.decode("utf-8", "replace")[:2000]
    try:
        parsed = json.loads(detail)
        if isinstance(parsed, Mapping) and isinstance(parsed.get("error"), Mapping):
            detail = str(parsed["error"].get("message", detail))
    except json.JSONDecodeError:
        pass
    return UpstreamError(f"the upstream server answered {status}: {detail}", status=status)


def _transport_failure(exc: httpx.HTTPError, url: str) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError(
            f"the upstream server {url} did not answer in time ({type(exc).__name__}).",
            status=504,
            hint="check that the model server is up, or start the proxy with a longer --timeout.",
        )
    return UpstreamError(
        f"cannot reach the upstream server {url} ({type(exc).__name__}: {exc}).",
        hint="check --upstream (the base URL an OpenAI client would use, e.g. "
        "http://127.0.0.1:11434/v1) and that the model server is running.",
    )


@dataclass(frozen=True)
class _Plan:
    """What to forward and how to read the reply."""

    body: dict[str, Any]
    detector: ToolCallDetector | None


def plan_request(body: Mapping[str, Any], settings: ProxySettings) -> _Plan:
    """The upstream request body and the detector for the offered tools (None: no tools, or
    ``tool_choice: "none"``, so the reply is relayed as it is)."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return _Plan(dict(body), None)
    registry = ToolRegistry(tools)
    if isinstance(choice, Mapping):  # {"type": "function", "function": {"name": ...}}
        wanted = (choice.get("function") or {}).get("name")
        if wanted in registry:
            registry = ToolRegistry([registry.get(wanted)])
    forwarded = dict(body)
    if settings.render_tools:
        for key in ("tools", "tool_choice", "parallel_tool_calls"):
            forwarded.pop(key, None)
        forwarded["messages"] = render_messages(body.get("messages") or [], registry.tools)
    return _Plan(forwarded, ToolCallDetector(registry))


def _sse(data: Mapping[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()


async def _upstream_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON events of an upstream SSE stream, until ``[DONE]``."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            raise UpstreamError(
                f"the upstream stream sent a line that is not JSON: {payload[:200]!r}"
            ) from None
        if isinstance(event, dict):
            yield event


async def _passthrough(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for data in response.aiter_raw():
            yield data
    finally:
        await response.aclose()


async def relay_stream(
    response: httpx.Response, detector: ToolCallDetector
) -> AsyncIterator[bytes]:
    """Upstream chunks in, chunks out: text as ``delta.content`` once it cannot be part of a
    call, each call as one ``delta.tool_calls`` entry once complete."""
    streams: dict[int, ContentStream] = {}
    counts: dict[int, int] = {}
    template: dict[str, Any] = {}

    def pieces_out(index: int, pieces: list[Any]) -> list[bytes]:
        out = []
        for piece in pieces:
            if isinstance(piece, str):
                delta: dict[str, Any] = {"content": piece}
            else:
                delta = {"tool_calls": [tool_call_json(piece, index=counts.get(index, 0))]}
                counts[index] = counts.get(index, 0) + 1
            out.append(_sse(chunk(template, index, delta)))
        return out

    def finished(index: int, reason: str) -> list[bytes]:
        out = pieces_out(index, streams.pop(index).finish())
        return [
            *out,
            _sse(chunk(template, index, {}, "tool_calls" if counts.get(index) else reason)),
        ]

    try:
        async for event in _upstream_events(response):
            template = template or event
            if not event.get("choices"):  # a usage chunk, or another event without choices
                yield _sse(event)
                continue
            for choice in event["choices"]:
                index = int(choice.get("index", 0))
                if index not in streams:
                    streams[index] = ContentStream(detector.stream(), remove_calls)
                delta = dict(choice.get("delta") or {})
                text = delta.pop("content", None)
                if delta:  # the role, an upstream parser's own tool_calls, reasoning text...
                    native = [c.get("index", 0) for c in delta.get("tool_calls") or []]
                    if native:  # our calls are numbered after the upstream's own
                        counts[index] = max(counts.get(index, 0), max(native) + 1)
                    yield _sse(chunk(event, index, delta))
                if isinstance(text, str) and text:
                    for data in pieces_out(index, streams[index].feed(text)):
                        yield data
                if choice.get("finish_reason") is not None:
                    for data in finished(index, choice["finish_reason"]):
                        yield data
        for index in list(streams):  # the upstream ended a choice without a finish_reason
            for data in finished(index, "stop"):
                yield data
    except (httpx.HTTPError, UpstreamError) as exc:
        url = str(response.request.url)
        failure = exc if isinstance(exc, UpstreamError) else _transport_failure(exc, url)
        yield _sse(error_body(str(failure), code=failure.code))
    finally:
        await response.aclose()
    yield _sse("[DONE]")


def create_proxy_app(settings: ProxySettings) -> Starlette:
    """The proxy as an ASGI app."""
    base = settings.upstream.rstrip("/")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=settings.timeout) as client:
            app.state.client = client
            yield

    def headers(request: Request) -> dict[str, str]:
        sent = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
        if "authorization" not in sent and settings.api_key:
            sent["authorization"] = f"Bearer {settings.api_key}"
        return sent

    async def chat_completions(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            plan = plan_request(body, settings)
        except (ValueError, IntentlyError) as exc:
            return _error(400, str(exc), code="invalid_request", kind="invalid_request_error")
        client: httpx.AsyncClient = request.app.state.client
        url = f"{base}/chat/completions"
        upstream = client.build_request("POST", url, json=plan.body, headers=headers(request))
        try:
            response = await client.send(upstream, stream=bool(body.get("stream")))
            if response.status_code >= 400:
                failed = await response.aread()
                await response.aclose()
                return _upstream_failure(_failed_reply(response.status_code, failed))
        except httpx.HTTPError as exc:
            return _upstream_failure(_transport_failure(exc, url))
        if body.get("stream"):
            events = (
                _passthrough(response)
                if plan.detector is None
                else relay_stream(response, plan.detector)
            )
            return StreamingResponse(events, media_type="text/event-stream")
        try:
            reply = response.json()
            if not isinstance(reply, dict):
                raise ValueError("not an object")
        except ValueError:  # not JSON, not UTF-8, or not a chat.completion object
            return _upstream_failure(
                UpstreamError(
                    "the upstream server answered with a body that is not a chat completion: "
                    f"{response.content[:200]!r}"
                )
            )
        if plan.detector is not None:
            reply = with_tool_calls(reply, plan.detector)
        return JSONResponse(reply)

    async def models(request: Request) -> Response:
        client: httpx.AsyncClient = request.app.state.client
        url = f"{base}/models"
        try:
            response = await client.get(url, headers=headers(request))
        except httpx.HTTPError as exc:
            return _upstream_failure(_transport_failure(exc, url))
        return Response(
            response.content,
            status_code=response.status_code,
            media_type=response.headers.get("content-type", "application/json"),
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
