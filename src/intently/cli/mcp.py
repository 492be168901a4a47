"""`intently mcp`: the project as an MCP server (stdio for local agents, or streamable HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intently.cli._app import DEFAULT_PROJECT_FILE, ProjectOption, app

TRANSPORTS = ("stdio", "http")


@app.command()
def mcp(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    transport: Annotated[
        str, typer.Option(help="stdio (an agent starts the process) or http (streamable HTTP).")
    ] = "stdio",
    host: Annotated[str, typer.Option(help="Interface for --transport http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for --transport http.")] = 8000,
) -> None:
    """Serve classify_intent, detect_tool_calls, train_model, list_models and deploy_model
    over MCP. With --transport http the endpoint is http://HOST:PORT/mcp.

    Example: intently mcp --project intently.yaml --transport http --port 8765
    """
    if transport not in TRANSPORTS:
        raise typer.BadParameter(
            f"must be one of {', '.join(TRANSPORTS)}; got {transport!r}.", param_hint="--transport"
        )
    from intently.cli._app import project_from
    from intently.mcpserver import serve

    project_from(project)  # a broken project file fails here, before a client connects
    kind = "stdio" if transport == "stdio" else "streamable-http"
    serve(project, transport=kind, host=host, port=port)
