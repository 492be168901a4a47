"""The learning loop through the HTTP service: A/B split and shadow answers recorded with
their arm, the A/B routes, live metrics, drift and the alert gauges in /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

import intently
from conftest import Deployed
from intently.db import Database
from intently.db.interactions import InteractionStore
from intently.server import Settings, create_app

ADMIN = {"Authorization": "Bearer admin-key"}


@contextmanager
def _client(deployed: Deployed) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None,
        project=deployed.path,
        api_keys="admin:admin-key",
        database_url=f"sqlite:///{deployed.root / 'intently.db'}",
        reload_interval_s=0.05,
        workers=1,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client  # leaving it runs the shutdown: every recorded answer is written


def _recorded(deployed: Deployed) -> list[Any]:
    database = Database(f"sqlite:///{deployed.root / 'intently.db'}")
    try:
        return list(InteractionStore(database).iter_records("intent"))
    finally:
        database.dispose()


def _challenger(deployed: Deployed) -> str:
    project = intently.load_project(deployed.path)
    return intently.train(project, write_reports=False, export=False).version.id


def _classify(client: TestClient, text: str, user: str) -> dict[str, Any]:
    response = client.post("/v1/classify", json={"text": text, "user_id": user}, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def test_split_test_answers_with_the_sticky_arm_and_records_it(deployed: Deployed) -> None:
    challenger = _challenger(deployed)
    with _client(deployed) as client:
        missing = client.post("/v1/ab/tests", json={"challenger": "20990101T0"}, headers=ADMIN)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "E704"
        assert "has no version '20990101T0'" in missing.json()["error"]["message"]
        started = client.post(
            "/v1/ab/tests", json={"challenger": challenger, "share": 0.5}, headers=ADMIN
        )
        assert started.status_code == 201, started.text
        test_id = started.json()["id"]
        again = client.post("/v1/ab/tests", json={"challenger": challenger}, headers=ADMIN)
        assert again.status_code == 409 and again.json()["error"]["code"] == "E741"
        versions = {}
        for user in range(40):
            first = _classify(client, "where is my order", f"u{user}")["model_version"]
            second = _classify(client, "hello there", f"u{user}")["model_version"]
            assert first == second  # sticky per user
            versions[user] = first
        assert set(versions.values()) == {deployed.weak, challenger}
        client.app.state.intently.recording.recorder.flush()  # type: ignore[attr-defined]
        report = client.get("/v1/ab/report", headers=ADMIN).json()
        assert (
            report["arms"]["champion"]["answered"] + report["arms"]["challenger"]["answered"] == 80
        )
        stopped = client.post("/v1/ab/stop", json={"task": "intent"}, headers=ADMIN)
        assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
        assert _classify(client, "hello", "u0")["model_version"] == deployed.weak
    records = [r for r in _recorded(deployed) if r.ab_test_id == test_id]
    assert len(records) == 80
    assert {(r.arm, r.model_version) for r in records} == {
        ("champion", deployed.weak),
        ("challenger", challenger),
    }
    assert report["arms"]["challenger"]["version"] == challenger


def test_shadow_test_answers_with_the_champion_and_records_both(deployed: Deployed) -> None:
    challenger = _challenger(deployed)
    with _client(deployed) as client:
        body = {"challenger": challenger, "mode": "shadow", "share": 1.0}
        assert client.post("/v1/ab/tests", json=body, headers=ADMIN).status_code == 201
        answers = [_classify(client, text, "u1") for text in ("where is my order", "bye")]
        assert {a["model_version"] for a in answers} == {deployed.weak}
        batch = client.post(
            "/v1/classify/batch", json={"texts": ["refund please", "hi"]}, headers=ADMIN
        )
        assert batch.json()["model_version"] == deployed.weak
        client.app.state.intently.recording.recorder.flush()  # type: ignore[attr-defined]
        report = client.get("/v1/ab/report", headers=ADMIN).json()
        promoted = client.post("/v1/ab/promote", json={"task": "intent"}, headers=ADMIN)
        assert promoted.status_code == 200 and promoted.json()["status"] == "promoted"
        assert _classify(client, "hello", "u1")["model_version"] == challenger
    shadowed = [r for r in _recorded(deployed) if r.shadow is not None]
    assert len(shadowed) == 4
    assert {r.shadow["model_version"] for r in shadowed} == {challenger}
    assert {r.arm for r in shadowed} == {"champion"}
    assert report["agreement"]["n"] == 4


def test_live_metrics_drift_and_alert_gauges(deployed: Deployed) -> None:
    deployed.write(learning={"alerts": {"min_reviews": 1, "accuracy": 0.99}})
    with _client(deployed) as client:
        answers = [_classify(client, "where is my order", f"u{i}") for i in range(5)]
        state = client.app.state.intently  # type: ignore[attr-defined]
        state.recording.recorder.flush()
        store = InteractionStore(state.database)
        store.correct(answers[0]["interaction_id"], "refund", reviewer="t")
        live = client.get("/v1/metrics/live?hours=1", headers=ADMIN)
        assert live.status_code == 200, live.text
        metrics = live.json()["tasks"]["intent"]
        assert metrics["volume"] == 5 and metrics["reviewed"] == 1
        assert metrics["review_accuracy"] == 0.0
        assert metrics["correction_rate"] == 0.2
        assert {a["rule"] for a in live.json()["alerts"]} >= {"accuracy"}
        alerts = client.get("/v1/alerts", headers=ADMIN).json()["alerts"]
        assert any(a["rule"] == "accuracy" for a in alerts)
        drift = client.get("/v1/metrics/drift?task=intent", headers=ADMIN).json()
        assert drift["n"] == 5 and drift["reference_n"] > 0
        assert drift["label_drift"] == "significant"  # every answer is one label
        state.monitoring.update_gauges()
        scrape = client.get("/metrics").text
        assert 'intently_alert{label="",rule="accuracy",task="intent"} 1.0' in scrape
        assert 'intently_drift_psi{kind="labels",task="intent"}' in scrape
        assert client.get("/v1/metrics/live?hours=0", headers=ADMIN).status_code == 422
