"""Versions over HTTP: list, deploy with immediate hot swap, pickup of deploys made elsewhere,
rollback, refused deploys of broken versions, and classification during swaps."""

from __future__ import annotations

import json
import threading
from collections import Counter

from server_helpers import ADMIN, PREDICT, wait_for

from intently.deploy import validate_model

TEXT = {"text": "where is my order"}


def _served_version(client) -> str:
    response = client.post("/v1/classify", json=TEXT, headers=PREDICT)
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


def _corrupt(version_dir) -> None:
    """Truncate every weights file, as a crashed copy or a full disk would leave them."""
    for path in version_dir.iterdir():
        if path.suffix in (".npz", ".onnx", ".bin", ".safetensors"):
            path.write_bytes(path.read_bytes()[:20])


def test_list_models_shows_status_metrics_and_what_is_loaded(client, served_project):
    response = client.get("/v1/models", headers=PREDICT)
    assert response.status_code == 200
    body = response.json()
    assert body["task"] == "intent" and body["active"] == served_project.v1
    by_id = {v["id"]: v for v in body["versions"]}
    assert list(by_id) == [served_project.v1, served_project.v2]  # oldest first
    assert by_id[served_project.v1]["status"] == "active" and by_id[served_project.v1]["loaded"]
    assert by_id[served_project.v2]["status"] == "candidate"
    assert not by_id[served_project.v2]["loaded"]
    loaded = by_id[served_project.v1]
    assert loaded["runtime"] in {"onnx", "numpy"} and loaded["precision"] in {"fp32", "int8"}
    assert by_id[served_project.v2]["runtime"] is None  # not loaded: nothing answers with it
    assert "macro_f1" in by_id[served_project.v1]["metrics"]
    assert "greeting" in by_id[served_project.v1]["labels"]
    assert client.get("/v1/models?task=nope", headers=PREDICT).status_code == 422


def test_deploy_swaps_this_worker_immediately_and_rollback_swaps_back(client, served_project):
    assert _served_version(client) == served_project.v1
    prefix = served_project.v2[:-3]  # an unambiguous prefix is enough
    response = client.post(f"/v1/models/{prefix}/deploy?task=intent", headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deployed"] is True and body["active"] == served_project.v2
    assert _served_version(client) == served_project.v2  # no wait: swapped before answering
    response = client.post("/v1/models/rollback", headers=ADMIN)
    assert response.status_code == 200 and response.json()["active"] == served_project.v1
    assert _served_version(client) == served_project.v1
    response = client.post("/v1/models/rollback", headers=ADMIN)
    assert response.status_code == 409 and "roll back" in response.json()["error"]["message"]


def test_deploy_if_improved_reports_the_comparison(client, served_project):
    url = f"/v1/models/{served_project.v2}/deploy?if_improved=true"
    body = client.post(url, headers=ADMIN).json()
    assert body["deployed"] is True  # same data and seed: equal macro-F1 is not worse
    assert body["comparison"]["active"] == served_project.v1
    # the served project's test split is small: the recorded scores are compared, not re-measured
    comparison = body["comparison"]
    assert (
        comparison["candidate_macro_f1"] is not None and comparison["active_macro_f1"] is not None
    )


def test_a_deploy_made_by_another_process_is_picked_up(client, served_project):
    assert _served_version(client) == served_project.v1
    # e.g. `intently models deploy`
    served_project.registry.deploy("intent", served_project.v2, check=validate_model)
    assert wait_for(lambda: _served_version(client) == served_project.v2, timeout=5)


def test_unknown_versions_get_404(client):
    response = client.post("/v1/models/19990101T000000Z-dead/deploy", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("task 'intent' has no version")


def test_a_corrupt_version_is_refused_and_the_old_one_keeps_serving(client, served_project):
    _corrupt(served_project.registry.get("intent", served_project.v2).path)
    response = client.post(f"/v1/models/{served_project.v2}/deploy", headers=ADMIN)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "E400" and served_project.v2 in error["message"]
    assert "Traceback" not in response.text
    assert served_project.registry.pointer("intent").active == served_project.v1
    assert _served_version(client) == served_project.v1


def test_a_broken_pointer_target_on_disk_keeps_the_old_model_serving(client, served_project):
    """Another process points the task at a version that cannot load: log, keep serving."""
    task_dir = served_project.root / "models" / "intent"
    _corrupt(task_dir / served_project.v2)
    pointer = {"active": served_project.v2, "history": [served_project.v1], "deployed_at": ""}
    (task_dir / "active.json").write_text(json.dumps(pointer), encoding="utf-8")
    state = client.app.state.intently
    assert wait_for(lambda: state.pool.state("intent").problem is not None, timeout=5)
    assert _served_version(client) == served_project.v1
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"]["intent"] == served_project.v1


def test_concurrent_requests_all_succeed_during_hot_swaps(client, served_project):
    stop = threading.Event()
    seen: Counter[str] = Counter()
    failures: list[str] = []

    def hammer() -> None:
        while not stop.is_set():
            response = client.post("/v1/classify", json=TEXT, headers=PREDICT)
            if response.status_code != 200:
                failures.append(response.text)
            else:
                seen[response.json()["model_version"]] += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for version in [served_project.v2, served_project.v1] * 4:
            response = client.post(f"/v1/models/{version}/deploy", headers=ADMIN)
            assert response.status_code == 200, response.text
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures
    assert sum(seen.values()) > 0
    assert _served_version(client) == served_project.v1
