"""Training runs over HTTP: 202 → running → succeeded, one run per task, failures recorded."""

from __future__ import annotations

import threading

import pytest
from server_helpers import ADMIN, PREDICT, wait_for

import intently.pipeline
from intently.errors import TrainingError


def _run(client, run_id: str) -> dict:
    response = client.get(f"/v1/training/runs/{run_id}", headers=PREDICT)
    assert response.status_code == 200, response.text
    return response.json()


def _finished(client, run_id: str, timeout: float = 30.0) -> dict:
    assert wait_for(
        lambda: _run(client, run_id)["status"] in ("succeeded", "failed"), timeout, 0.05
    )
    return _run(client, run_id)


@pytest.fixture
def gated_training(monkeypatch):
    """``pipeline.train`` waits for the returned event before it trains."""
    gate = threading.Event()
    real = intently.pipeline.train

    def train(*args, **kwargs):
        assert gate.wait(30), "test never opened the gate"
        return real(*args, **kwargs)

    monkeypatch.setattr(intently.pipeline, "train", train)
    yield gate
    gate.set()


def test_a_run_trains_deploys_and_records_everything(client, served_project):
    response = client.post("/v1/training/runs", json={"task": "intent"}, headers=ADMIN)
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] in ("queued", "running") and queued["task"] == "intent"
    assert response.headers["location"] == f"/v1/training/runs/{queued['id']}"
    run = _finished(client, queued["id"])
    assert run["status"] == "succeeded", run
    assert run["passed"] is True and run["error"] is None
    assert run["version"] not in (served_project.v1, served_project.v2)
    assert "macro_f1" in run["metrics"] and "deploy" not in run["metrics"]
    assert run["deploy"]["deployed"] is True  # the project's policy is `always`
    assert any("building dataset" in line for line in run["log"])
    assert run["log"][-1].startswith("deployed:")
    assert run["started_at"] and run["finished_at"]
    # the worker that trained swapped at once
    served = client.post("/v1/classify", json={"text": "hi"}, headers=PREDICT).json()
    assert served["model_version"] == run["version"]
    listed = client.get("/v1/training/runs?task=intent", headers=PREDICT).json()["runs"]
    assert [r["id"] for r in listed] == [queued["id"]]


def test_a_second_run_of_the_same_task_gets_409_naming_the_first(client, gated_training):
    first = client.post("/v1/training/runs", json={"task": "intent"}, headers=ADMIN).json()
    response = client.post("/v1/training/runs", json={"task": "intent"}, headers=ADMIN)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "E711" and first["id"] in error["message"]
    assert response.headers["location"] == f"/v1/training/runs/{first['id']}"
    assert _run(client, first["id"])["status"] in ("queued", "running")
    gated_training.set()
    assert _finished(client, first["id"])["status"] == "succeeded"
    again = client.post("/v1/training/runs", json={"task": "intent"}, headers=ADMIN)
    assert again.status_code == 202
    _finished(client, again.json()["id"])


def test_a_failing_run_is_recorded_as_failed_with_its_message(client, monkeypatch):
    def broken(*_args, **_kwargs):
        raise TrainingError("the linear backend failed to fit: boom.", hint="check the data.")

    monkeypatch.setattr(intently.pipeline, "train", broken)
    run_id = client.post("/v1/training/runs", json={}, headers=ADMIN).json()["id"]
    run = _finished(client, run_id)
    assert run["status"] == "failed" and "boom" in run["error"]
    assert run["version"] is None and run["deploy"] is None


def test_unknown_runs_and_tasks(client):
    response = client.get("/v1/training/runs/run_nope", headers=PREDICT)
    assert response.status_code == 404 and response.json()["error"]["code"] == "E704"
    response = client.post("/v1/training/runs", json={"task": "nope"}, headers=ADMIN)
    assert response.status_code == 422
