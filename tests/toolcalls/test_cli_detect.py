"""`intently detect` (argument, file, stdin; tools from a file or the project) and
`intently bench-toolcalls` on a small corpus."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from intently.cli import app
from intently.errors import ToolCallError, ToolSourceError

runner = CliRunner()
TOOL = {
    "name": "get_weather",
    "description": "Weather.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'


def test_detect_prints_calls_from_an_argument_a_file_and_stdin(tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps([TOOL]))
    output = tmp_path / "out.txt"
    output.write_text(f"Checking.\n{CALL}")
    for args, stdin in (([CALL], None), (["--file", str(output)], None), ([], CALL)):
        result = runner.invoke(app, ["detect", "--tools", str(tools), *args], input=stdin)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [(c["name"], c["arguments"]) for c in data["calls"]] == [
            ("get_weather", {"city": "Oslo"})
        ]


def test_detect_takes_the_tools_of_the_project_and_reports_refusals(tmp_path: Path) -> None:
    project = tmp_path / "intently.yaml"
    project.write_text(yaml.safe_dump({"name": "demo", "tools": [TOOL]}))
    result = runner.invoke(
        app,
        [
            "detect",
            "-p",
            str(project),
            '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>',
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["calls"] == []
    assert data["rejected"][0]["problems"] == [
        "missing required parameter 'city' of tool 'get_weather'"
    ]


def test_detect_with_a_broken_tools_file_exits_with_the_error_code(tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text("{not json")
    result = runner.invoke(app, ["detect", "--tools", str(tools), CALL])
    assert isinstance(result.exception, ToolSourceError)
    assert "tools.json:1" in str(result.exception)


def test_bench_toolcalls_scores_the_detector_beside_the_hermes_peer(tmp_path: Path) -> None:
    corpus = tmp_path / "cases.jsonl"
    cases = [
        {
            "id": "h",
            "format": "hermes",
            "tools": [TOOL],
            "output": CALL,
            "expected": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
        },
        {
            "id": "m",
            "format": "mistral_v11",
            "tools": [TOOL],
            "output": '[TOOL_CALLS]get_weather[ARGS]{"city": "Oslo"}',
            "expected": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
        },
        {
            "id": "n",
            "format": "mention",
            "tools": [TOOL],
            "output": "I could use get_weather for that.",
            "expected": [],
        },
    ]
    corpus.write_text("\n".join(json.dumps(c) for c in cases))
    report_path = tmp_path / "report.json"
    result = runner.invoke(app, ["bench-toolcalls", str(corpus), "--out", str(report_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())["corpus"]
    assert report["detector"]["f1"] == 1.0 and report["detector"]["false_positive_rate"] == 0.0
    assert report["peer_hermes"]["per_format"]["hermes"]["f1"] == 1.0
    assert report["peer_hermes"]["per_format"]["mistral_v11"]["recall"] == 0.0
    assert set(report["detector"]["latency_ms"]) == {"p50", "p99", "mean"}
    assert set(report["detector"]["cold_latency_ms"]) == {"p50", "p99"}


def test_bench_toolcalls_names_a_malformed_corpus_line(tmp_path: Path) -> None:
    corpus = tmp_path / "cases.jsonl"
    corpus.write_text('{"id": "x"}\n')
    result = runner.invoke(app, ["bench-toolcalls", str(corpus)])
    assert isinstance(result.exception, ToolCallError)
    assert "cases.jsonl:1" in str(result.exception)
