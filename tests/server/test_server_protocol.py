"""The header size limit of ``intently serve``'s HTTP protocol, fed bytes directly: requests
whose line and headers exceed it get 431 and a closed connection before the app runs; bodies
(and a pipelined request's body) never count."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from intently.server.protocol import HeaderLimitedProtocol

LIMIT = 4_096


class Limited(HeaderLimitedProtocol):
    max_header_bytes = LIMIT


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 9000)}.get(name)

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _serve(*chunks: bytes) -> tuple[Transport, list[int]]:
    """Feeds ``chunks`` to a fresh connection; returns the transport and the body sizes the
    app saw, one per request it was called for."""
    seen: list[int] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        seen.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    config = Config(app=app, lifespan="off", log_level="warning")
    protocol = Limited(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    for chunk in chunks:
        if transport.closed:
            break
        protocol.data_received(chunk)
        await asyncio.sleep(0.01)  # let the request task run
    return transport, seen


def _request(headers: bytes = b"", body: bytes = b"") -> bytes:
    return (
        b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n"
        + headers
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_headers_under_the_limit_reach_the_app():
    transport, seen = asyncio.run(_serve(_request(b"X-Pad: " + b"a" * (LIMIT - 200) + b"\r\n")))
    assert seen == [0] and transport.written.startswith(b"HTTP/1.1 200")


def test_headers_over_the_limit_get_431_and_the_connection_is_closed():
    head = _request(b"X-Pad: " + b"a" * 1_000_000 + b"\r\n")
    chunks = [head[i : i + 1_024] for i in range(0, len(head), 1_024)]
    transport, seen = asyncio.run(_serve(*chunks))
    assert seen == [] and transport.closed
    status, _, rest = transport.written.partition(b"\r\n")
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "E708" and "4,096 bytes" in error["message"] and error["hint"]


def test_a_long_request_line_counts_as_well():
    line = b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n"
    transport, seen = asyncio.run(_serve(line[:5_000], line[5_000:]))
    assert seen == [] and transport.written.startswith(b"HTTP/1.1 431")


def test_bodies_do_not_count_even_in_the_same_read_or_pipelined():
    body = b"x" * (LIMIT * 10)
    transport, seen = asyncio.run(_serve(_request(body=body)))
    assert seen == [len(body)] and not transport.closed
    pipelined = _request(body=body) + _request()
    transport, seen = asyncio.run(_serve(pipelined[:-10], pipelined[-10:]))
    assert seen == [len(body), 0] and not transport.closed
    assert transport.written.count(b"HTTP/1.1 200") == 2
