"""The FastAPI application: ``create_app(settings)`` builds one; ``app_from_env`` is the
factory uvicorn's workers call (``intently.server.app:app_from_env``, ``factory=True``).

The request path is kept lean on purpose: pure ASGI middleware only (metrics, CORS when
configured, body limit, the single-text classify shortcut), keys checked from memory, no
database access, no logging, responses serialised straight from the prediction records.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware import Middleware
from starlette.responses import Response

from intently._version import __version__
from intently.db import (
    ApiKeyStore,
    Database,
    InteractionStore,
    RunConflict,
    TrainingRunStore,
    default_database_url,
)
from intently.deploy import registry_for
from intently.errors import IntentlyError, ServerConfigError
from intently.server.auth import Authenticator
from intently.server.deps import ServerState
from intently.server.errors import error_response, install_error_handlers
from intently.server.learning import learning_state, start_learning, stop_learning
from intently.server.limits import BodyLimitMiddleware
from intently.server.metrics import MetricsMiddleware, ServerMetrics, flush_forever
from intently.server.pool import ModelPool, poll_forever
from intently.server.recording import Recording
from intently.server.routes import ROUTERS
from intently.server.routes._common import REQUEST_LIMITS, errors
from intently.server.routes.classify import ClassifyShortcut
from intently.server.settings import Settings, get_settings
from intently.server.training import TrainingService
from intently.spec import Project, load_project

logger = logging.getLogger("intently.server")

DESCRIPTION = """\
Classify texts with the project's deployed models, manage versions and start training runs.

Authenticate with `Authorization: Bearer <key>`. The **predict** role may classify and read
models and training runs; **admin** may also deploy, roll back and train. Every error answers
`{"error": {"code", "message", "hint"}}`, with the statuses each operation lists. Request
bodies are JSON objects with exactly the documented fields (an unknown field is 422); a body
over `max_body_bytes` is 413 and a request line plus headers over `max_header_bytes` is 431.
"""

NO_KEY_HINT = (
    "set INTENTLY_API_KEYS='predict:<key>,admin:<key>' (or put it in .env), or create a key "
    "with `intently keys create --role admin`; for local development only, pass "
    "--insecure-no-auth (INTENTLY_INSECURE_NO_AUTH=true)."
)


# FastAPI's own OpenTelemetry hooks (newer releases) stay off: /metrics covers the service and
# the hot path should not pay for tracing nobody configured.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def open_database(settings: Settings, project: Project) -> Database:
    database = Database(settings.database_url or default_database_url(project.root))
    database.migrate()
    return database


def require_keys(settings: Settings, auth: Authenticator) -> None:
    """Refuse to serve when no key could ever authenticate (unless ``insecure_no_auth``)."""
    if not settings.insecure_no_auth and not auth.has_keys():
        raise ServerConfigError(
            "no API key is configured: INTENTLY_API_KEYS is empty and the database has no "
            "active key, so every request would be refused.",
            hint=NO_KEY_HINT,
        )


def build_state(settings: Settings) -> ServerState:
    """Open the project, the database and the key sources; refuse to serve without keys."""
    project = load_project(settings.project)
    database = open_database(settings, project)
    auth = Authenticator(settings.env_keys(), ApiKeyStore(database), cache_s=settings.auth_cache_s)
    try:
        require_keys(settings, auth)
    except ServerConfigError:
        database.dispose()
        raise
    metrics = ServerMetrics()
    pool = ModelPool(
        registry_for(project),
        project.task_names,
        max_text_chars=settings.max_text_chars,
        runtime=settings.runtime,
        precision=settings.precision,
        threads=settings.onnx_threads,
        on_swap=metrics.model_swapped,
    )
    runs = TrainingRunStore(database)
    recovered = runs.recover_interrupted()  # runs whose process died (kill -9, crash)
    if recovered:
        logger.warning("marked %d interrupted training run(s) as failed", recovered)
    return ServerState(
        settings=settings,
        project=project,
        registry=pool.registry,
        pool=pool,
        auth=auth,
        metrics=metrics,
        database=database,
        runs=runs,
        training=TrainingService(runs, settings.project, pool, metrics),
        interactions=InteractionStore(database),
        recording=Recording.from_settings(settings, database, project.root),
        **learning_state(settings, project, database, pool, metrics),
    )


def preflight(settings: Settings) -> list[str]:
    """What ``intently serve`` checks before starting workers; returns warnings.

    Raises when the project file is broken, the database unusable or no key configured.
    """
    project = load_project(settings.project)
    database = open_database(settings, project)
    try:
        require_keys(
            settings,
            Authenticator(settings.env_keys(), ApiKeyStore(database), cache_s=0),
        )
        TrainingRunStore(database).recover_interrupted()
    finally:
        database.dispose()
    warnings = []
    if settings.insecure_no_auth:
        warnings.append("--insecure-no-auth: every request is accepted without a key.")
    registry = registry_for(project)
    active = {}
    for task in project.task_names:
        try:
            info = registry.active(task)
        except IntentlyError as error:
            warnings.append(f"task '{task}': {error}")
            continue
        if info is not None:
            active[task] = info.id
    if not active:
        warnings.append(
            "no task has a deployed model: /v1/classify answers 503 until one is deployed "
            "(`intently train`, then `intently models deploy <version>`)."
        )
    return warnings


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServerState = app.state.intently
    await asyncio.to_thread(state.pool.refresh)  # load every active model before serving
    if state.recording is not None:  # replays answers spilled by a worker that died
        await asyncio.to_thread(state.recording.start)
    for problem in state.pool.not_ready():
        logger.warning("not ready: %s", problem)
    # Everything loaded so far (libraries, models) lives as long as the worker. Freezing it
    # keeps the garbage collector's full passes from walking ~130k objects (≈50-100 ms, a p99
    # spike) every few thousand requests.
    gc.collect()
    gc.freeze()
    tasks = [
        asyncio.create_task(poll_forever(state.pool, state.settings.reload_interval_s)),
        asyncio.create_task(flush_forever(state.metrics)),
        *await start_learning(state),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        stop_learning(state)
        if state.recording is not None:  # after the last request: every answer is written
            await asyncio.to_thread(state.recording.close)
        state.metrics.close()
        state.auth.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready-to-serve application for ``settings`` (default: :func:`get_settings`).

    Raises :class:`ServerConfigError` when no API key is configured anywhere (unless
    ``insecure_no_auth``), and the project's own errors when the project file is broken.
    """
    settings = settings or get_settings()
    state = build_state(settings)
    middleware = [Middleware(MetricsMiddleware, metrics=state.metrics)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    middleware.append(Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes))
    # Innermost, so its answers are counted, size-limited and CORS-headed like any other.
    middleware.append(Middleware(ClassifyShortcut))
    app = FastAPI(
        title=f"Intently · {state.project.name}",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        middleware=middleware,
        **_NO_TELEMETRY,
    )
    app.state.intently = state
    # No app.dependency_overrides here: any override makes FastAPI re-analyse every
    # dependency on every request (≈0.3 ms per classify call) and turns the classify shortcut
    # off; deps read app.state instead.
    install_error_handlers(app)

    async def run_conflict(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RunConflict)
        headers = None if exc.run_id is None else {"Location": f"/v1/training/runs/{exc.run_id}"}
        return error_response(409, exc.code, exc.message, exc.hint, headers)

    app.add_exception_handler(RunConflict, run_conflict)
    for router in ROUTERS:
        app.include_router(router, responses=errors(*REQUEST_LIMITS))
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory: settings from ``INTENTLY_*`` variables (set by ``intently serve``)."""
    return create_app(get_settings())
