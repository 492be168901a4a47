"""``/v1/training/runs``: start a run (admin), read runs (predict)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intently.server import services
from intently.server.deps import RequireAdmin, RequirePredict
from intently.server.routes._common import AUTH, errors, json_response
from intently.server.schemas import TrainingRunCreate, TrainingRunList, TrainingRunPublic

router = APIRouter(prefix="/v1/training/runs", tags=["training"])


@router.post(
    "",
    status_code=202,
    response_model=TrainingRunPublic,
    responses=errors(400, *AUTH, 409, 422),
    summary="Train a new model version in the background",
)
async def start_run(body: TrainingRunCreate, state: RequireAdmin) -> Response:
    """Queues a run and returns at once (202) with its id; poll ``GET /v1/training/runs/{id}``.
    The run trains, applies the project's deploy policy and records the decision. Only one
    run per task at a time: a second one gets 409 naming the run under way."""
    state.pool.check_task(body.task)
    record = await run_in_threadpool(state.training.start, body.task)
    response = json_response(services.run_public(record), 202)
    response.headers["Location"] = f"/v1/training/runs/{record.id}"
    return response


@router.get(
    "", response_model=TrainingRunList, responses=errors(*AUTH, 422), summary="List training runs"
)
async def list_runs(
    state: RequirePredict,
    task: Annotated[str | None, Query(description="Only runs of this task.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Newest first."""
    records = await run_in_threadpool(state.runs.list, task=task, limit=limit)
    return json_response({"runs": [services.run_public(r) for r in records]})


@router.get(
    "/{run_id}",
    response_model=TrainingRunPublic,
    responses=errors(*AUTH, 404, 422),
    summary="One training run: status, metrics, version, deploy decision and log",
)
async def get_run(run_id: str, state: RequirePredict) -> Response:
    return json_response(await run_in_threadpool(services.get_run, state, run_id))
