"""Choosing the ``spacy`` backend's BOW defaults on validation data only (never on test).

Each variant (a JSON object of backend parameters) trains the backend exactly as the benchmark
harness does when a dataset has no validation split (the backend holds out its own stratified
share for early stopping) and is scored on data the fit never sees:

* ``banking77``: a fixed stratified 10% of train.jsonl (``holdout_split(labels, 0.1, seed=0)``)
  is the validation set; the backend trains on the other 90%.
* ``snips``, ``clinc150``: the backend trains on train.jsonl and is scored on valid.jsonl.

One JSON line per variant (accuracy, fit seconds, best epoch, ``os.getloadavg()``) goes to
stdout. Variants of one run share the machine's load, so their seconds compare; a variant
list usually starts with ``{}`` (the current defaults) for that reason. ``--time`` fits each
variant on the whole train split instead (what the benchmark trains on) and reports only
the seconds, to compare training time in the same minutes: wall time and the process's CPU
time (one thread: what the fit would take on an idle core, less cache and memory contention).

    .venv/bin/python bench/spacy_bow_validation.py banking77 '{}' '{"learn_rate": 0.01}'
    .venv/bin/python bench/spacy_bow_validation.py --time banking77 '{"lowercase": false}' '{}'
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from intently.backends.fitting import holdout_split
from intently.backends.spacy_textcat import SpacyBackend

DATASETS = Path("/work/shared/datasets")
OUTER_SEED = 0
"""Seed of BANKING77's validation split; not the backend's hold-out seed (13), so the two
splits are drawn independently."""


def read(path: Path) -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def splits(name: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """``(train texts, train labels, validation texts, validation labels)`` of ``name``."""
    texts, labels = read(DATASETS / name / "train.jsonl")
    valid = DATASETS / name / "valid.jsonl"
    if valid.is_file() and valid.stat().st_size:
        return (texts, labels, *read(valid))
    rows, held = holdout_split(labels, 0.1, OUTER_SEED)
    return (
        [texts[i] for i in rows],
        [labels[i] for i in rows],
        [texts[i] for i in held],
        [labels[i] for i in held],
    )


def run(name: str, params: dict[str, Any]) -> dict[str, Any]:
    train_x, train_y, valid_x, valid_y = splits(name)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    model = SpacyBackend(**params).fit(train_x, train_y)
    seconds = time.perf_counter() - started
    proba = model.predict_proba(valid_x)
    predicted = np.asarray(model.classes_)[proba.argmax(axis=1)]
    info = model.fit_info_ or {}
    return {
        "dataset": name,
        "params": params,
        "accuracy": round(float(np.mean(predicted == np.asarray(valid_y))), 4),
        "fit_s": round(seconds, 1),
        "best_score": info.get("best_score"),
        "best_step": info.get("best_step"),
        "epochs": info.get("epochs"),
        "load": f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}",
    }


def fit_seconds(name: str, params: dict[str, Any]) -> dict[str, Any]:
    texts, labels = read(DATASETS / name / "train.jsonl")
    load_before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    SpacyBackend(**params).fit(texts, labels)
    return {
        "dataset": name,
        "params": params,
        "fit_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(time.process_time() - cpu, 1),
        "load": f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}",
    }


def main(argv: list[str]) -> None:
    timing = argv[:1] == ["--time"]
    name, *variants = argv[1:] if timing else argv
    for variant in variants or ["{}"]:
        params = json.loads(variant)
        print(json.dumps(fit_seconds(name, params) if timing else run(name, params)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
