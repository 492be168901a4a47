import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from intently.benchmark import BENCHMARK_KEYS
from intently.cli import EXIT_GATES_FAILED, app, main
from intently.registry import list_versions

runner = CliRunner()


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def _run_main(capsys, *args: str) -> tuple[int, str, str]:
    """Call the console entry point in-process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
        raise SystemExit(0)  # main returns normally on success
    captured = capsys.readouterr()
    return info.value.code or 0, captured.out, captured.err


# -- the happy path -------------------------------------------------------------------------


def test_init_validate_train_predict_evaluate_with_cli_runner(tmp_path):
    project = tmp_path / "intently.yaml"
    result = runner.invoke(app, ["init", "demo", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Created" in _flat(result.output)
    assert yaml.safe_load(project.read_text(encoding="utf-8"))["name"] == "demo"

    result = runner.invoke(app, ["data", "validate", "-p", str(project)])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in _flat(result.output)

    result = runner.invoke(app, ["train", "-p", str(project)])
    assert result.exit_code == 0, result.output  # the starter project passes its own gates
    assert "passed every gate" in _flat(result.output)
    (model_dir,) = list_versions(tmp_path / "models" / "intent")

    result = runner.invoke(
        app, ["predict", "-p", str(project), "--json", "where is my order?", "cancel my order"]
    )
    assert result.exit_code == 0, result.output
    predictions = _json_lines(result.output)
    assert [p["intent"] for p in predictions] == ["order_status", "cancel_order"]
    assert all(p["model_version"] == model_dir.name for p in predictions)
    assert len(result.output.strip().splitlines()) == 2  # JSON lines: one object per line

    result = runner.invoke(app, ["predict", "-p", str(project), "hello [/] there"])
    assert result.exit_code == 0, result.output
    assert "hello [/] there" in _flat(result.output)  # user text is not read as rich markup

    report = tmp_path / "cv.json"
    result = runner.invoke(
        app, ["evaluate", "-p", str(project), "--folds", "3", "--json", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validation" in _flat(result.output)
    data = json.loads(report.read_text(encoding="utf-8"))
    assert [fold["fold"] for fold in data["folds"]] == [1, 2, 3]
    assert data["pooled"]["n"] == sum(fold["n"] for fold in data["folds"])
    assert set(data["summary"]) == {
        "accuracy_mean",
        "accuracy_std",
        "macro_f1_mean",
        "macro_f1_std",
    }


def test_real_console_script_trains_and_predicts(tmp_path):
    script = Path(sys.executable).with_name("intently")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "intently.cli"]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    assert run("init", "demo").returncode == 0
    trained = run("train")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    predicted = run("predict", "--json", "where is my order?")
    assert predicted.returncode == 0, predicted.stderr
    (prediction,) = _json_lines(predicted.stdout)
    assert prediction["intent"] == "order_status"

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: demo\nagents:\n  - id: shop\n   intents: []\n", encoding="utf-8")
    failed = run("data", "validate", "--project", str(broken))
    assert failed.returncode == 1
    assert f"{broken}:4" in failed.stderr
    assert "Traceback" not in failed.stderr + failed.stdout

    usage = run("predict")
    assert usage.returncode == 2
    assert "give text(s) to classify, or --file" in usage.stderr
    assert "Traceback" not in usage.stderr


def test_benchmark_writes_exactly_the_benchmark_keys(tmp_path, capsys):
    folder = tmp_path / "toy"
    folder.mkdir()
    hi = [("hello", "hi"), ("hi there", "hi"), ("hey you", "hi"), ("good morning", "hi")]
    bye = [("bye", "bye"), ("goodbye now", "bye"), ("see you", "bye"), ("bye bye", "bye")]
    oos = [("weather today", "oos"), ("tell a joke", "oos"), ("sing a song", "oos")]
    rows = {
        "train": [*hi, *bye, *oos],
        "valid": [("hello friend", "hi"), ("see you soon", "bye"), ("cook pasta", "oos")],
        "test": [("hi friend", "hi"), ("bye for now", "bye"), ("play music", "oos")],
    }
    for split, pairs in rows.items():
        lines = [json.dumps({"text": text, "label": label}) for text, label in pairs]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "bench.json"
    code, stdout, _ = _run_main(capsys, "benchmark", folder, "--out", out, "--params", '{"C": 2}')
    assert code == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert list(result) == list(BENCHMARK_KEYS)
    assert result["dataset"] == "toy"
    assert result["backend"] == "linear"
    assert (result["n_train"], result["n_test"], result["n_labels"]) == (14, 3, 3)
    assert result["in_scope_accuracy"] is not None
    assert result["predict_p50_ms"] > 0
    assert "Wrote" in stdout


def test_benchmark_folder_without_test_split(tmp_path, capsys):
    (tmp_path / "train.jsonl").write_text('{"text": "a", "label": "x"}\n', encoding="utf-8")
    code, _, err = _run_main(capsys, "benchmark", tmp_path)
    assert code == 1
    assert "test.jsonl" in _flat(err)


# -- errors ---------------------------------------------------------------------------------


def test_malformed_yaml_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "intently.yaml"
    path.write_text("name: demo\nagents:\n  - id: shop\n   intents: []\n", encoding="utf-8")
    code, _, err = _run_main(capsys, "train", "-p", path)
    assert code == 1
    assert f"{path}:4" in _flat(err)
    assert "malformed YAML" in err
    assert "Traceback" not in err


def test_bad_jsonl_line_names_file_and_line(make_project, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "extra.jsonl").write_text(
        '{"text": "hello there friend", "label": "greeting"}\n\n{"text": "oops", "label": }\n',
        encoding="utf-8",
    )
    path = make_project(datasets=["data/extra.jsonl"])
    code, _, err = _run_main(capsys, "data", "validate", "-p", path)
    assert code == 1
    assert f"{data / 'extra.jsonl'}:3" in _flat(err)
    assert "invalid JSON" in err
    assert "Traceback" not in err


def test_example_with_unknown_intent(tmp_path, capsys):
    path = tmp_path / "intently.yaml"
    path.write_text(
        "name: demo\n"
        "agents:\n"
        "  - id: shop\n"
        "    intents:\n"
        "      - name: greeting\n"
        "        variations: [hello, hi]\n"
        "    examples:\n"
        "      - {query: hello there, intent: greeting}\n"
        "      - {query: hi you, intent: greetng}\n",
        encoding="utf-8",
    )
    code, _, err = _run_main(capsys, "train", "-p", path)
    assert code == 1
    flat = _flat(err)
    assert f"{path}:9" in flat
    assert "undefined intent 'greetng'" in flat
    assert "Did you mean 'greeting'?" in flat


def test_dataset_row_with_undefined_label_fails_validation(make_project, tmp_path, capsys):
    (tmp_path / "extra.csv").write_text("text,label\nhow are you,smalltalk\n", encoding="utf-8")
    path = make_project(datasets=["extra.csv"])
    code, out, _ = _run_main(capsys, "data", "validate", "-p", path)
    assert code == 1
    assert "undefined label 'smalltalk'" in _flat(out)
    code, _, err = _run_main(capsys, "train", "-p", path)
    assert code == 1
    assert "data validate" in _flat(err)


def test_empty_project_cannot_train(tmp_path, capsys):
    path = tmp_path / "intently.yaml"
    path.write_text("name: empty\n", encoding="utf-8")
    code, _, err = _run_main(capsys, "train", "-p", path)
    assert code == 1
    assert "has no examples" in _flat(err)
    assert "Traceback" not in err
    assert not (tmp_path / "models").exists()


def test_corrupt_model_dir_passed_to_predict(tmp_path, capsys):
    model = tmp_path / "20260101T000000000Z-abcd"
    model.mkdir()
    (model / "metadata.json").write_text("{corrupt", encoding="utf-8")
    (model / "labels.json").write_text("[]", encoding="utf-8")
    code, _, err = _run_main(capsys, "predict", "--model", model, "hello")
    assert code == 1
    assert "[E400]" in err
    assert "corrupt" in err


def test_predict_without_any_model(make_project, capsys):
    path = make_project()
    code, _, err = _run_main(capsys, "predict", "-p", path, "hello")
    assert code == 1
    assert "intently train" in _flat(err)


def test_init_refuses_to_overwrite(tmp_path, capsys):
    assert _run_main(capsys, "init", "demo", "--dir", tmp_path)[0] == 0
    (tmp_path / "intently.yaml").write_text("name: mine\n", encoding="utf-8")
    code, _, err = _run_main(capsys, "init", "demo", "--dir", tmp_path)
    assert code == 1
    assert "already exists" in err
    assert "--force" in err
    assert (tmp_path / "intently.yaml").read_text(encoding="utf-8") == "name: mine\n"
    assert _run_main(capsys, "init", "demo", "--dir", tmp_path, "--force")[0] == 0
    assert (
        yaml.safe_load((tmp_path / "intently.yaml").read_text(encoding="utf-8"))["name"] == "demo"
    )


def test_init_rejects_a_bad_name(tmp_path, capsys):
    code, _, err = _run_main(capsys, "init", "../evil", "--dir", tmp_path)
    assert code == 1
    assert "project name" in err
    assert not (tmp_path / "intently.yaml").exists()


def test_gate_failure_exits_3_and_keeps_a_rejected_model(make_project, tmp_path, capsys):
    path = make_project(gates={"accuracy": 1.0, "macro_f1": 1.0, "min_intent_f1": 1.0})
    # Make two intents share all their words so that a perfect score is out of reach.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    words = ["red", "blue", "green", "small", "large", "round", "flat", "soft", "hard", "warm"]
    alpha = [f"{w} {words[(i * 3 + 1) % 10]} it" for i, w in enumerate(words)]
    beta = [f"{words[(i * 7 + 2) % 10]} {w} it" for i, w in enumerate(words)]
    data["agents"][0]["intents"] = [
        {"name": "alpha", "variations": alpha},
        {"name": "beta", "variations": beta},
    ]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, out, _ = _run_main(capsys, "train", "-p", path)
    assert code == EXIT_GATES_FAILED == 3
    flat = _flat(out)
    assert "failed a gate" in flat
    assert "rejected" in flat
    (model_dir,) = list_versions(tmp_path / "models" / "intent")
    assert json.loads((model_dir / "metadata.json").read_text())["status"] == "rejected"


def test_train_shows_a_stacks_weights_beside_their_out_of_fold_accuracy(make_project, capsys):
    members = [{"backend": "linear"}, {"backend": "linear", "params": {"char_ngrams": None}}]
    path = make_project(training={"backend": "stack", "params": {"members": members}})
    code, out, _ = _run_main(capsys, "train", "-p", path, "--no-export")
    assert code == 0
    flat = _flat(out)
    assert "Stack weights, chosen on" in flat and "out-of-fold rows" in flat
    assert "equal average" in flat and "learned mix" in flat
    assert re.search(r"its temperature \d\.\d\d takes their calibration error from", flat)


def test_train_shows_a_stack_of_given_weights_and_its_temperature(make_project, capsys):
    members = [{"backend": "linear"}, {"backend": "linear", "params": {"char_ngrams": None}}]
    params = {"members": members, "weights": [0.5, 0.5]}
    path = make_project(training={"backend": "stack", "params": params})
    code, out, _ = _run_main(capsys, "train", "-p", path, "--no-export")
    assert code == 0
    flat = _flat(out)
    assert "stack, given weights linear 0.50 / linear 0.50: temperature" in flat
    assert re.search(r"fitted on \d+ validation rows, takes their calibration error from", flat)


def test_usage_errors_exit_2(capsys):
    code, _, err = _run_main(capsys, "predict")
    assert code == 2
    assert "give text(s) to classify, or --file" in err
    code, _, err = _run_main(capsys, "evaluate", "--folds", "1")
    assert code == 2
    code, _, err = _run_main(capsys, "benchmark", "somewhere", "--params", "{not json")
    assert code == 2
    assert "--params is not JSON" in err


def test_markup_in_errors_is_printed_literally(tmp_path, capsys):
    path = tmp_path / "intently.yaml"
    path.write_text("name: demo\n'[/]': 1\n", encoding="utf-8")
    code, _, err = _run_main(capsys, "train", "-p", path)
    assert code == 1
    assert "unknown key '[/]'" in err
