"""The review queue over recorded answers: ``/v1/review``, ``/v1/corrections``,
``/v1/errors`` and ``/v1/dataset`` (reviewer or admin role).

Routes are thin: each calls one store or :mod:`intently.feedback` function in the thread pool
(they query the database) and returns plain data.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Annotated, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from intently import feedback
from intently.db import InteractionStore
from intently.server.deps import RequireReviewer, ServerState
from intently.server.errors import ApiError
from intently.server.review_schemas import (
    CorrectionCreate,
    DatasetStats,
    InteractionList,
    InteractionPublic,
    ReviewCount,
    ReviewIds,
)
from intently.server.routes._common import AUTH, errors, json_response

router = APIRouter(tags=["review"])

MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "label-studio": "application/json",
}
EXPORT_STATUSES = {
    "pending": ("pending",),
    "reviewed": ("approved", "corrected", "used_in_training"),
    "all": None,
}
Since = Annotated[datetime | None, Query(description="Recorded at or after (ISO 8601, UTC).")]
Until = Annotated[datetime | None, Query(description="Recorded before (ISO 8601, UTC).")]
Task = Annotated[str | None, Query(description="Only this task.")]


def _store(state: ServerState) -> InteractionStore:
    if state.interactions is None:
        raise ApiError(503, "E710", "the interaction store is not available in this app.")
    return state.interactions


@router.get(
    "/v1/review/pending",
    response_model=InteractionList,
    responses=errors(*AUTH, 422),
    summary="Recorded answers waiting for review, lowest confidence first",
)
async def pending(
    state: RequireReviewer,
    task: Task = None,
    label: Annotated[str | None, Query(description="Only answers with this label.")] = None,
    model_version: Annotated[str | None, Query(description="Only this model version.")] = None,
    since: Since = None,
    until: Until = None,
    fallback_only: Annotated[bool, Query(description="Only fallback answers.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    records = await run_in_threadpool(
        _store(state).pending, task, label, model_version, since, until, fallback_only, limit
    )
    return json_response({"items": [r.to_json() for r in records]})


@router.post(
    "/v1/corrections",
    response_model=InteractionPublic,
    responses=errors(400, *AUTH, 404, 422),
    summary="Give a recorded answer its right label",
)
async def correct(body: CorrectionCreate, state: RequireReviewer) -> Response:
    """The label must be one the task knows (its active model's labels, the fallback label,
    labels proposed before), unless ``new_label`` proposes a new intent. The label the model
    answered approves the answer; any other is a correction kept in the audit trail."""
    record = await run_in_threadpool(
        lambda: feedback.correct(
            _store(state),
            state.registry,
            body.interaction_id,
            body.label,
            reviewer=body.reviewer,
            note=body.note,
            new_label=body.new_label,
        )
    )
    return json_response(record.to_json())


@router.post(
    "/v1/review/approve",
    response_model=ReviewCount,
    responses=errors(400, *AUTH, 422),
    summary="Mark answers as right (bulk)",
)
async def approve(body: ReviewIds, state: RequireReviewer) -> Response:
    """Pending or skipped answers among ``ids`` become approved; others are left as they are."""
    changed = await run_in_threadpool(
        lambda: _store(state).approve(body.ids, reviewer=body.reviewer)
    )
    return json_response({"changed": changed})


@router.post(
    "/v1/review/skip",
    response_model=ReviewCount,
    responses=errors(400, *AUTH, 422),
    summary="Take answers out of the review queue without a label (bulk)",
)
async def skip(body: ReviewIds, state: RequireReviewer) -> Response:
    changed = await run_in_threadpool(lambda: _store(state).skip(body.ids, reviewer=body.reviewer))
    return json_response({"changed": changed})


@router.get(
    "/v1/errors",
    response_model=InteractionList,
    responses=errors(*AUTH, 422),
    summary="Reviewed answers the reviewer disagreed with, newest first",
)
async def review_errors(
    state: RequireReviewer, task: Task = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> Response:
    records = await run_in_threadpool(_store(state).errors, task, limit)
    return json_response({"items": [r.to_json() for r in records]})


@router.get(
    "/v1/dataset/export",
    responses={
        200: {"content": {media: {} for media in MEDIA_TYPES.values()}},
        **errors(*AUTH, 422),
    },
    summary="Recorded answers as JSONL, CSV or Label Studio tasks",
)
async def export(
    state: RequireReviewer,
    format: Annotated[Literal["jsonl", "csv", "label-studio"], Query()] = "jsonl",
    status: Annotated[
        Literal["reviewed", "pending", "all"],
        Query(description="reviewed: approved and corrected answers (training data)."),
    ] = "reviewed",
    task: Task = None,
    since: Since = None,
    until: Until = None,
) -> Response:
    """Label Studio tasks carry Intently's answer as a pre-annotation and a reviewed label as
    an annotation; import the annotated export back with `intently data import`."""
    spool: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
    try:
        await run_in_threadpool(
            feedback.export_dataset,
            _store(state),
            spool,
            format,
            task=task,
            statuses=EXPORT_STATUSES[status],
            since=since,
            until=until,
        )
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    extension = "json" if format == "label-studio" else format
    return StreamingResponse(
        _chunks(spool),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="interactions.{extension}"'},
    )


def _chunks(spool: IO[str]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(1 << 16):
            yield chunk.encode("utf-8")


@router.get(
    "/v1/dataset/stats",
    response_model=DatasetStats,
    responses=errors(*AUTH, 422),
    summary="How many answers are recorded, reviewed and corrected",
)
async def stats(state: RequireReviewer, task: Task = None) -> Response:
    data = await run_in_threadpool(_store(state).stats, task)
    recording = state.recording
    data["recorder"] = None if recording is None else recording.recorder.stats()
    return json_response(data)
