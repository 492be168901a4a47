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
