"""`intently proxy`: an OpenAI-compatible endpoint in front of any model server."""

from __future__ import annotations

from typing import Annotated

import typer

from intently.cli._app import app, out


@app.command()
def proxy(
    upstream: Annotated[
        str,
        typer.Option(
            help="Base URL of the OpenAI-compatible model server, as an OpenAI client would "
            "use it (Ollama: http://127.0.0.1:11434/v1)."
        ),
    ],
    render_tools: Annotated[
        bool,
        typer.Option(
            "--render-tools",
            help="Describe the offered tools in a system message (for models whose chat "
            "template has no tool section) instead of forwarding `tools`.",
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the upstream server.", min=0.1)
    ] = 120.0,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="INTENTLY_UPSTREAM_API_KEY",
            help="Bearer token for the upstream when the client sends none.",
        ),
    ] = None,
) -> None:
    """Serve /v1/chat/completions (and /v1/models) in front of --upstream: tool calls the
    model writes as text come back as standard `tool_calls`, whole or streamed.

    Example: intently proxy --upstream http://127.0.0.1:11434/v1 --render-tools --port 8080
    """
    import uvicorn

    from intently.proxy import ProxySettings, create_proxy_app

    settings = ProxySettings(
        upstream=upstream, render_tools=render_tools, timeout=timeout, api_key=api_key
    )
    out().print(f"proxy for {upstream} on http://{host}:{port}/v1")
    uvicorn.run(
        create_proxy_app(settings), host=host, port=port, log_level="warning", access_log=False
    )
