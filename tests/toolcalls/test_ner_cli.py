"""`intently train-tool-ner` on a project's tools: a deployed, loadable version."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from intently.cli import main
from intently.toolcalls.ner import load_active_tool_ner
from tiny_project import project_data

TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_train_tool_ner_versions_and_deploys(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    project = tmp_path / "intently.yaml"
    project.write_text(yaml.safe_dump(project_data(tools=[TOOL])), encoding="utf-8")
    main(["train-tool-ner", "-p", str(project), "--per-tool", "6", "--epochs", "2"])
    printed = capsys.readouterr().out
    assert "entity P" in printed and "deployed" in printed
    model = load_active_tool_ner(tmp_path / "models")
    assert model is not None and set(model.tools) == {"get_weather"}


def test_train_tool_ner_without_tools_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    project = tmp_path / "intently.yaml"
    project.write_text(yaml.safe_dump(project_data()), encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["train-tool-ner", "-p", str(project)])
    assert exited.value.code == 1
    assert "offers no tools" in capsys.readouterr().err
