"""Issue 8, the HTTP service's requests: expensive texts off the event loop (6), bodies that
cannot be parsed (8), unknown fields (minor), and what the OpenAPI document promises."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

import intently
from intently.deploy import validate_model
from intently.registry import Registry
from intently.runtime import Classifier
from intently.server import Settings, create_app
from intently.server.routes.classify import INLINE_CHARS
from tiny_project import OOS_QUERIES, project_data

KEY = "security-admin-key"  # admin: every route, training runs included
AUTH = {"Authorization": f"Bearer {KEY}"}
JSON = {**AUTH, "content-type": "application/json"}
BODY_ROUTES = ("/v1/classify", "/v1/classify/batch")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    path = root / "intently.yaml"
    path.write_text(yaml.safe_dump(project_data(oos=OOS_QUERIES)), encoding="utf-8")
    version = intently.train(intently.load_project(path), write_reports=False).version.id
    Registry(root / "models").deploy("intent", version, check=validate_model)
    return path


@pytest.fixture
def make_client(project: Path, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            settings = Settings(
                _env_file=None,
                project=project,
                api_keys=f"admin:{KEY}",
                database_url=f"sqlite:///{tmp_path / 'server.db'}",
                **overrides,
            )
            client = TestClient(create_app(settings), raise_server_exceptions=False)
            return stack.enter_context(client)

        yield make


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


def _error(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()["error"]


# -- 6. heavy work off the event loop -----------------------------------------------------------


def test_a_text_that_expands_past_the_limit_under_nfkc_is_422(client):
    text = "\ufdfa" * 1_000  # 1,000 characters, 18,000 after NFKC; the limit is 10,000
    for route, body in (("/v1/classify", {"text": text}), (BODY_ROUTES[1], {"texts": [text]})):
        error = _error(client.post(route, json=body, headers=AUTH), 422)
        assert error["code"] == "E600" and "NFKC" in error["message"], route
        assert "18,000 characters" in error["message"] and error["hint"]


@pytest.fixture
def slow_classifier(monkeypatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Classification blocks until released (at most 10 s): ``(started, release)``."""
    started, release = threading.Event(), threading.Event()
    predict, predict_batch = Classifier.predict, Classifier.predict_batch

    def block() -> None:
        started.set()
        release.wait(10)

    def slow_predict(self, text):
        block()
        return predict(self, text)

    def slow_batch(self, texts):
        block()
        return predict_batch(self, texts)

    monkeypatch.setattr(Classifier, "predict", slow_predict)
    monkeypatch.setattr(Classifier, "predict_batch", slow_batch)
    yield started, release
    release.set()


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v1/classify", {"text": "where is my order " * 100}),
        ("/v1/classify/batch", {"texts": ["where is my order " * 20] * 4}),
        ("/v1/classify/batch", {"texts": ["hello"] * 100}),
    ],
    ids=["long text", "batch of long texts", "batch of many texts"],
)
def test_healthz_answers_while_an_expensive_request_is_classified(
    client, slow_classifier, route, body
):
    started, release = slow_classifier
    assert sum(map(len, body.get("texts", [body.get("text", "")]))) > INLINE_CHARS or (
        len(body.get("texts", ())) > 64
    )
    answers: list[int] = []
    worker = threading.Thread(
        target=lambda: answers.append(client.post(route, json=body, headers=AUTH).status_code)
    )
    worker.start()
    try:
        assert started.wait(10), "the classification never started"
        # On the event loop, the blocked classification would hold /healthz until its 10 s
        # wait ran out; in the thread pool /healthz answers while it is still blocked.
        assert client.get("/healthz").status_code == 200
        assert not release.is_set() and not answers
    finally:
        release.set()
        worker.join(30)
    assert answers == [200]


def test_short_texts_are_still_classified_on_the_event_loop(client, monkeypatch):
    threads: list[str] = []
    predict = Classifier.predict

    def record(self, text):
        threads.append(threading.current_thread().name)
        return predict(self, text)

    monkeypatch.setattr(Classifier, "predict", record)
    assert client.post("/v1/classify", json={"text": "hello"}, headers=AUTH).is_success
    assert client.post("/v1/classify", json={"text": "a " * 600}, headers=AUTH).is_success
    loop_thread, pool_thread = threads
    assert loop_thread != pool_thread and "AnyIO worker" in pool_thread


# -- 8. bodies that cannot be parsed ------------------------------------------------------------

MALFORMED = {
    "invalid UTF-8": b'{"text": "caf\xe9"}',
    "deep nesting": b'{"text": "hi", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "broken JSON": b'{"text": ',
    "trailing garbage": b'{"text": "hi"} x',
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("route", [*BODY_ROUTES, "/v1/training/runs"])
def test_unparsable_bodies_get_400_with_their_own_code_and_a_hint(client, route, case):
    error = _error(client.post(route, content=MALFORMED[case], headers=JSON), 400)
    assert error["code"] == "E707" and error["hint"], error
    assert "please report" not in error["hint"]
    assert "request body" in error["message"]


def test_parse_error_messages_say_what_is_wrong(client):
    def message(case: str) -> str:
        return _error(client.post("/v1/classify", content=MALFORMED[case], headers=JSON), 400)[
            "message"
        ]

    assert "UTF-8" in message("invalid UTF-8")
    assert "nested too deeply" in message("deep nesting")
    assert "not valid JSON" in message("broken JSON")


# -- minor: unknown request fields --------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v1/classify", {"text": "hello", "taks": "intent"}),
        ("/v1/classify/batch", {"texts": ["hello"], "taks": "intent"}),
        ("/v1/training/runs", {"taks": "intent"}),
    ],
)
def test_unknown_fields_are_refused_naming_the_field(client, route, body):
    error = _error(client.post(route, json=body, headers=AUTH), 422)
    assert error["code"] == "E600" and "taks: unknown field" in error["message"]


def test_the_classify_shortcut_and_the_route_agree_on_unknown_fields(client):
    shortcut = client.post("/v1/classify", json={"text": "hello", "x": 1}, headers=AUTH)
    # Any dependency override turns the shortcut off: the FastAPI route answers alone.
    client.app.dependency_overrides[intently.server.get_settings] = intently.server.get_settings
    route = client.post("/v1/classify", json={"text": "hello", "x": 1}, headers=AUTH)
    assert shortcut.status_code == route.status_code == 422
    assert shortcut.content == route.content


# -- the OpenAPI document -----------------------------------------------------------------------


def test_the_openapi_document_lists_every_status_a_route_answers(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"413", "431"} <= documented, (method, path)
            if "requestBody" in operation:
                assert {"400", "422"} <= documented, (method, path)
            if operation.get("security"):
                assert {"401", "403", "503"} <= documented, (method, path)
    for path in ("/v1/models/{version}/deploy", "/v1/models/rollback"):
        assert "507" in paths[path]["post"]["responses"]
    body = client.app.openapi()["components"]["schemas"]["ClassifyRequest"]
    assert body["additionalProperties"] is False
