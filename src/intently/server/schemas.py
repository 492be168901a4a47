"""Request and response bodies of the HTTP API, one model per direction, each with examples."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from intently.spec import DEFAULT_TASK

VERSION_EXAMPLE = "20261122T030512Z-3fa1"


def _examples(*items: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(items)})


def _request(*items: dict[str, Any]) -> ConfigDict:
    """Request bodies refuse unknown fields (422 naming them): a misspelt optional field such
    as ``"taks"`` would otherwise be ignored silently and the default task answer."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(items)})


# -- classification -------------------------------------------------------------------------


_CONVERSATION = Field(
    None,
    max_length=200,
    description="Recorded with the answer; keeps a conversation on one arm of an A/B test.",
)
_USER = Field(
    None, max_length=200, description="Recorded with the answer; keeps a user on one A/B arm."
)


class ClassifyRequest(BaseModel):
    model_config = _request({"text": "where is my refund?", "task": "intent"})

    text: str = Field(
        description="Text to classify; at most `max_text_chars` characters (default 10,000) "
        "and not only whitespace."
    )
    task: str = Field(DEFAULT_TASK, description="Which classifier of the project answers.")
    conversation_id: str | None = _CONVERSATION
    user_id: str | None = _USER


class BatchClassifyRequest(BaseModel):
    model_config = _request({"texts": ["where is my refund?", "cancel my order"], "task": "intent"})

    texts: list[str] = Field(
        min_length=1, description="Texts to classify; at most `max_batch` (default 1,000)."
    )
    task: str = Field(DEFAULT_TASK, description="Which classifier of the project answers.")
    conversation_id: str | None = _CONVERSATION
    user_id: str | None = _USER


class RankedLabel(BaseModel):
    label: str
    confidence: float


_RESULT_EXAMPLE = {
    "label": "refund_status",
    "confidence": 0.93,
    "ranking": [
        {"label": "refund_status", "confidence": 0.93},
        {"label": "request_refund", "confidence": 0.05},
    ],
    "fallback": False,
    "intent": "refund_status",
    "model_version": VERSION_EXAMPLE,
    "runtime": "onnx",
    "precision": "int8",
    "task": "intent",
    "interaction_id": "3f1c0e9a5b7d4c2e8a6f0b1d2c3e4f5a",
}


class ClassifyResponse(BaseModel):
    model_config = _examples(_RESULT_EXAMPLE)

    label: str = Field(description="The answer: the fallback label when `fallback` is true.")
    confidence: float = Field(description="Probability of the best class.")
    ranking: list[RankedLabel] = Field(description="Up to five best classes, best first.")
    fallback: bool = Field(description="True when the answer is the fallback label.")
    intent: str = Field(description="The best class, even when the answer is the fallback.")
    model_version: str
    runtime: Literal["onnx", "numpy", "native"] = Field(
        description="onnx: the exported graph answered (onnxruntime); numpy: the exported "
        "linear weights, computed by the runtime's NumPy scorer; native: the backend's files."
    )
    precision: Literal["fp32", "int8"] | None = Field(
        description="Which exported graph answered; null for the native runtime."
    )
    task: str
    interaction_id: str | None = Field(
        description="Id of the recorded answer, for corrections (`POST /v1/corrections`); "
        "null when recording is off for the task."
    )


class BatchClassifyResponse(BaseModel):
    model_config = _examples(
        {"task": "intent", "model_version": VERSION_EXAMPLE, "results": [_RESULT_EXAMPLE]}
    )

    task: str
    model_version: str
    results: list[ClassifyResponse] = Field(description="One result per text, in order.")


# -- models ---------------------------------------------------------------------------------


class ModelPublic(BaseModel):
    model_config = _examples(
        {
            "id": VERSION_EXAMPLE,
            "task": "intent",
            "status": "active",
            "backend": "linear",
            "labels": ["order_status", "refund_status"],
            "metrics": {"accuracy": 0.94, "macro_f1": 0.93},
            "created_at": "2026-11-22T03:05:12+00:00",
            "parent": None,
            "problem": None,
            "loaded": True,
            "runtime": "onnx",
            "precision": "int8",
        }
    )

    id: str
    task: str
    status: Literal["active", "candidate", "retired", "rejected"]
    backend: str | None = None
    labels: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None
    parent: str | None = None
    problem: str | None = Field(None, description="Why the version is unreadable, if it is.")
    loaded: bool = Field(False, description="Whether this worker serves this version now.")
    runtime: Literal["onnx", "numpy", "native"] | None = Field(
        None, description="How the loaded version answers (null when it is not loaded)."
    )
    precision: Literal["fp32", "int8"] | None = Field(
        None, description="Which exported graph answers (null for native or not loaded)."
    )


class ModelList(BaseModel):
    model_config = _examples(
        {"task": "intent", "active": VERSION_EXAMPLE, "problem": None, "versions": []}
    )

    task: str
    active: str | None
    problem: str | None = Field(
        None,
        description="Why the task's active pointer is unreadable, if it is; deploying a "
        "version replaces it.",
    )
    versions: list[ModelPublic] = Field(description="Oldest first.")


class ComparisonPublic(BaseModel):
    candidate: str
    active: str | None
    candidate_macro_f1: float | None
    active_macro_f1: float | None
    n_examples: int
    tolerance: float


class DeployResult(BaseModel):
    model_config = _examples(
        {
            "task": "intent",
            "deployed": True,
            "reason": f"{VERSION_EXAMPLE} is now active",
            "active": VERSION_EXAMPLE,
            "comparison": None,
        }
    )

    task: str
    deployed: bool
    reason: str
    active: str | None = Field(description="The active version after the call.")
    comparison: ComparisonPublic | None = None


# -- training -------------------------------------------------------------------------------


class TrainingRunCreate(BaseModel):
    model_config = _request({"task": "intent"})

    task: str = Field(DEFAULT_TASK, description="Which classifier of the project to train.")


class DeployDecisionPublic(BaseModel):
    deployed: bool
    reason: str


class TrainingRunPublic(BaseModel):
    model_config = _examples(
        {
            "id": "run_3f9a1c2b7d4e",
            "task": "intent",
            "status": "succeeded",
            "created_at": "2026-11-22T03:05:00Z",
            "started_at": "2026-11-22T03:05:01Z",
            "finished_at": "2026-11-22T03:05:12Z",
            "version": VERSION_EXAMPLE,
            "passed": True,
            "metrics": {"accuracy": 0.94, "macro_f1": 0.93},
            "deploy": {"deployed": True, "reason": f"{VERSION_EXAMPLE} is now active"},
            "error": None,
            "log": ["building dataset", "fit: features", "evaluating", "done"],
        }
    )

    id: str
    task: str
    status: str = Field(description="queued, running, succeeded or failed.")
    created_at: datetime | str | None = None
    started_at: datetime | str | None = None
    finished_at: datetime | str | None = None
    version: str | None = None
    passed: bool | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    deploy: DeployDecisionPublic | None = None
    error: str | None = None
    log: list[str] = Field(default_factory=list)


class TrainingRunList(BaseModel):
    runs: list[TrainingRunPublic] = Field(description="Newest first.")


# -- health and errors ----------------------------------------------------------------------


class Health(BaseModel):
    model_config = _examples({"status": "ok"})

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = _examples(
        {"status": "ready", "models": {"intent": VERSION_EXAMPLE}, "problems": []}
    )

    status: Literal["ready", "not_ready"]
    models: dict[str, str] = Field(description="Task → the version this worker serves.")
    problems: list[str] = Field(default_factory=list)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code, e.g. E600 (bad input), E701 (no key).")
    message: str
    hint: str | None = Field(None, description="What to do about it.")


class ErrorBody(BaseModel):
    model_config = _examples(
        {
            "error": {
                "code": "E600",
                "message": "text has 12,000 characters; the limit is 10,000.",
                "hint": "send a shorter text.",
            }
        }
    )

    error: ErrorDetail
