"""Request body size limit as a pure ASGI middleware (no per-request task, no body copy).

A ``Content-Length`` over the limit is answered with 413 before the body is read. Bodies
without one (chunked) are counted as they stream in; the first chunk that crosses the limit
raises :class:`BodyTooLarge`, an HTTP 413 that FastAPI passes through its body parsing and the
error handlers turn into the usual JSON error body.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intently.server.errors import BODY_LIMIT_HINT, error_json


def _too_large_message(limit: int) -> str:
    return f"the request body is larger than the limit of {limit:,} bytes."


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, _too_large_message(limit))


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _reject(send, limit)
                    return
                break
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


async def _reject(send: Send, limit: int) -> None:
    body = error_json("E703", _too_large_message(limit), BODY_LIMIT_HINT)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
