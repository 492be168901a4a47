"""`intently detect` and `intently bench-toolcalls`: tool calls in model outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from intently.cli._app import DEFAULT_PROJECT_FILE, ProjectOption, app, err, out

if TYPE_CHECKING:
    from intently.toolcalls import ToolRegistry


def _registry(tools: Path | None, mcp: str | None, project: Path) -> ToolRegistry:
    from intently.toolcalls import ToolRegistry

    if tools is not None:
        return ToolRegistry.from_file(tools)
    if mcp is not None:
        from intently.toolcalls.mcp_source import registry_from_mcp

        return registry_from_mcp(mcp)
    if project.exists():
        from intently.spec import load_project

        return ToolRegistry.from_project(load_project(project))
    return ToolRegistry()


@app.command()
def detect(
    text: Annotated[
        str | None,
        typer.Argument(help="The model output (or --file, or stdin).", show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Read the output from a file; - is stdin.", show_default=False
        ),
    ] = None,
    tools: Annotated[
        Path | None,
        typer.Option(
            "--tools",
            help='JSON file of the offered tools (a list, or {"tools": [...]}).',
            show_default=False,
        ),
    ] = None,
    mcp: Annotated[
        str | None,
        typer.Option(
            "--mcp",
            help="Take the tools from a live MCP server: a command line (stdio) or an http(s) URL.",
            show_default=False,
        ),
    ] = None,
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    threshold: Annotated[float, typer.Option(help="Lowest confidence printed.")] = 0.5,
) -> None:
    """Print the tool calls in a model's output as JSON (calls, rejected, content).

    Example: intently detect --tools tools.json '<tool_call>{"name": "get_weather",
    "arguments": {"city": "Paris"}}</tool_call>'
    """
    from intently.toolcalls import ToolCallDetector

    if text is None:
        if file is None or str(file) == "-":
            text = sys.stdin.read()
        else:
            try:
                text = file.read_text(encoding="utf-8")
            except OSError as exc:
                err().print(f"cannot read {file}: {exc.strerror or exc}")
                raise typer.Exit(2) from None
    detector = ToolCallDetector(_registry(tools, mcp, project), threshold=threshold)
    result = detector.analyze(text)
    sys.stdout.write(
        json.dumps(
            {
                "calls": [c.to_dict() for c in result.calls],
                "rejected": [c.to_dict() for c in result.rejected],
                "content": result.content,
            },
            ensure_ascii=False,
            indent=2,
        )
        + "\n"
    )


@app.command("bench-toolcalls")
def bench_toolcalls(
    corpus: Annotated[
        Path, typer.Argument(help="Corpus JSONL (id, format, tools, output, expected).")
    ],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON report here.", show_default=False)
    ] = None,
    bfcl: Annotated[
        Path | None,
        typer.Option(
            "--bfcl", help="BFCL folder to render into the formats at run time.", show_default=False
        ),
    ] = None,
) -> None:
    """Precision/recall/F1 per format, false-positive rate and latency, beside the
    Hermes-style single-format parser.

    Example: intently bench-toolcalls tests/data/toolcalls/cases.jsonl --out toolcalls.json
    """
    from intently.toolcalls.bench import run_benchmark

    report = run_benchmark(corpus, bfcl=bfcl)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text + "\n", encoding="utf-8")
    for name, section in report.items():
        if not isinstance(section, dict) or "detector" not in section:
            continue
        for who in ("detector", "peer_hermes"):
            row = section[who]
            out().print(
                f"{name:7} {who:12} F1 {row['f1']:.4f}  P {row['precision']:.4f}  "
                f"R {row['recall']:.4f}  FPR {row['false_positive_rate']:.4f}  "
                f"p50 {row['latency_ms']['p50']:.3f} ms  p99 "
                f"{row['latency_ms']['p99']:.3f} ms  ({row['cases']} outputs)"
            )
