"""``/healthz``, ``/readyz``, ``/metrics``, CORS and the OpenAPI schema."""

from __future__ import annotations

import re
import shutil

import pytest
from server_helpers import PREDICT

from intently.server import metrics as server_metrics
from intently.server.metrics import MULTIPROC_ENV, ServerMetrics

ROUTES = {
    ("post", "/v1/classify"),
    ("post", "/v1/classify/batch"),
    ("get", "/v1/models"),
    ("post", "/v1/models/{version}/deploy"),
    ("post", "/v1/models/rollback"),
    ("post", "/v1/training/runs"),
    ("get", "/v1/training/runs"),
    ("get", "/v1/training/runs/{run_id}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/v1/ab/tests"),
    ("get", "/v1/ab/tests"),
    ("get", "/v1/ab/report"),
    ("post", "/v1/ab/promote"),
    ("post", "/v1/ab/stop"),
    ("get", "/v1/metrics/live"),
    ("get", "/v1/metrics/drift"),
    ("get", "/v1/metrics/snapshots"),
    ("get", "/v1/alerts"),
    ("post", "/v1/toolcalls/detect"),
    ("get", "/v1/review/pending"),
    ("post", "/v1/corrections"),
    ("post", "/v1/review/approve"),
    ("post", "/v1/review/skip"),
    ("get", "/v1/errors"),
    ("get", "/v1/dataset/export"),
    ("get", "/v1/dataset/stats"),
}


def test_health_and_readiness_need_no_key(client, served_project):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "models": {"intent": served_project.v1},
        "problems": [],
    }


def test_not_ready_without_an_active_model(make_client, served_project):
    (served_project.root / "models" / "intent" / "active.json").unlink()
    response = make_client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready" and body["models"] == {}
    assert "no task has a deployed model" in body["problems"][0]


def test_not_ready_when_the_active_model_cannot_load(make_client, served_project):
    shutil.rmtree(served_project.registry.get("intent", served_project.v1).path)
    response = make_client().get("/readyz")
    assert response.status_code == 503
    assert any("intent" in problem for problem in response.json()["problems"])


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_predictions_fallbacks_and_confidence(client, served_project):
    texts = ["where is my order", "where is my order", "hello there"]
    for text in texts:
        client.post("/v1/classify", json={"text": text}, headers=PREDICT)
    client.post("/v1/classify/batch", json={"texts": texts}, headers=PREDICT)
    client.post("/v1/classify", json={"text": "hi"})  # 401
    response = client.get("/metrics")  # public by default
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/")
    text = response.text
    version = served_project.v1
    for name in (
        "intently_http_requests_total",
        "intently_http_request_duration_seconds_bucket",
        "intently_predictions_total",
        "intently_fallbacks_total",
        "intently_prediction_confidence_sum",
        "intently_prediction_confidence_count",
        "intently_model_loaded",
        "intently_model_swaps_total",
    ):
        assert name in text, name
    order = dict(task="intent", label="order_status", model_version=version)
    assert _sample(text, "intently_predictions_total", **order) == 4.0
    greeting = dict(task="intent", label="greeting", model_version=version)
    assert _sample(text, "intently_predictions_total", **greeting) == 2.0
    conf = dict(task="intent", model_version=version)
    assert _sample(text, "intently_prediction_confidence_count", **conf) == 6.0
    assert 0 < _sample(text, "intently_prediction_confidence_sum", **conf) <= 6.0
    top = _sample(text, "intently_prediction_confidence_bucket", le="+Inf", **conf)
    assert top == 6.0
    ok = dict(route="/v1/classify", status="200", model_version=version)
    assert _sample(text, "intently_http_requests_total", **ok) == 3.0
    denied = dict(route="/v1/classify", status="401")
    assert _sample(text, "intently_http_requests_total", **denied) == 1.0
    latency = dict(route="/v1/classify/batch", model_version=version)
    assert _sample(text, "intently_http_request_duration_seconds_count", **latency) == 1.0
    loaded = dict(task="intent", version=version)
    assert _sample(text, "intently_model_loaded", **loaded) == 1.0


def test_samples_are_tallied_until_a_flush_or_until_too_many_pile_up(monkeypatch):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    monkeypatch.setattr(server_metrics, "MAX_PENDING", 3)
    metrics = ServerMetrics()
    labels = {"route": "/v1/classify", "model_version": "v1"}

    def written(name: str, **more: str) -> float:
        return metrics.registry.get_sample_value(name, {**labels, **more}) or 0.0

    for seconds in (0.002, 0.02):
        metrics.observe_request("POST", "/v1/classify", 200, "v1", seconds)
    assert written("intently_http_request_duration_seconds_count") == 0.0
    metrics.flush()
    assert written("intently_http_request_duration_seconds_count") == 2.0
    assert written("intently_http_requests_total", method="POST", status="200") == 2.0
    for _ in range(3):  # the third observation of the series writes without a flush
        metrics.observe_request("POST", "/v1/classify", 200, "v1", 0.0025)
    assert written("intently_http_request_duration_seconds_bucket", le="0.0025") == 4.0
    assert written("intently_http_request_duration_seconds_sum") == pytest.approx(0.0295)


def test_metrics_can_require_a_key(make_client):
    client = make_client(metrics_public=False)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=PREDICT).status_code == 200


def test_cors_is_off_by_default_and_on_for_configured_origins(make_client):
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    plain = make_client()
    response = plain.options("/v1/classify", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    cors = make_client(cors_origins=["https://app.example"])
    response = cors.options("/v1/classify", headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"


def test_openapi_lists_every_route_with_security_and_examples(client):
    schema = client.get("/openapi.json").json()
    routes = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert routes == ROUTES
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    classify = schema["paths"]["/v1/classify"]["post"]
    assert classify["security"] == [{"ApiKey": []}]
    assert {"401", "403", "413", "422", "503"} <= set(classify["responses"])
    assert "security" not in schema["paths"]["/healthz"]["get"]
    components = schema["components"]["schemas"]
    for name in (
        "ClassifyRequest",
        "ClassifyResponse",
        "BatchClassifyRequest",
        "BatchClassifyResponse",
        "ModelPublic",
        "TrainingRunPublic",
        "ErrorBody",
    ):
        assert components[name].get("examples"), name
