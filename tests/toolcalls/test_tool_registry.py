"""Tool records, the registry's change events, and loading tools from files, the project
file and a live MCP server (the real SDK, over stdio)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from intently.errors import ToolSourceError, ToolSpecError
from intently.spec.loader import project_from_dict
from intently.toolcalls import RegistryChange, Tool, ToolRegistry
from intently.toolcalls.mcp_source import registry_from_mcp

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_tool_accepts_plain_mcp_and_openai_shapes() -> None:
    plain = Tool.from_dict({"name": "get_weather", "description": "d", "parameters": SCHEMA})
    mcp = Tool.from_dict({"name": "get_weather", "description": "d", "inputSchema": SCHEMA})
    openai = Tool.from_dict(
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "d", "parameters": SCHEMA},
        }
    )
    assert plain == mcp == openai
    assert plain.required == ("city",)
    assert plain.to_openai()["function"]["name"] == "get_weather"


@pytest.mark.parametrize(
    "bad",
    [
        {"description": "no name"},
        {"name": "  "},
        {"name": "x", "parameters": "not a schema"},
        ["x"],
    ],
)
def test_malformed_tool_is_refused_with_its_code(bad: object) -> None:
    with pytest.raises(ToolSpecError) as caught:
        Tool.from_dict(bad)  # type: ignore[arg-type]
    assert caught.value.code == "E951"


def test_registry_reports_added_removed_changed_to_subscribers() -> None:
    registry = ToolRegistry([{"name": "a"}, {"name": "b"}])
    seen: list[RegistryChange] = []
    unsubscribe = registry.subscribe(seen.append)
    registry.add({"name": "c"}, {"name": "a", "description": "new"})
    registry.remove("b", "missing")
    registry.replace([{"name": "a", "description": "new"}, {"name": "d"}])
    assert [(c.added, c.removed, c.changed) for c in seen] == [
        (("c",), (), ("a",)),
        ((), ("b",), ()),
        (("d",), ("c",), ()),
    ]
    assert [c.version for c in seen] == [1, 2, 3]
    unsubscribe()
    assert not registry.add({"name": "d"})  # no change: no event, version unchanged
    registry.add({"name": "e"})
    assert len(seen) == 3 and registry.names == ("a", "d", "e")


def test_duplicate_tool_names_are_refused() -> None:
    with pytest.raises(ToolSpecError, match="listed twice"):
        ToolRegistry([{"name": "a"}, {"name": "a"}])


def test_registry_from_json_file_in_each_layout(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"name": "get_weather", "parameters": SCHEMA}]))
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(
        json.dumps(
            {
                "tools": [
                    {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
                ]
            }
        )
    )
    assert ToolRegistry.from_file(listed).tools == ToolRegistry.from_file(wrapped).tools


def test_unreadable_tools_file_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "tools.json"
    broken.write_text('[\n{"name": "a",\n')
    with pytest.raises(ToolSourceError, match=r"tools.json:3"):
        ToolRegistry.from_file(broken)
    with pytest.raises(ToolSourceError, match="cannot read"):
        ToolRegistry.from_file(tmp_path / "missing.json")


def test_registry_from_the_project_tools_section() -> None:
    project = project_from_dict(
        {
            "name": "p",
            "tools": [{"name": "get_weather", "description": "Weather.", "parameters": SCHEMA}],
        }
    )
    registry = ToolRegistry.from_project(project)
    assert registry.get("get_weather") == Tool("get_weather", "Weather.", SCHEMA)


MCP_SERVER = '''
from typing import Literal
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("weather")


@mcp.tool()
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


mcp.run()
'''


def test_registry_from_a_live_mcp_server_over_stdio(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(MCP_SERVER)
    registry = registry_from_mcp(f"{sys.executable} {script}")
    tool = registry.get("get_weather")
    assert tool is not None and tool.description == "Current weather for a city."
    assert tool.required == ("city",)
    assert tool.properties["unit"]["enum"] == ["celsius", "fahrenheit"]


def test_unreachable_mcp_server_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(ToolSourceError, match="MCP server"):
        registry_from_mcp(f"{sys.executable} -c 'import sys; sys.exit(3)'", timeout_s=20)
