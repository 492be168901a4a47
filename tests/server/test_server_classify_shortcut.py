"""The classify shortcut answers exactly as the FastAPI route it bypasses, and only the
plain successful request: everything else reaches the route with its body intact."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from server_helpers import ADMIN, PREDICT
from starlette.responses import Response
from starlette.types import Message

from intently.server.routes.classify import ClassifyShortcut
from intently.server.settings import get_settings

JSON = {"content-type": "application/json"}
ORDER = b'{"text": "where is my order"}'

CASES: dict[str, tuple[bytes, dict[str, str]]] = {
    "plain": (ORDER, {**PREDICT, **JSON}),
    "admin key": (ORDER, {**ADMIN, **JSON}),
    "task given": (b'{"text": "hello", "task": "intent"}', {**PREDICT, **JSON}),
    "charset": (ORDER, {**PREDICT, "content-type": "application/json; charset=utf-8"}),
    "unknown field": (b'{"text": "hello", "x": [1, 2]}', {**PREDICT, **JSON}),
    "repeated key": (b'{"text": "hello", "text": "where is my order"}', {**PREDICT, **JSON}),
    "NaN elsewhere": (b'{"text": "hello", "x": NaN}', {**PREDICT, **JSON}),
    "no key": (ORDER, JSON),
    "unknown key": (ORDER, {"authorization": "Bearer nope", **JSON}),
    "not bearer": (ORDER, {"authorization": "Token test-predict-key", **JSON}),
    "empty text": (b'{"text": "  "}', {**PREDICT, **JSON}),
    "text not a string": (b'{"text": 5}', {**PREDICT, **JSON}),
    "no text": (b"{}", {**PREDICT, **JSON}),
    "array body": (b'["hello"]', {**PREDICT, **JSON}),
    "broken JSON": (b'{"text": ', {**PREDICT, **JSON}),
    "invalid UTF-8": (b'{"text": "caf\xe9"}', {**PREDICT, **JSON}),
    "unknown task": (b'{"text": "hello", "task": "nope"}', {**PREDICT, **JSON}),
    "text/plain": (ORDER, {**PREDICT, "content-type": "text/plain"}),
    "no content type": (ORDER, PREDICT),
    "empty body": (b"", {**PREDICT, **JSON}),
}


def test_answers_match_the_route_without_the_shortcut(make_client):
    fast = make_client()
    slow = make_client()
    # Any dependency override turns the shortcut off (tests rely on overrides reaching routes).
    slow.app.dependency_overrides[get_settings] = get_settings
    for case, (body, headers) in CASES.items():
        answers = [c.post("/v1/classify", content=body, headers=headers) for c in (fast, slow)]
        assert answers[0].status_code == answers[1].status_code, case
        # every answer gets its own interaction id; the rest is byte for byte the same
        assert _masked(answers[0].content) == _masked(answers[1].content), case
        assert answers[0].headers == answers[1].headers, case
    assert fast.post("/v1/classify", content=ORDER, headers={**PREDICT, **JSON}).is_success


def _masked(content: bytes) -> bytes:
    return re.sub(rb'"interaction_id":"[0-9a-f]{32}"', b'"interaction_id":"*"', content)


def test_a_too_large_body_is_refused_before_the_shortcut(make_client):
    client = make_client(max_body_bytes=40)
    text = "where is my order " * 5
    response = client.post("/v1/classify", json={"text": text}, headers=PREDICT)
    assert response.status_code == 413 and response.json()["error"]["code"] == "E703"


def _call(app: Any, body: bytes, headers: dict[str, str]) -> tuple[list[Message], list[Message]]:
    """Runs the shortcut over a stand-in for FastAPI's routing; returns (what the stand-in
    received, what was sent)."""
    reached: list[Message] = []
    sent: list[Message] = []

    async def route(scope: dict, receive: Any, send: Any) -> None:
        while True:
            reached.append(await receive())
            if not reached[-1].get("more_body"):
                break
        await Response(b"route", 299)(scope, receive, send)

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/classify",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "app": app,
    }
    asyncio.run(ClassifyShortcut(route)(scope, receive, send))
    return reached, sent


def test_the_shortcut_answers_a_plain_request_itself(client):
    sized = {**PREDICT, **JSON, "content-length": str(len(ORDER))}
    reached, sent = _call(client.app, ORDER, sized)
    assert reached == [] and sent[0]["status"] == 200
    assert b'"label":"order_status"' in sent[1]["body"]


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer nope", **JSON, "content-length": str(len(ORDER))},
        {**PREDICT, **JSON},  # no Content-Length: a chunked body, left to the route unread
        {**PREDICT, **JSON, "content-length": str(len(ORDER)), "transfer-encoding": "chunked"},
    ],
    ids=["refused key", "no length", "chunked"],
)
def test_anything_else_reaches_the_route_with_its_body(client, headers):
    reached, sent = _call(client.app, ORDER, headers)
    assert [m["body"] for m in reached] == [ORDER] and sent[0]["status"] == 299


def test_dependency_overrides_reach_the_route(client):
    client.app.dependency_overrides[get_settings] = get_settings
    sized = {**PREDICT, **JSON, "content-length": str(len(ORDER))}
    reached, _ = _call(client.app, ORDER, sized)
    assert [m["body"] for m in reached] == [ORDER]
