"""Dependencies shared by the routes, declared once as ``Annotated`` aliases.

The hot path is counted in microseconds, and FastAPI spends ~25 µs per dependency on
bookkeeping, so the classify routes take exactly one: :data:`RequirePredict`, which checks the
key and hands back the app's :class:`ServerState` (pool, metrics, settings) — there is no way
to reach the state of a protected route without passing the check. Every dependency is
``async`` (FastAPI runs plain ``def`` dependencies in a thread pool). Tests replace any of
them with ``app.dependency_overrides``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPBearer

from intently.db import Role
from intently.server.errors import forbidden, unauthorized
from intently.server.metrics import ServerMetrics
from intently.server.pool import ModelPool
from intently.server.settings import Settings
from intently.spec import DEFAULT_TASK

if TYPE_CHECKING:
    from intently.db import Database, InteractionStore, TrainingRunStore
    from intently.loop.scheduler import LearningScheduler
    from intently.registry import Registry
    from intently.server.auth import Authenticator
    from intently.server.experiments import Experiments
    from intently.server.monitoring import Monitoring
    from intently.server.recording import Recording
    from intently.server.training import TrainingService
    from intently.spec import Project


@dataclass
class ServerState:
    """Everything one app instance owns; built by ``create_app``, kept on ``app.state``."""

    settings: Settings
    project: Project
    registry: Registry
    pool: ModelPool
    auth: Authenticator
    metrics: ServerMetrics
    database: Database
    runs: TrainingRunStore
    training: TrainingService
    interactions: InteractionStore | None = None
    recording: Recording | None = None  # None: recording is off
    experiments: Experiments | None = None  # the running A/B tests
    monitoring: Monitoring | None = None
    learning: LearningScheduler | None = None  # retrain checks, snapshots, gauges


async def get_state(request: Request) -> ServerState:
    return request.app.state.intently


async def app_settings(request: Request) -> Settings:
    """The settings this app was created with (``create_app(settings)``, else
    :func:`~intently.server.settings.get_settings` from the environment)."""
    return request.app.state.intently.settings


StateDep = Annotated[ServerState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(app_settings)]

# -- authentication -------------------------------------------------------------------------

AUTH_DESCRIPTION = (
    "`Authorization: Bearer <key>`; keys come from INTENTLY_API_KEYS (`role:key,...`) or "
    "`intently keys create`. Roles: predict (classify, read models and training runs), "
    "reviewer (predict plus the review queue, corrections and dataset export) and admin "
    "(everything, including deploy, rollback and training)."
)


class RoleRequired(HTTPBearer):
    """The caller's key must grant ``required``: 401 without a known key, 403 for a weaker
    role. Returns the app's :class:`ServerState`.

    A subclass of ``HTTPBearer`` so the OpenAPI schema documents the bearer scheme without a
    second dependency per request.
    """

    def __init__(self, required: Role):
        super().__init__(auto_error=False, scheme_name="ApiKey", description=AUTH_DESCRIPTION)
        self.required = required

    async def __call__(self, request: Request) -> ServerState:  # type: ignore[override]
        state: ServerState = request.app.state.intently
        await authorize(state, request.headers.get("authorization"), self.required)
        return state


async def authorize(state: ServerState, header: str | None, required: Role) -> None:
    """Raise 401/403 unless the ``Authorization`` header grants ``required``.

    The one key check of the service: :class:`RoleRequired` and the classify shortcut
    (:mod:`intently.server.routes.classify`) both call it.
    """
    if state.settings.insecure_no_auth:
        return
    if not header:
        raise unauthorized("this route needs an API key.")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise unauthorized("the Authorization header must be `Bearer <key>`.")
    role = await state.auth.role_of(key.strip())
    if role is None:
        raise unauthorized("the API key is unknown or revoked.")
    if not role.allows(required):
        raise forbidden(str(role), str(required))


RequirePredict = Annotated[ServerState, Depends(RoleRequired(Role.PREDICT))]
RequireAdmin = Annotated[ServerState, Depends(RoleRequired(Role.ADMIN))]
RequireReviewer = Annotated[ServerState, Depends(RoleRequired(Role.REVIEWER))]


async def known_task(
    request: Request,
    task: Annotated[str, Query(description="Which classifier of the project.")] = DEFAULT_TASK,
) -> str:
    """The ``task`` query parameter, checked against the project's tasks (422 otherwise)."""
    return request.app.state.intently.pool.check_task(task)


KnownTask = Annotated[str, Depends(known_task)]
