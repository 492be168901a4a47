"""``bench/run_all.py``: a named run passes its backend, parameters and fallback overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import run_all


@pytest.mark.parametrize("name", sorted(run_all.RUNS))
def test_a_named_run_passes_all_its_settings(name, monkeypatch, tmp_path):
    calls: list[tuple[Path, dict[str, Any]]] = []

    def record(directory: Path, **kwargs: Any) -> dict[str, Any]:
        calls.append((directory, kwargs))
        return {"dataset": directory.name, "backend": kwargs["backend"]}

    monkeypatch.setattr(run_all, "run_benchmark", record)
    row = run_all.run_named(name, tmp_path)
    backend, params, fallback = run_all.RUNS[name]
    assert calls == [
        (tmp_path, {"backend": backend, "params": params, "fallback": fallback, "export": True})
    ]
    assert row["backend"] == name


def test_out_of_scope_runs_are_skipped_where_no_text_is_out_of_scope(monkeypatch, tmp_path):
    for name, labels in (("clinc150", ["a", "oos"]), ("snips", ["a", "b"])):
        (tmp_path / name).mkdir()
        lines = [f'{{"text": "t{i}", "label": "{label}"}}' for i, label in enumerate(labels)]
        (tmp_path / name / "test.jsonl").write_text("\n".join(lines) + "\n")
    ran: list[str] = []

    def record(directory: Path, **kwargs: Any) -> dict[str, Any]:
        ran.append(directory.name)
        return {
            "dataset": directory.name,
            "backend": kwargs["backend"],
            "accuracy": 1.0,
            "train_seconds": 1.0,
            "predict_p50_ms": 1.0,
        }

    monkeypatch.setattr(run_all, "run_benchmark", record)
    monkeypatch.chdir(tmp_path)  # main() also refreshes ./README.md's table when there is one
    argv = ["--datasets", str(tmp_path), "--out", str(tmp_path / "out"), "--skip-peers"]
    assert run_all.main([*argv, "--backends", "linear-oos-budget-0.03"]) == 0
    assert ran == ["clinc150"]
    assert run_all.main([*argv, "--backends", "linear"]) == 0
    assert ran == ["clinc150", "clinc150", "snips"]
