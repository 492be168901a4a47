"""`intently mcp --transport http`: the SDK's streamable HTTP client against the real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tiny_project import project_data


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mcp_url(tmp_path: Path) -> Iterator[str]:
    project = tmp_path / "intently.yaml"
    project.write_text(yaml.safe_dump(project_data()), encoding="utf-8")
    port = _free_port()
    command = ["-m", "intently.cli", "mcp", "--project", str(project), "--transport", "http"]
    process = subprocess.Popen(
        [sys.executable, *command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode()) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _calls(url: str) -> dict[str, Any]:
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return {
            "tools": {tool.name for tool in (await session.list_tools()).tools},
            "list": await session.call_tool("list_models", {}),
            "classify": await session.call_tool("classify_intent", {"text": "hello"}),
        }


def test_http_round_trip(mcp_url: str) -> None:
    seen = anyio.run(_calls, mcp_url)

    assert {"classify_intent", "list_models", "train_model", "deploy_model"} <= seen["tools"]
    assert seen["list"].structured_content == {"task": "intent", "versions": []}
    assert seen["classify"].is_error
    assert "[E400] task 'intent' has no deployed version" in seen["classify"].content[0].text
