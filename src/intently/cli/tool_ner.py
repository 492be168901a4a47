"""`intently train-tool-ner`: the tool NER model for the project's tools, versioned."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intently.cli._app import DEFAULT_PROJECT_FILE, ProjectOption, app, escape, out, project_from


@app.command("train-tool-ner")
def train_tool_ner_command(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    per_tool: Annotated[
        int, typer.Option("--per-tool", help="Generated sentences per tool.", min=3)
    ] = 60,
    epochs: Annotated[int, typer.Option(help="Passes over the sentences.", min=1)] = 12,
    seed: Annotated[int, typer.Option(help="Seed of generation and training.")] = 13,
    deploy: Annotated[
        bool, typer.Option(help="Make the new version the active tool NER model.")
    ] = True,
) -> None:
    """Train the TOOL_NAME / PARAM_NAME / PARAM_VALUE model on sentences generated from the
    project's `tools:`, score it on held-out sentences and store it under models/tool_ner/
    (used by `intently mcp`'s detect_tool_calls).

    Example: intently train-tool-ner --project intently.yaml --per-tool 60
    """
    from intently.errors import SpecError
    from intently.toolcalls import ToolRegistry
    from intently.toolcalls.ner import NerSettings, save_tool_ner, train_tool_ner

    spec = project_from(project)
    tools = ToolRegistry.from_project(spec).tools
    if not tools:
        raise SpecError(
            f"{project} offers no tools to train a tool NER model on.",
            hint="add a `tools:` list (name, description, parameters) to the project file.",
        )
    settings = NerSettings(per_tool=per_tool, max_epochs=epochs, seed=seed)
    model = save_tool_ner(train_tool_ner(tools, settings), spec.model_root(), deploy=deploy)
    metrics = model.metrics
    out().print(
        f"tool NER {escape(model.version or '')}: entity P {metrics['precision']:.3f} "
        f"R {metrics['recall']:.3f} F1 {metrics['f1']:.3f} on {metrics['n_test']} held-out "
        f"sentences ({len(tools)} tools){'; deployed' if deploy else ''}"
    )
