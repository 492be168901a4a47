"""Tools read from a live MCP server with the official SDK client (stdio or streamable HTTP).

``source`` is either an ``http(s)://`` URL (streamable HTTP, usually ending in ``/mcp``) or a
command line that starts a stdio server (``python -m my_server``). The SDK is imported only
here, and only when called.
"""

from __future__ import annotations

import shlex
from typing import Any

import anyio

from intently.errors import ToolSourceError
from intently.toolcalls.records import Tool
from intently.toolcalls.registry import ToolRegistry


async def list_mcp_tools(source: str) -> list[Tool]:
    """Every tool the MCP server at ``source`` lists (all pages)."""
    from mcp import ClientSession

    async def collect(session: Any) -> list[Tool]:
        await session.initialize()
        tools: list[Tool] = []
        cursor: str | None = None
        while True:
            if cursor is None:
                result = await session.list_tools()
            else:
                from mcp.types import PaginatedRequestParams

                result = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
            for tool in result.tools:
                tools.append(
                    Tool(
                        name=tool.name,
                        description=tool.description or "",
                        parameters=dict(tool.input_schema or {"type": "object"}),
                    )
                )
            cursor = result.next_cursor
            if not cursor:
                return tools

    try:
        if source.startswith(("http://", "https://")):
            from mcp.client.streamable_http import streamable_http_client

            async with streamable_http_client(source) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    return await collect(session)
        from mcp.client.stdio import StdioServerParameters, stdio_client

        argv = shlex.split(source)
        if not argv:
            raise ToolSourceError("the MCP source is empty: give a URL or a command line.")
        params = StdioServerParameters(command=argv[0], args=argv[1:])
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            return await collect(session)
    except ToolSourceError:
        raise
    except Exception as exc:  # the SDK raises transport errors of many kinds
        raise ToolSourceError(
            f"cannot list the tools of MCP server {source!r}: {type(exc).__name__}: {exc}",
            hint="check that the command starts an MCP server on stdio, or that the URL "
            "serves streamable HTTP (usually ending in /mcp).",
        ) from None


def registry_from_mcp(source: str, *, timeout_s: float = 30.0) -> ToolRegistry:
    """A registry of the tools of a live MCP server (blocking; runs its own event loop)."""

    async def run() -> list[Tool]:
        with anyio.fail_after(timeout_s):
            return await list_mcp_tools(source)

    try:
        return ToolRegistry(anyio.run(run))
    except TimeoutError:
        raise ToolSourceError(
            f"the MCP server {source!r} did not list its tools within {timeout_s:g} s."
        ) from None
