"""`intently serve`: the HTTP service (FastAPI on uvicorn) over the project's deployed models."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from intently.cli._app import app, err, escape, out

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
APP_FACTORY = "intently.server.app:app_from_env"


@app.command()
def serve(
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project file (default: intently.yaml)."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface (default: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: 8000).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: 2).", min=1)
    ] = None,
    insecure_no_auth: Annotated[
        bool,
        typer.Option("--insecure-no-auth", help="Accept requests without a key (development)."),
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (default: sqlite:///<project folder>/intently.db)."),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (costs throughput).")
    ] = False,
    log_level: Annotated[str | None, typer.Option(help="uvicorn log level.")] = None,
    runtime: Annotated[
        str | None,
        typer.Option(help="auto (default: the exported graph when there is one), native, or onnx."),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(help="auto (default: fastest that passed parity), fp32 or int8."),
    ] = None,
) -> None:
    """Serve the deployed models over HTTP; interactive API docs at /docs.

    Settings come from INTENTLY_* variables or a .env file; these flags override them.

    API keys: INTENTLY_API_KEYS='predict:<key>,admin:<key>' or `intently keys create`.
    Without any key the service refuses to start, unless --insecure-no-auth.

    Every worker picks up a newly deployed model within a second, without a restart.

    Example: INTENTLY_API_KEYS=predict:s3cret intently serve --project intently.yaml --workers 2
    """
    overrides: dict[str, Any] = {
        "project": project,
        "host": host,
        "port": port,
        "workers": workers,
        "database_url": database_url,
        "log_level": log_level,
        "runtime": runtime,
        "precision": precision,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if insecure_no_auth:
        overrides["insecure_no_auth"] = True
    if access_log:
        overrides["access_log"] = True

    from pydantic import ValidationError

    from intently.errors import ServerConfigError
    from intently.server.settings import Settings

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ServerConfigError(
            "invalid server settings: "
            + "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()),
            hint="check the INTENTLY_* variables, .env and the flags.",
        ) from None
    settings = settings.model_copy(update={"project": settings.project.resolve()})

    saved_env = dict(os.environ)
    # Multiprocess metrics must be configured before the workers import prometheus_client.
    metrics_dir = None
    if settings.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        metrics_dir = tempfile.mkdtemp(prefix="intently-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        from intently.server.app import preflight

        for warning in preflight(settings):
            err().print(f"[yellow]warning[/] {escape(warning)}", highlight=False)
        os.environ.update(settings.to_env())  # the workers rebuild the settings from these
        _run_uvicorn(settings)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_port_free(host: str, port: int) -> None:
    """ServerConfigError when ``host:port`` cannot be bound (in use, or not an address here),
    said plainly before uvicorn starts its workers."""
    import socket

    from intently.errors import ServerConfigError

    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ServerConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}.",
                hint="another process uses the port (`ss -ltnp`): stop it, or pick another "
                "with --port / INTENTLY_PORT.",
            ) from None


def _run_uvicorn(settings: Any) -> None:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["intently"] = {
        "handlers": ["default"],
        "level": settings.log_level.upper(),
        "propagate": False,
    }
    _check_port_free(settings.host, settings.port)
    out().print(
        f"serving {escape(str(settings.project))} on http://{settings.host}:{settings.port} "
        f"with {settings.workers} worker(s); docs at /docs, metrics at /metrics",
        highlight=False,
    )
    try:
        _serve(uvicorn, settings, log_config)
    except SystemExit as stop:  # uvicorn exits 3 when start-up fails (after logging why)
        if stop.code not in (0, None):
            from intently.errors import ServerConfigError

            raise ServerConfigError(
                f"the server stopped during start-up (uvicorn exit code {stop.code}); its "
                "message is above.",
                hint="check the settings and that the project's models load.",
            ) from None


def _serve(uvicorn: Any, settings: Any, log_config: dict[str, Any]) -> None:
    from intently.server.protocol import PROTOCOL

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        http=PROTOCOL,  # httptools with a header size limit (INTENTLY_MAX_HEADER_BYTES)
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=settings.access_log,
        log_level=settings.log_level,
        log_config=log_config,
        server_header=False,
        date_header=False,
    )
