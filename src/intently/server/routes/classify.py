"""``POST /v1/classify`` and ``POST /v1/classify/batch``: the hot path.

Handlers are ``async`` and classify short texts inline: a text of a few words takes well
under a millisecond, and a thread hop would add to it. A request with more than
:data:`INLINE_CHARS` characters in all, or more than :data:`INLINE_BATCH` texts, is classified
in the thread pool instead: a 10,000-character text takes ~35 ms, and on the event loop it
would hold up every other request of the worker, ``/healthz`` included. Responses are
serialised straight from :class:`~intently.runtime.Prediction` records.

:class:`ClassifyShortcut` answers the plain successful single-text request before FastAPI's
routing, dependency solving and exception middleware see it. Measured in-process with the
classifier stubbed out (CPU time per request, multiprocess metrics on), the FastAPI route took
240-255 µs, more than twice an empty FastAPI endpoint's 85-110 µs; the shortcut, with the
tallied metrics of :mod:`intently.server.metrics`, takes 35-47 µs. Anything off the happy
path goes to the FastAPI route below with the body replayed, so every error, status code and
the OpenAPI document still come from one place.
"""

from __future__ import annotations

from collections import deque
from time import perf_counter

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intently.db import Role
from intently.errors import InputError
from intently.runtime import Prediction
from intently.server.deps import RequirePredict, ServerState, authorize
from intently.server.experiments import LiveTest
from intently.server.metrics import MODEL_VERSION_KEY
from intently.server.routes._common import AUTH, errors, json_response
from intently.server.schemas import (
    BatchClassifyRequest,
    BatchClassifyResponse,
    ClassifyRequest,
    ClassifyResponse,
)

router = APIRouter(prefix="/v1/classify", tags=["classify"])

INLINE_CHARS = 1_000  # requests with more characters in all are classified in the thread pool
INLINE_BATCH = 64  # and so are batches of more texts
CLASSIFY_ERRORS = errors(400, *AUTH, 413, 422)


def _result(prediction: Prediction, task: str) -> dict[str, object]:
    data = prediction.to_dict()
    data["task"] = task
    return data


async def classify_one(state: ServerState, scope: Scope, body: ClassifyRequest) -> Response:
    """The answer to one valid ``/v1/classify`` request, for the route and the shortcut.

    The answer is recorded (see :mod:`intently.server.recording`) once its response is built,
    so a request the shortcut hands back to the route is never recorded twice.
    """
    classifier = state.pool.classifier(body.task)
    live = state.experiments.get(body.task) if state.experiments is not None else None
    extra = None
    if live is not None:  # an A/B test runs: its arm answers, and is recorded
        classifier, extra = live.pick(classifier, body.user_id, body.conversation_id)
    started = perf_counter()
    if len(body.text) <= INLINE_CHARS:
        prediction = classifier.predict(body.text)
    else:
        prediction = await run_in_threadpool(classifier.predict, body.text)
    latency_ms = (perf_counter() - started) * 1000
    if live is not None and extra is not None and live.shadows:
        extra["shadow"] = (await _shadow(live, [body.text]))[0]
    scope[MODEL_VERSION_KEY] = prediction.model_version
    state.metrics.observe_predictions(body.task, (prediction,))
    result = _result(prediction, body.task)
    recording = state.recording
    interaction_id = result["interaction_id"] = recording and recording.new_id(body.task)
    response = json_response(result)
    if recording is not None:
        recording.record(
            interaction_id,
            body.task,
            body.text,
            prediction,
            latency_ms,
            body.conversation_id,
            body.user_id,
            extra,
        )
    return response


async def _shadow(live: LiveTest, texts: list[str]) -> list[dict[str, object]]:
    """The challenger's answers in shadow mode (inline when short, like the answer itself)."""
    if len(texts) <= INLINE_BATCH and sum(map(len, texts)) <= INLINE_CHARS:
        return live.shadow(texts)
    return await run_in_threadpool(live.shadow, texts)


@router.post(
    "",
    response_model=ClassifyResponse,
    responses=CLASSIFY_ERRORS,
    summary="Classify one text",
)
async def classify(request: Request, body: ClassifyRequest, state: RequirePredict) -> Response:
    """The label of one text, with confidence, top-5 ranking and the fallback decision."""
    return await classify_one(state, request.scope, body)


@router.post(
    "/batch",
    response_model=BatchClassifyResponse,
    responses=CLASSIFY_ERRORS,
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
    live = state.experiments.get(body.task) if state.experiments is not None else None
    extra = None
    if live is not None:  # one arm answers the whole batch (one user, one conversation)
        classifier, extra = live.pick(classifier, body.user_id, body.conversation_id)
    started = perf_counter()
    if len(body.texts) <= INLINE_BATCH and sum(map(len, body.texts)) <= INLINE_CHARS:
        predictions = classifier.predict_batch(body.texts)
    else:
        predictions = await run_in_threadpool(classifier.predict_batch, body.texts)
    latency_ms = (perf_counter() - started) * 1000 / len(predictions)
    version = classifier.version.id
    request.scope[MODEL_VERSION_KEY] = version
    state.metrics.observe_predictions(body.task, predictions)
    recording = state.recording
    results = [_result(p, body.task) for p in predictions]
    for result in results:
        result["interaction_id"] = recording and recording.new_id(body.task)
    response = json_response({"task": body.task, "model_version": version, "results": results})
    shadows = await _shadow(live, body.texts) if live is not None and live.shadows else None
    if recording is not None:
        for i, (text, prediction, result) in enumerate(
            zip(body.texts, predictions, results, strict=True)
        ):
            recording.record(
                result["interaction_id"],
                body.task,
                text,
                prediction,
                latency_ms,
                body.conversation_id,
                body.user_id,
                extra if shadows is None else {**(extra or {}), "shadow": shadows[i]},
            )
    return response


CLASSIFY_ROUTE = next(
    route for route in router.routes if isinstance(route, APIRoute) and route.endpoint is classify
)


class ClassifyShortcut:
    """Pure ASGI middleware: serves a successful ``POST /v1/classify`` without the framework.

    It takes a request only when it has a ``Content-Length`` (the body limit checked it
    already), a JSON content type and no dependency overrides are set (tests use them to
    swap the route's dependencies). It reads the body, checks the key with :func:`authorize`,
    parses with orjson (stricter than the standard library FastAPI uses, so what it accepts
    FastAPI reads the same) and validates with the route's own :class:`ClassifyRequest`. Any
    refusal on the way — and any error while classifying — hands the request, body replayed,
    to the FastAPI route, which answers exactly as it would have without the shortcut.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != CLASSIFY_ROUTE.path
            or scope["method"] != "POST"
            or scope["app"].dependency_overrides
        ):
            await self.app(scope, receive, send)
            return
        # The first of repeated headers counts, as with Starlette's ``request.headers``.
        authorization = content_type = None
        sized = False
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                sized = True
            elif name == b"transfer-encoding":
                sized = False
                break
        if not sized or content_type is None or not _is_json(content_type):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        response = None
        if message["type"] == "http.request":
            body = b"".join(m.get("body", b"") for m in received)
            response = await self._answer(scope, authorization, body)
        if response is None:
            await self.app(scope, _replay(received, receive), send)
            return
        scope["route"] = CLASSIFY_ROUTE  # what the router would set: metrics label by it
        await response(scope, receive, send)

    @staticmethod
    async def _answer(scope: Scope, authorization: str | None, body: bytes) -> Response | None:
        """The response to a request that passes every check, None for anything else."""
        state: ServerState = scope["app"].state.intently
        try:
            await authorize(state, authorization, Role.PREDICT)
            request = ClassifyRequest.model_validate(orjson.loads(body))
            return await classify_one(state, scope, request)
        except Exception:
            # A refused key, a malformed body, an unknown task, a text the classifier refuses,
            # a bug: the route meets it again and its error handlers answer as they always do.
            return None


def _is_json(content_type: bytes) -> bool:
    return content_type.partition(b";")[0].strip().lower() == b"application/json"


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that first hands out ``messages`` (already read), then reads on."""
    pending = deque(messages)

    async def replayed() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replayed
