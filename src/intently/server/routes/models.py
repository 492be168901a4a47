"""``/v1/models``: list versions (predict role), deploy and roll back (admin role).

A deploy made here swaps this worker's model before the response is sent; the other workers
swap within ``reload_interval_s``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intently.server import services
from intently.server.deps import KnownTask, RequireAdmin, RequirePredict
from intently.server.routes._common import AUTH, errors, json_response
from intently.server.schemas import DeployResult, ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get(
    "", response_model=ModelList, responses=errors(*AUTH, 422), summary="List model versions"
)
async def list_models(task: KnownTask, state: RequirePredict) -> Response:
    """Every version of a task, oldest first, with status and headline metrics; an unreadable
    active pointer is reported in ``problem`` (deploying a version replaces it)."""
    return json_response(await run_in_threadpool(services.list_models, state, task))


@router.post(
    "/rollback",
    response_model=DeployResult,
    responses=errors(*AUTH, 409, 422, 507),
    summary="Re-activate the previous version",
)
async def rollback(task: KnownTask, state: RequireAdmin) -> Response:
    """Switch back to the newest previously active version that still loads (409 if none);
    versions skipped on the way are named in ``reason``."""
    return json_response(await run_in_threadpool(services.rollback_model, state, task))


@router.post(
    "/{version}/deploy",
    response_model=DeployResult,
    responses=errors(*AUTH, 404, 409, 422, 507),
    summary="Make a version active",
)
async def deploy(
    version: Annotated[str, Path(description="Version id, or a unique prefix of one.")],
    task: KnownTask,
    state: RequireAdmin,
    if_improved: Annotated[
        bool,
        Query(description="Only when macro-F1 ≥ active − allowed drop on the current data."),
    ] = False,
) -> Response:
    """Checks the version loads and predicts, then switches atomically. A broken or rejected
    version is refused with 409 and the active one keeps serving; with ``if_improved`` a
    worse one is not deployed (200, ``deployed: false``, the reason says why). An unreadable
    active pointer is replaced (``reason`` says so); a disk that cannot be written is 507."""
    result = await run_in_threadpool(
        services.deploy_model, state, task, version, if_improved=if_improved
    )
    return json_response(result)
