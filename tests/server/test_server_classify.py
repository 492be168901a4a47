"""``POST /v1/classify`` and ``/v1/classify/batch``: answers, limits and errors."""

from __future__ import annotations

import shutil

import pytest
from server_helpers import INTENTS, PREDICT

LABELS = {*INTENTS, "oos"}


def test_classify_answers_with_label_ranking_and_version(client, served_project):
    response = client.post("/v1/classify", json={"text": "where is my order"}, headers=PREDICT)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "label",
        "confidence",
        "ranking",
        "fallback",
        "intent",
        "model_version",
        "runtime",
        "precision",
        "task",
        "interaction_id",
    }
    assert len(body["interaction_id"]) == 32
    assert body["runtime"] in {"onnx", "numpy"} and body["precision"] in {"fp32", "int8"}
    assert body["label"] == "order_status" and body["intent"] == "order_status"
    assert body["model_version"] == served_project.v1 and body["task"] == "intent"
    confidences = [item["confidence"] for item in body["ranking"]]
    assert confidences == sorted(confidences, reverse=True) and 1 <= len(confidences) <= 5
    assert body["confidence"] == confidences[0]
    assert {item["label"] for item in body["ranking"]} <= LABELS


def test_batch_answers_in_order_and_agrees_with_single(client):
    texts = ["hello there", "where is my order", "refund my money", "tell me a joke"]
    response = client.post("/v1/classify/batch", json={"texts": texts}, headers=PREDICT)
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == len(texts) and body["task"] == "intent"
    for text, result in zip(texts, body["results"], strict=True):
        single = client.post("/v1/classify", json={"text": text}, headers=PREDICT).json()
        assert result["label"] == single["label"] and result["fallback"] == single["fallback"]
        assert result["confidence"] == pytest.approx(single["confidence"], abs=1e-4)
    big = client.post("/v1/classify/batch", json={"texts": texts * 50}, headers=PREDICT)
    assert big.status_code == 200 and len(big.json()["results"]) == 200  # thread-pool path


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    return response.json()["error"]


def test_empty_and_too_long_texts_get_422_naming_the_problem(make_client):
    client = make_client(max_text_chars=50)
    for text in ("", "   ", "\u200b"):
        error = _error(client.post("/v1/classify", json={"text": text}, headers=PREDICT), 422)
        assert error["code"] == "E600" and "empty" in error["message"]
    error = _error(client.post("/v1/classify", json={"text": "a" * 51}, headers=PREDICT), 422)
    assert "51 characters" in error["message"] and "limit is 50" in error["message"]
    batch = {"texts": ["hello", "a" * 51]}
    error = _error(client.post("/v1/classify/batch", json=batch, headers=PREDICT), 422)
    assert "#1" in error["message"] and "limit is 50" in error["message"]


def test_malformed_requests_get_422_not_500(client):
    cases = [
        {"json": {}},
        {"json": {"text": 5}},
        {"json": {"text": ["a"]}},
        {"json": {"text": "hello", "task": "nope"}},
    ]
    for case in cases:
        headers = {**PREDICT, **case.pop("headers", {})}
        error = _error(client.post("/v1/classify", headers=headers, **case), 422)
        assert error["code"] == "E600", case
    error = _error(
        client.post("/v1/classify", json={"text": "hi", "task": "intnet"}, headers=PREDICT), 422
    )
    assert "Did you mean 'intent'" in error["message"]
    error = _error(client.post("/v1/classify/batch", json={"texts": []}, headers=PREDICT), 422)
    assert "texts" in error["message"]


def test_batch_over_the_limit_gets_422_naming_the_limit(make_client):
    client = make_client(max_batch=3)
    ok = client.post("/v1/classify/batch", json={"texts": ["hi"] * 3}, headers=PREDICT)
    assert ok.status_code == 200
    response = client.post("/v1/classify/batch", json={"texts": ["hi"] * 4}, headers=PREDICT)
    error = _error(response, 422)
    assert "4 texts" in error["message"] and "limit is 3" in error["message"]


def test_bodies_over_the_limit_get_413_declared_or_streamed(make_client):
    client = make_client(max_body_bytes=1_000)
    big = {"texts": ["where is my order"] * 100}
    error = _error(client.post("/v1/classify/batch", json=big, headers=PREDICT), 413)
    assert error["code"] == "E703" and "1,000 bytes" in error["message"]

    def chunks():  # no Content-Length: the middleware counts the streamed bytes
        yield b'{"texts": ['
        for _ in range(100):
            yield b'"where is my order",'
        yield b'"x"]}'

    headers = {**PREDICT, "content-type": "application/json"}
    response = client.post("/v1/classify/batch", content=chunks(), headers=headers)
    error = _error(response, 413)
    assert "1,000 bytes" in error["message"]
    small = client.post("/v1/classify", json={"text": "hello"}, headers=PREDICT)
    assert small.status_code == 200


def test_task_without_a_deployed_model_gets_503_with_a_hint(make_client, served_project):
    shutil.rmtree(served_project.root / "models")
    client = make_client()
    error = _error(client.post("/v1/classify", json={"text": "hello"}, headers=PREDICT), 503)
    assert "no deployed model" in error["message"]
    assert "intently models deploy" in error["hint"]


def test_unknown_routes_get_the_error_body(client):
    error = _error(client.get("/v1/nothing", headers=PREDICT), 404)
    assert error["code"] == "E704"
    assert client.get("/v1/classify", headers=PREDICT).status_code == 405


def test_an_unexpected_failure_is_a_500_error_body_without_a_traceback(client, monkeypatch):
    def explode(_task):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(client.app.state.intently.pool, "classifier", explode)
    error = _error(client.post("/v1/classify", json={"text": "hi"}, headers=PREDICT), 500)
    assert error["code"] == "E799" and "RuntimeError" in error["message"]
    assert "secret internal detail" not in error["message"]


def test_the_exported_int8_graph_can_serve_and_answers_like_the_native_model(make_client):
    texts = ["hello there", "where is my order", "refund my money", "tell me a joke"]
    native = make_client(runtime="native")
    onnx = make_client(runtime="onnx", precision="int8")
    assert onnx.app.state.intently.pool.get("intent").runtime == "onnx"
    assert native.app.state.intently.pool.get("intent").runtime == "native"
    answers = [
        client.post("/v1/classify/batch", json={"texts": texts}, headers=PREDICT).json()
        for client in (native, onnx)
    ]
    labels = [[item["label"] for item in answer["results"]] for answer in answers]
    assert labels[0] == labels[1]
