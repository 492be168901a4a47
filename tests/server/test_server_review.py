"""Review over HTTP: the pending queue, corrections, bulk approval, errors, exports and
stats, with the reviewer role."""

from __future__ import annotations

import csv
import io
import json

import pytest
from server_helpers import ADMIN, ENV_KEYS, PREDICT

REVIEWER = {"Authorization": "Bearer test-reviewer-key"}
TEXTS = ["hello", "where is my order", "refund please", "tell me a joke", "order status"]


@pytest.fixture
def reviewed(make_client):
    """A client whose recorder has flushed one answer per text; returns (client, answers)."""
    client = make_client(api_keys=f"{ENV_KEYS},reviewer:test-reviewer-key")
    answers = [
        client.post("/v1/classify", json={"text": text}, headers=PREDICT).json() for text in TEXTS
    ]
    client.app.state.intently.recording.recorder.flush()
    return client, answers


def test_pending_is_lowest_confidence_first_and_needs_the_reviewer_role(reviewed):
    client, answers = reviewed
    assert client.get("/v1/review/pending", headers=PREDICT).status_code == 403
    items = client.get("/v1/review/pending", headers=REVIEWER).json()["items"]
    assert sorted(i["id"] for i in items) == sorted(a["interaction_id"] for a in answers)
    confidences = [i["confidence"] for i in items]
    assert confidences == sorted(confidences)
    label = answers[1]["label"]
    only = client.get("/v1/review/pending", params={"label": label}, headers=ADMIN).json()
    assert {i["label"] for i in only["items"]} == {label}
    limited = client.get("/v1/review/pending", params={"limit": 2}, headers=REVIEWER).json()
    assert [i["id"] for i in limited["items"]] == [i["id"] for i in items[:2]]
    none = client.get(
        "/v1/review/pending", params={"since": "2999-01-01T00:00:00Z"}, headers=REVIEWER
    )
    assert none.json()["items"] == []


def test_corrections_approvals_errors_and_stats(reviewed):
    client, answers = reviewed
    first, second, third = (a["interaction_id"] for a in answers[:3])
    other = "refund" if answers[0]["label"] != "refund" else "greeting"
    fixed = client.post(
        "/v1/corrections",
        json={"interaction_id": first, "label": other, "reviewer": "ana", "note": "n"},
        headers=REVIEWER,
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["review_status"] == "corrected" and fixed.json()["reviewed_label"] == other
    unknown = client.post(
        "/v1/corrections", json={"interaction_id": second, "label": "refnud"}, headers=REVIEWER
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "E721"
    assert "Did you mean 'refund'" in unknown.json()["error"]["message"]
    proposed = client.post(
        "/v1/corrections",
        json={"interaction_id": second, "label": "cancel_order", "new_label": True},
        headers=REVIEWER,
    )
    assert proposed.json()["reviewed_label"] == "cancel_order"
    missing = client.post(
        "/v1/corrections", json={"interaction_id": "0" * 32, "label": "refund"}, headers=REVIEWER
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "E720"
    approved = client.post(
        "/v1/review/approve", json={"ids": [third, first, "nope"]}, headers=REVIEWER
    )
    assert approved.json() == {"changed": 1}
    skipped = client.post(
        "/v1/review/skip", json={"ids": [answers[3]["interaction_id"]]}, headers=REVIEWER
    )
    assert skipped.json() == {"changed": 1}
    pending = client.get("/v1/review/pending", headers=REVIEWER).json()["items"]
    assert [i["id"] for i in pending] == [answers[4]["interaction_id"]]
    wrong = client.get("/v1/errors", headers=REVIEWER).json()["items"]
    assert [i["id"] for i in wrong] == [second, first]  # newest review first
    stats = client.get("/v1/dataset/stats", headers=REVIEWER).json()
    assert stats["total"] == 5 and stats["reviewed"] == 3 and stats["corrected"] == 2
    assert stats["by_status"] == {
        "pending": 1,
        "approved": 1,
        "corrected": 2,
        "skipped": 1,
        "used_in_training": 0,
    }
    assert stats["recorder"]["written"] == 5


def test_exports_in_three_formats(reviewed):
    client, answers = reviewed
    first = answers[0]["interaction_id"]
    client.post("/v1/review/approve", json={"ids": [first]}, headers=REVIEWER)
    jsonl = client.get("/v1/dataset/export", headers=REVIEWER)
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [(r["interaction_id"], r["label"]) for r in rows] == [(first, answers[0]["label"])]
    every = client.get(
        "/v1/dataset/export", params={"format": "csv", "status": "all"}, headers=REVIEWER
    )
    table = list(csv.DictReader(io.StringIO(every.text)))
    assert sorted(r["interaction_id"] for r in table) == sorted(
        a["interaction_id"] for a in answers
    )
    studio = client.get(
        "/v1/dataset/export",
        params={"format": "label-studio", "status": "pending"},
        headers=REVIEWER,
    ).json()
    assert len(studio) == 4
    task = studio[0]
    prediction = task["predictions"][0]["result"][0]
    assert prediction["type"] == "choices" and prediction["from_name"] == "intent"
    answer = next(a for a in answers if a["interaction_id"] == task["data"]["interaction_id"])
    assert prediction["value"]["choices"] == [answer["label"]]
    assert task["predictions"][0]["score"] == answer["confidence"]
    bad = client.get("/v1/dataset/export", params={"format": "xml"}, headers=REVIEWER)
    assert bad.status_code == 422
