"""``GET /metrics``: Prometheus text format, summed over every worker.

Open by default (``INTENTLY_METRICS_PUBLIC=true``): scrapers rarely carry credentials and the
service binds to 127.0.0.1 unless told otherwise. The series reveal label names and model
versions, never texts; set ``INTENTLY_METRICS_PUBLIC=false`` to require a predict key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intently.db import Role
from intently.server.deps import RoleRequired, StateDep
from intently.server.routes._common import AUTH, errors

router = APIRouter(tags=["metrics"])

_predict = RoleRequired(Role.PREDICT)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format."},
        **errors(*AUTH),
    },
    summary="Prometheus metrics",
)
async def metrics(request: Request, state: StateDep) -> Response:
    """Request counts and latency per route and model version, predictions per label,
    fallbacks and the confidence histogram per task."""
    if not state.settings.metrics_public:
        await _predict(request)
    metrics = state.metrics
    metrics.flush()
    if metrics.multiprocess:  # reads one file per worker: off the event loop
        body, content_type = await run_in_threadpool(metrics.render)
    else:
        body, content_type = metrics.render()
    return Response(body, media_type=content_type)
