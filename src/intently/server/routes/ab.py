"""``/v1/ab``: A/B tests and shadow mode — start, list, report, promote, stop (admin for
changes, predict to read)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from intently.errors import AbTestConflict, AbTestError, AbTestNotFound, ModelError
from intently.loop import ab
from intently.server.deps import RequireAdmin, RequirePredict, ServerState
from intently.server.errors import ApiError, not_found
from intently.server.routes._common import AUTH, errors, json_response
from intently.spec import DEFAULT_TASK

router = APIRouter(prefix="/v1/ab", tags=["ab"])


class AbTestCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"challenger": "20261122T030512Z-3fa1", "share": 0.1}]},
    )

    challenger: str = Field(description="The version to test against the active one.")
    task: str = DEFAULT_TASK
    share: float = Field(0.1, gt=0, le=1, description="Share of users (split mode).")
    mode: Literal["split", "shadow"] = "split"
    sticky_by: Literal["user", "conversation"] = "user"


class AbTaskBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"task": "intent"}]})

    task: str = DEFAULT_TASK


def _call(state: ServerState, function: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run ``function``, then make this worker serve what it changed (its tests, and the
    champion after a promotion); A/B errors as HTTP statuses."""
    try:
        result = function(*args, **kwargs)
    except AbTestNotFound as error:
        raise ApiError.from_error(404, error) from None
    except AbTestConflict as error:
        raise ApiError.from_error(409, error) from None
    except (AbTestError, ModelError) as error:
        raise ApiError.from_error(422 if isinstance(error, AbTestError) else 409, error) from None
    if isinstance(result, ab.AbTestRecord):
        state.pool.refresh(result.task)
        if state.experiments is not None:
            state.experiments.refresh()
        return result.to_json()
    return result


@router.post(
    "/tests",
    status_code=201,
    responses=errors(400, *AUTH, 404, 409, 422),
    summary="Start an A/B test (or shadow test) of a challenger version",
)
async def start_test(body: AbTestCreate, state: RequireAdmin) -> Response:
    """The challenger is validated like a deploy, then answers ``share`` of the users (split)
    or shadows every request (shadow). One running test per task (409 otherwise); a
    challenger that is not a version of the task is 404, as for a deploy."""
    state.pool.check_task(body.task)
    try:
        await run_in_threadpool(state.registry.get, body.task, body.challenger)
    except ModelError as error:
        raise not_found(error.message, error.hint) from None
    data = await run_in_threadpool(
        _call,
        state,
        ab.start,
        state.project,
        state.database,
        body.task,
        body.challenger,
        share=body.share,
        mode=ab.Mode(body.mode),
        sticky_by=ab.StickyBy(body.sticky_by),
    )
    return json_response(data, 201)


@router.get("/tests", responses=errors(*AUTH, 422), summary="A/B tests, newest first")
async def list_tests(
    state: RequirePredict,
    task: Annotated[str | None, Query(description="Only tests of this task.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    tests = await run_in_threadpool(ab.AbTestStore(state.database).list, task, limit)
    return json_response({"tests": [t.to_json() for t in tests]})


@router.get(
    "/report",
    responses=errors(*AUTH, 404, 422),
    summary="Compare the arms of the task's running test",
)
async def report(state: RequirePredict, task: str = DEFAULT_TASK) -> Response:
    """Agreement (shadow), fallback rate and review accuracy per arm with 95% Wilson
    intervals, and a significance test (z-test for split, exact McNemar for shadow)."""

    def build() -> dict[str, Any]:
        test = ab.AbTestStore(state.database).current(task)
        return ab.report(state.database, test)

    return json_response(await run_in_threadpool(_call, state, build))


@router.post(
    "/promote",
    responses=errors(400, *AUTH, 404, 409, 422),
    summary="Deploy the challenger and end the test",
)
async def promote(body: AbTaskBody, state: RequireAdmin) -> Response:
    data = await run_in_threadpool(
        _call, state, ab.promote, state.project, state.database, body.task
    )
    state.pool.refresh(body.task)
    return json_response(data)


@router.post(
    "/stop",
    responses=errors(400, *AUTH, 404, 422),
    summary="End the test; the champion keeps serving",
)
async def stop(body: AbTaskBody, state: RequireAdmin) -> Response:
    return json_response(await run_in_threadpool(_call, state, ab.stop, state.database, body.task))
