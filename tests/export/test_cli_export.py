"""`intently export` and `intently train --no-export`."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intently.cli import app, main
from intently.registry import list_versions
from intently.runtime.onnx_model import MANIFEST_FILE

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def model_copy(trained_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / trained_model_dir.name
    shutil.copytree(trained_model_dir, target)
    (target / MANIFEST_FILE).unlink()
    return target


def test_export_prints_the_parity_table(model_copy):
    result = runner.invoke(app, ["export", str(model_copy)])
    assert result.exit_code == 0, result.output
    output = _flat(result.output)
    assert "ONNX parity" in output and "evaluation.jsonl" in output
    assert "│ fp32   │   100.00% │" in result.output
    assert "exported linear model" in output
    assert (model_copy / MANIFEST_FILE).is_file()


def test_export_with_a_texts_file(model_copy, tmp_path):
    texts = tmp_path / "texts.jsonl"
    rows = [{"text": "where is my order", "label": "order_status"}, {"text": "bye"}]
    texts.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    result = runner.invoke(app, ["export", str(model_copy), "--texts", str(texts)])
    assert result.exit_code == 0, result.output
    assert "2 texts from texts" in _flat(result.output)
    manifest = json.loads((model_copy / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["parity"]["n"] == 2
    assert manifest["parity"]["native_accuracy"] is None  # one row has no label


def test_export_of_a_non_model_directory_is_a_clean_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["export", str(tmp_path)])
    assert info.value.code == 1
    err = _flat(capsys.readouterr().err)
    assert "[E400]" in err and "not a model directory" in err


def test_train_no_export_flag(make_project):
    project = make_project()
    result = runner.invoke(app, ["train", "-p", str(project), "--no-export", "--no-deploy"])
    assert result.exit_code == 0, result.output
    (model_dir,) = list_versions(project.parent / "models" / "intent")
    assert not (model_dir / MANIFEST_FILE).exists()
    assert "ONNX:" not in result.output

    result = runner.invoke(app, ["train", "-p", str(project), "--no-deploy"])
    assert result.exit_code == 0, result.output
    assert "ONNX: fp32 and int8 agree with the native model" in _flat(result.output)
    newest = list_versions(project.parent / "models" / "intent")[-1]
    assert (newest / MANIFEST_FILE).is_file()
