"""``GET /healthz`` (the process answers) and ``GET /readyz`` (its models are loaded)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intently.server import services
from intently.server.deps import StateDep
from intently.server.routes._common import json_response
from intently.server.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness (no key needed)")
async def healthz() -> Response:
    """200 as long as the worker's event loop answers."""
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready; `problems` says why."}},
    summary="Readiness (no key needed)",
)
async def readyz(state: StateDep) -> Response:
    """200 when every task with an active version has its model loaded in this worker, at
    least one task has one, every active pointer is readable and the database file is the one
    the worker opened; 503 with the reasons otherwise."""
    problems = await run_in_threadpool(services.readiness, state)
    body = {
        "status": "not_ready" if problems else "ready",
        "models": state.pool.loaded(),
        "problems": problems,
    }
    return json_response(body, 503 if problems else 200)
