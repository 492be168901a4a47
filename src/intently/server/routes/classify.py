"""``POST /v1/classify`` and ``POST /v1/classify/batch``: the hot path.

Handlers are ``async`` and classify inline (a single text takes ~0.1 ms, less than a thread
hop); large batches run in the thread pool so the event loop keeps serving small requests.
Responses are serialised straight from :class:`~intently.runtime.Prediction` records.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intently.errors import InputError
from intently.runtime import Prediction
from intently.server.deps import RequirePredict
from intently.server.metrics import MODEL_VERSION_KEY
from intently.server.routes._common import (
    AUTH_ERRORS,
    INPUT_ERRORS,
    NO_MODEL,
    json_response,
)
from intently.server.schemas import (
    BatchClassifyRequest,
    BatchClassifyResponse,
    ClassifyRequest,
    ClassifyResponse,
)

router = APIRouter(prefix="/v1/classify", tags=["classify"])

INLINE_BATCH = 64  # larger batches are classified in the thread pool


def _result(prediction: Prediction, task: str) -> dict[str, object]:
    data = prediction.to_dict()
    data["task"] = task
    return data


@router.post(
    "",
    response_model=ClassifyResponse,
    responses={**AUTH_ERRORS, **INPUT_ERRORS, **NO_MODEL},
    summary="Classify one text",
)
async def classify(request: Request, body: ClassifyRequest, state: RequirePredict) -> Response:
    """The label of one text, with confidence, top-5 ranking and the fallback decision."""
    prediction = state.pool.classifier(body.task).predict(body.text)
    request.scope[MODEL_VERSION_KEY] = prediction.model_version
    state.metrics.observe_predictions(body.task, (prediction,))
    return json_response(_result(prediction, body.task))


@router.post(
    "/batch",
    response_model=BatchClassifyResponse,
    responses={**AUTH_ERRORS, **INPUT_ERRORS, **NO_MODEL},
    summary="Classify many texts in one request",
)
async def classify_batch(
    request: Request, body: BatchClassifyRequest, state: RequirePredict
) -> Response:
    """One result per text, in order, all from the same model version."""
    limit = state.settings.max_batch
    if len(body.texts) > limit:
        raise InputError(
            f"the batch has {len(body.texts):,} texts; the limit is {limit:,}.",
            hint=f"split it into requests of at most {limit:,} texts.",
        )
    classifier = state.pool.classifier(body.task)
    if len(body.texts) <= INLINE_BATCH:
        predictions = classifier.predict_batch(body.texts)
    else:
        predictions = await run_in_threadpool(classifier.predict_batch, body.texts)
    version = classifier.version.id
    request.scope[MODEL_VERSION_KEY] = version
    state.metrics.observe_predictions(body.task, predictions)
    return json_response(
        {
            "task": body.task,
            "model_version": version,
            "results": [_result(p, body.task) for p in predictions],
        }
    )
