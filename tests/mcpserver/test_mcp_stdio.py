"""`intently mcp` over stdio, driven by the MCP SDK's own client: a real round trip."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import yaml
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tiny_project import project_data

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CALL = 'Checking.\n<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
TOOLS = {"classify_intent", "detect_tool_calls", "train_model", "list_models", "deploy_model"}


async def _session_calls(project: Path) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "intently.cli", "mcp", "--project", str(project)]
    )
    seen: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        seen["tools"] = {tool.name for tool in (await session.list_tools()).tools}
        seen["untrained"] = await session.call_tool("classify_intent", {"text": "hello"})
        seen["train1"] = await session.call_tool("train_model", {"task": "intent"})
        seen["train2"] = await session.call_tool("train_model", {"deploy": False, "export": False})
        seen["list"] = await session.call_tool("list_models", {})
        seen["classify"] = await session.call_tool("classify_intent", {"text": "cancel my order"})
        second = seen["train2"].structured_content["version"]
        seen["deploy"] = await session.call_tool("deploy_model", {"version": second})
        seen["unknown_task"] = await session.call_tool(
            "classify_intent", {"text": "hi", "task": "nope"}
        )
        seen["detect_project"] = await session.call_tool("detect_tool_calls", {"text": CALL})
        seen["detect_given"] = await session.call_tool(
            "detect_tool_calls", {"text": CALL, "tools": [{"name": "other_tool"}]}
        )
    return seen


def test_stdio_round_trip_trains_lists_classifies_and_deploys(tmp_path: Path) -> None:
    project = tmp_path / "intently.yaml"
    project.write_text(yaml.safe_dump(project_data(tools=[WEATHER])), encoding="utf-8")

    seen = anyio.run(_session_calls, project)

    assert seen["tools"] >= TOOLS
    assert seen["untrained"].is_error
    assert "has no deployed version" in seen["untrained"].content[0].text

    first = seen["train1"].structured_content
    assert first["passed_gates"] and first["deployed"], first
    second = seen["train2"].structured_content
    assert second["deployed"] is False

    versions = seen["list"].structured_content["versions"]
    ids = [v["id"] for v in versions]
    assert ids == sorted(ids, reverse=True) and len(ids) == 2  # newest first
    assert versions[1]["status"] == "active" and versions[0]["status"] == "candidate"

    answer = seen["classify"].structured_content
    assert answer["label"] == "cancel_order"
    assert answer["model_version"] == first["version"]

    deployed = seen["deploy"].structured_content
    assert deployed["deployed"] and deployed["active"] == second["version"]

    assert seen["unknown_task"].is_error
    assert "[E600] task 'nope' is not defined" in seen["unknown_task"].content[0].text

    detected = seen["detect_project"].structured_content  # the project file's tools
    assert [(c["name"], c["arguments"]) for c in detected["calls"]] == [
        ("get_weather", {"city": "Oslo"})
    ]
    assert detected["content"] == "Checking."
    refused = seen["detect_given"].structured_content  # only the tools the call offered
    assert refused["calls"] == [] and "unknown_tool" in refused["rejected"][0]["problems"][0]
