"""`intently predict --file`: formats, stdin/stdout, bad lines, --strict, runtime options."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intently.cli import main
from intently.cli._app import app
from intently.runtime import Classifier

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _run_main(capsys, *args: object) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return info.value.code or 0, captured.out, captured.err


TEXTS = ["where is my order", "cancel my order", "hello", "refund please"]


def test_jsonl_file_to_csv_file(trained_model_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"id": i, "text": text}) + "\n" for i, text in enumerate(TEXTS)),
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        ["predict", "--model", str(trained_model_dir), "--file", str(source), "--out",
         str(tmp_path / "out.csv")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = Classifier.load(trained_model_dir).predict_batch(TEXTS)
    assert [(r["id"], r["text"], r["label"]) for r in rows] == [
        (str(i), text, p.label) for i, (text, p) in enumerate(zip(TEXTS, expected, strict=True))
    ]
    assert f"classified {len(TEXTS)} texts" in _flat(result.stderr)
    assert result.stdout == ""  # the summary goes to stderr, stdout stays clean


def test_stdin_to_stdout_as_jsonl_or_csv(trained_model_dir):
    stdin = "\n".join(TEXTS) + "\n"
    result = runner.invoke(
        app, ["predict", "--model", str(trained_model_dir), "--file", "-"], input=stdin
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == TEXTS
    assert {"label", "confidence", "intent", "fallback", "model_version", "ranking"} <= set(rows[0])

    result = runner.invoke(
        app,
        ["predict", "--model", str(trained_model_dir), "-f", "-", "--format", "csv"],
        input=stdin,
    )
    assert result.exit_code == 0, result.output
    assert [row["text"] for row in csv.DictReader(result.stdout.splitlines())] == TEXTS


def test_bad_lines_are_skipped_with_their_line_numbers(trained_model_dir, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"text": "hello"}\n{"text": 3}\nnot json\n{"text": "cancel my order"}\n',
        encoding="utf-8",
    )
    code, out, err = _run_main(capsys, "predict", "--model", trained_model_dir, "-f", source)
    assert code == 0
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["hello", "cancel my order"]
    flat = _flat(err)
    assert f"{source}:2: 'text' must be a string" in flat
    assert f"{source}:3: invalid JSON" in flat
    assert "2 bad line(s) skipped" in flat


def test_strict_fails_on_the_first_bad_line(trained_model_dir, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("text\nhello\n\ncancel,extra\n,\n", encoding="utf-8")
    out_file = tmp_path / "out.jsonl"
    code, _, err = _run_main(
        capsys, "predict", "--model", trained_model_dir, "-f", source, "-o", out_file, "--strict"
    )
    assert code == 1
    assert f"{source}:4:" in _flat(err)
    assert "Traceback" not in err
    assert not out_file.exists()


def test_runtime_and_precision_reach_classifier_load(trained_model_dir, tmp_path, monkeypatch):
    calls: list[dict] = []
    load = Classifier.load.__func__  # type: ignore[attr-defined]

    def spy(cls, model_dir, **options):
        calls.append(options)
        return load(cls, model_dir, **options)

    monkeypatch.setattr(Classifier, "load", classmethod(spy))
    args = ["predict", "--model", str(trained_model_dir), "--json", "hello"]
    assert runner.invoke(app, args).exit_code == 0
    assert runner.invoke(app, [*args, "--runtime", "native"]).exit_code == 0
    assert runner.invoke(app, [*args, "--runtime", "onnx", "--precision", "fp32"]).exit_code == 0
    assert calls == [
        {"runtime": "auto", "precision": "auto"},
        {"runtime": "native", "precision": "auto"},
        {"runtime": "onnx", "precision": "fp32"},
    ]
    bad = runner.invoke(app, [*args, "--runtime", "gpu"])
    assert bad.exit_code == 2
    assert "gpu" in bad.output


def test_usage_errors(trained_model_dir, tmp_path, capsys):
    model = trained_model_dir
    code, _, err = _run_main(capsys, "predict", "--model", model)
    assert (code, "--file" in err) == (2, True)
    code, _, err = _run_main(capsys, "predict", "--model", model, "-f", "-", "hello")
    assert (code, "not both" in err) == (2, True)
    code, _, err = _run_main(capsys, "predict", "--model", model, "-o", tmp_path / "x.csv", "hello")
    assert (code, "need --file" in err) == (2, True)
    (tmp_path / "in.txt").write_text("hello\n", encoding="utf-8")
    code, _, err = _run_main(capsys, "predict", "--model", model, "-f", tmp_path / "in.txt", "-o",
                             tmp_path / "out.txt")  # fmt: skip
    assert code == 1
    assert "--format" in err


def test_console_script_pipes_stdin_to_stdout(trained_model_dir):
    script = Path(sys.executable).with_name("intently")
    command = [str(script)] if script.exists() else [sys.executable, "--model", "intently.cli"]
    done = subprocess.run(
        [*command, "predict", "--model", str(trained_model_dir), "-f", "-", "--format", "csv"],
        input="hello\n\ncancel my order\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [row["text"] for row in csv.DictReader(done.stdout.splitlines())] == [
        "hello",
        "cancel my order",
    ]
