"""Request and response bodies of the review routes (:mod:`intently.server.routes.review`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_ID = "3f1c0e9a5b7d4c2e8a6f0b1d2c3e4f5a"
_INTERACTION = {
    "id": _ID,
    "task": "intent",
    "text": "where is my refund?",
    "label": "refund_status",
    "confidence": 0.41,
    "ranking": [["refund_status", 0.41], ["request_refund", 0.38]],
    "model_version": "20261122T030512Z-3fa1",
    "runtime": "onnx",
    "fallback": False,
    "conversation_id": None,
    "user_id": None,
    "latency_ms": 0.21,
    "created_at": "2026-12-03T10:15:00+00:00",
    "review_status": "pending",
    "reviewed_label": None,
    "reviewer": None,
    "reviewed_at": None,
    "arm": None,
    "ab_test_id": None,
    "shadow": None,
}


class InteractionPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_INTERACTION]})

    id: str
    task: str
    text: str
    label: str = Field(description="What the service answered.")
    confidence: float
    ranking: list[tuple[str, float]]
    model_version: str
    runtime: str
    fallback: bool
    conversation_id: str | None
    user_id: str | None
    latency_ms: float
    created_at: str
    review_status: Literal["pending", "approved", "corrected", "skipped", "used_in_training"]
    reviewed_label: str | None = Field(description="The label a reviewer confirmed or gave.")
    reviewer: str | None
    reviewed_at: str | None
    arm: str | None
    ab_test_id: str | None
    shadow: dict[str, Any] | None


class InteractionList(BaseModel):
    items: list[InteractionPublic]


class CorrectionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"interaction_id": _ID, "label": "request_refund"}]},
    )

    interaction_id: str = Field(max_length=32)
    label: str = Field(min_length=1, max_length=200)
    new_label: bool = Field(
        False, description="Propose a label the task does not know yet (a new intent)."
    )
    note: str = Field("", max_length=2000)
    reviewer: str = Field("api", max_length=255, description="Who reviewed, for the audit trail.")


class ReviewIds(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ids": [_ID], "reviewer": "ana"}]}
    )

    ids: list[str] = Field(min_length=1, max_length=10_000)
    reviewer: str = Field("api", max_length=255)


class ReviewCount(BaseModel):
    changed: int = Field(description="Interactions whose status changed.")


class DatasetStats(BaseModel):
    task: str | None
    total: int
    by_status: dict[str, int]
    by_label: dict[str, int]
    fallback: int
    reviewed: int
    corrected: int
    review_accuracy: float | None
    recorder: dict[str, Any] | None = Field(
        description="This worker's recorder: buffered, written, spilled, replayed answers."
    )
