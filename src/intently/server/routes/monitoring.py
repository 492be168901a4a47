"""Monitoring over the recorded answers: ``/v1/metrics/live``, drift, snapshots and alerts
(predict role: they show labels and counts, never texts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intently.server.deps import KnownTask, RequirePredict, ServerState
from intently.server.errors import ApiError
from intently.server.routes._common import AUTH, errors, json_response

if TYPE_CHECKING:
    from intently.server.monitoring import Monitoring

router = APIRouter(tags=["monitoring"])

Hours = Annotated[float, Query(gt=0, le=24 * 90, description="The window: the last N hours.")]


def _monitoring(state: ServerState) -> Monitoring:
    if state.monitoring is None:
        raise ApiError(503, "E710", "monitoring needs the database, which this worker lacks.")
    return state.monitoring


@router.get(
    "/v1/metrics/live",
    responses=errors(*AUTH, 422),
    summary="Volume, fallback rate, confidence, review accuracy, corrections, top intents and "
    "confusions, per-intent scores and alerts of the last hours",
)
async def live(state: RequirePredict, hours: Hours = 24, task: str | None = None) -> Response:
    if task is not None:
        state.pool.check_task(task)
    data = await run_in_threadpool(_monitoring(state).live, hours, task)
    return json_response(data)


@router.get("/v1/alerts", responses=errors(*AUTH, 422), summary="Alert rules firing now")
async def alerts(state: RequirePredict, hours: Hours = 24) -> Response:
    """Review accuracy, fallback rate, intent F1 and misclassification against the project's
    ``learning.alerts`` thresholds."""
    data = await run_in_threadpool(_monitoring(state).live, hours)
    return json_response({"hours": hours, "alerts": data["alerts"]})


@router.get(
    "/v1/metrics/drift",
    responses=errors(*AUTH, 422, 503),
    summary="Label and confidence drift (PSI) of recent answers against the serving model",
)
async def drift(state: RequirePredict, task: KnownTask, hours: Hours = 24) -> Response:
    return json_response(await run_in_threadpool(_monitoring(state).drift, task, hours))


@router.get(
    "/v1/metrics/snapshots",
    responses=errors(*AUTH, 422),
    summary="Hourly or daily metrics of a task, newest first",
)
async def snapshots(
    state: RequirePredict,
    task: KnownTask,
    period: Literal["hour", "day"] = "hour",
    limit: Annotated[int, Query(ge=1, le=1000)] = 48,
) -> Response:
    rows = await run_in_threadpool(_monitoring(state).snapshots, task, period, limit)
    return json_response({"task": task, "period": period, "snapshots": rows})
