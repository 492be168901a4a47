"""MCP server over an Intently project (``intently mcp``): the official SDK, stdio or HTTP."""

from intently.mcpserver.server import build_server, serve

__all__ = ["build_server", "serve"]
