"""Classify answers are recorded: every response's interaction_id is a stored row, written
once, by the route and the shortcut alike; recording can be off, per task or entirely."""

from __future__ import annotations

from server_helpers import PREDICT

from intently.db import Database, InteractionStore


def stored(served) -> dict[str, object]:
    db = Database(served.database_url)
    try:
        return {r.id: r for r in InteractionStore(db).iter_records()}
    finally:
        db.dispose()


def test_every_answer_is_recorded_once_with_its_id(make_client, served_project):
    client = make_client()
    single = client.post(
        "/v1/classify",
        json={"text": "where is my order", "user_id": "u7", "conversation_id": "c7"},
        headers=PREDICT,
    ).json()
    # the FastAPI route (charset in the content type is still JSON; a dependency override
    # would turn the shortcut off for good): a request the shortcut does not take
    routed = client.post(
        "/v1/classify",
        content=b'{"text": "hello"}',
        headers={**PREDICT, "content-type": "application/json", "transfer-encoding": "chunked"},
    ).json()
    batch = client.post(
        "/v1/classify/batch", json={"texts": ["hello", "refund please"]}, headers=PREDICT
    ).json()
    refused = client.post("/v1/classify", json={"text": "  "}, headers=PREDICT)
    assert refused.status_code == 422 and "interaction_id" not in refused.text
    client.__exit__(None, None, None)  # shutdown flushes the buffer
    rows = stored(served_project)
    ids = [single["interaction_id"], routed["interaction_id"]]
    ids += [r["interaction_id"] for r in batch["results"]]
    assert sorted(rows) == sorted(ids) and len(set(ids)) == 4
    first = rows[single["interaction_id"]]
    assert (first.text, first.label, first.user_id, first.conversation_id) == (
        "where is my order",
        single["label"],
        "u7",
        "c7",
    )
    assert first.model_version == single["model_version"] and first.review_status == "pending"
    assert first.ranking[0] == (single["ranking"][0]["label"], single["ranking"][0]["confidence"])
    assert rows[batch["results"][1]["interaction_id"]].text == "refund please"


def test_recording_off_for_a_task_or_entirely(make_client, served_project):
    for overrides in ({"record_skip_tasks": "intent"}, {"record": False}):
        client = make_client(**overrides)
        body = client.post("/v1/classify", json={"text": "hello"}, headers=PREDICT).json()
        assert body["interaction_id"] is None and body["label"]
        batch = client.post("/v1/classify/batch", json={"texts": ["hi"]}, headers=PREDICT).json()
        assert batch["results"][0]["interaction_id"] is None
        client.__exit__(None, None, None)
    assert stored(served_project) == {}


def test_redaction_applies_before_storage(make_client, served_project):
    client = make_client(redact=True, redact_patterns={"<ORDER>": r"ORD-\d+"})
    body = client.post(
        "/v1/classify", json={"text": "order ORD-991 to ana@example.com"}, headers=PREDICT
    ).json()
    client.__exit__(None, None, None)
    assert stored(served_project)[body["interaction_id"]].text == "order <ORDER> to <EMAIL>"
