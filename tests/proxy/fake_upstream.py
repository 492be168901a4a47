"""A tiny OpenAI-compatible model server for the proxy tests, served for real by uvicorn.

It answers each chat request with the reply scripted for the last user message (whole, or as
SSE chunks of a few characters; ``cut:<message>`` streams it without a finish_reason,
``native:<message>`` adds a tool call of the upstream's own, ``fail`` answers 500) and
remembers the bodies it received.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNK = 3


NATIVE_CALL = {
    "id": "call_native",
    "type": "function",
    "function": {"name": "get_time", "arguments": '{"timezone": "UTC"}'},
}


def _completion(text: str, *, native: bool = False) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    **({"tool_calls": [NATIVE_CALL]} if native else {}),
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    }


def _chunks(text: str, *, finish: bool = True, native: bool = False) -> Iterator[bytes]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1}
    base["model"] = "fake-model"
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if native:  # an upstream with its own parser streams its call in two deltas
        name, arguments = NATIVE_CALL["function"]["name"], NATIVE_CALL["function"]["arguments"]
        head = {"index": 0, "id": NATIVE_CALL["id"], "type": "function"}
        deltas.append({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]})
    deltas += [{"content": text[i : i + CHUNK]} for i in range(0, len(text), CHUNK)]
    for delta in deltas:
        event = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        yield f"data: {json.dumps(event)}\n\n".encode()
    if finish:
        event = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(event)}\n\n".encode()
    yield b"data: [DONE]\n\n"


class FakeUpstream:
    def __init__(self, replies: dict[str, str]):
        self.replies = replies
        self.received: list[dict[str, Any]] = []

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.received.append(body)
        last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        if last == "fail":
            return JSONResponse({"error": {"message": "model exploded"}}, status_code=500)
        cut = last.startswith("cut:")  # a stream that ends without a finish_reason
        native = last.startswith("native:")  # the upstream parsed a call of its own too
        text = self.replies[last.removeprefix("cut:").removeprefix("native:")]
        if body.get("stream"):
            events = _chunks(text, finish=not cut, native=native)
            return StreamingResponse(events, media_type="text/event-stream")
        return JSONResponse(_completion(text, native=native))

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL (``http://…/v1``)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
