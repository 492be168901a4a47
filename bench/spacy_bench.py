"""The ``spacy`` backend (BOW and the ensemble) against ``spacy train`` on its default config.

For each dataset, in one run: ``intently`` trains the backend through the benchmark harness
(:func:`intently.benchmark.run_benchmark`, exported to ONNX with the parity check on the test
texts), then the peer runs the way a spaCy user would: ``python -m spacy init config
--pipeline textcat`` (the default, exclusive ``TextCatBOW``) and ``python -m spacy train`` on
DocBins of the same train/dev split (dev: the dataset's valid split, else the same stratified
10% of train that the backend holds out), ``model-best`` scored on the test split. The peer's
``train_seconds`` is the wall time of the ``spacy train`` process.

Each row is written to ``docs/benchmarks/spacy.json`` as soon as it exists (``uptime`` load
recorded with it): others share this machine, so compare rows of one run.

    .venv/bin/python bench/spacy_bench.py [peer|intently|ensemble|all] [--peer-limit S] \\
        banking77 snips clinc150
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from peers import _score, versions  # bench/ is on sys.path (script dir)

from intently.backends.fitting import holdout_split
from intently.benchmark import (
    batch_qps,
    directory_mb,
    latency_ms,
    load_benchmark_dataset,
    result_row,
    run_benchmark,
)
from intently.runtime import Classifier

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "spacy.json"
SEEDS_OUT = OUT.with_name("spacy_seeds.json")
ACCURACY_OUT = OUT.with_name("spacy_accuracy_peer.json")
RUNS: dict[str, dict[str, Any]] = {
    "spacy": {},
    "spacy-ensemble": {"architecture": "ensemble"},
}
PEER = "spacy-train-default"
ACCURACY_PEER = "spacy-train-accuracy"
"""``spacy init config --pipeline textcat --optimize accuracy``: spaCy's own ensemble (a shared
tok2vec of width 256 and depth 8 listened to by ``TextCatEnsemble.v2``), what a spaCy user picks
when accuracy matters more than speed; the architecture the ``ensemble`` rows compare with."""
NO_STATIC_VECTORS = [
    "--paths.vectors",
    "null",
    "--components.tok2vec.model.embed.include_static_vectors",
    "false",
]
"""The accuracy config reads ``en_core_web_lg``'s static vectors, which cannot be installed
offline here: without them, as a spaCy user lacking that package would run it."""
ENSEMBLE_PEER = "spacy-train-ensemble"
"""The default config with the textcat's model set to spaCy's own default textcat model
(``TextCatEnsemble.v2``, what ``nlp.add_pipe("textcat")`` builds): the architecture of the
``spacy-ensemble`` rows, trained by ``spacy train`` instead of Intently's loop."""
PEER_RUNS = {
    "efficiency": (PEER, []),
    "accuracy": (ACCURACY_PEER, NO_STATIC_VECTORS),
    "ensemble": (ENSEMBLE_PEER, []),
}
"""Which peer: the row's name and the ``spacy train`` overrides."""
PEER_LIMIT_S = 600.0
"""The default config runs up to 20,000 steps with patience 1,600; on this shared 2-core
machine that is hours per dataset, so the peer is stopped here and its best checkpoint so far
is scored (the row's ``stopped_at_limit_s``)."""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


RECORD_KEYS = ("dataset", "backend", "accuracy", "train_seconds", "predict_p50_ms", "load")


def record(row: dict[str, Any], out: Path = OUT, keys: tuple[str, ...] = RECORD_KEYS) -> None:
    """Replace the row of the same dataset and backend in ``out``; print its ``keys``. The
    file is locked while it is rewritten: runs of several datasets may share it."""
    with out.open("a+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        text = file.read()
        rows = json.loads(text) if text.strip() else []
        key = (row["dataset"], row["backend"])
        rows = [r for r in rows if (r["dataset"], r["backend"]) != key]
        file.seek(0)
        file.truncate()
        file.write(json.dumps([*rows, row], indent=2) + "\n")
    print(json.dumps({k: row.get(k) for k in keys}), flush=True)


def run_intently(directory: Path, name: str, seed: int = 13) -> dict[str, Any]:
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="intently-spacy-") as keep:
        row = run_benchmark(
            directory,
            backend="spacy",
            params=RUNS[name],
            seed=seed,
            export=True,
            keep_dir=Path(keep),
        )
        (model_dir,) = [p for p in Path(keep).iterdir() if (p / "onnx.json").is_file()] or [None]
        if model_dir is not None:  # the export as served by default (fp32 or int8, auto)
            served = Classifier.load(model_dir)
            texts = [e.text for e in load_benchmark_dataset(directory).test]
            p50, p99 = latency_ms(served.predict, texts)
            row["onnx_served"] = {
                "runtime": served.runtime,
                "precision": served.precision,
                "predict_p50_ms": round(p50, 4),
                "predict_p99_ms": round(p99, 4),
            }
    return row | {"backend": name, "load": f"{load_before} -> {load()}"}


def _docbin(nlp: Any, texts: list[str], labels: list[str], classes: list[str], path: Path) -> None:
    from spacy.tokens import DocBin

    bin_ = DocBin()
    for text, label in zip(texts, labels, strict=True):
        doc = nlp.make_doc(text)
        doc.cats = {c: float(c == label) for c in classes}
        bin_.add(doc)
    bin_.to_disk(path)


def run_peer(
    directory: Path,
    limit_s: float = PEER_LIMIT_S,
    seed: int | None = None,
    optimize: str = "efficiency",
) -> dict[str, Any]:
    """``spacy train`` on the default config (``optimize``: spaCy's "efficiency" default,
    "accuracy", or "ensemble": the default with :data:`ENSEMBLE_PEER`'s model; its ``[system]
    seed`` 0 unless ``seed``); stopped after ``limit_s`` seconds (its ``model-best`` so far is
    then scored, and the row says so)."""
    import spacy

    name, overrides = PEER_RUNS[optimize]
    load_before = load()
    data = load_benchmark_dataset(directory)
    train, dev = list(data.train), list(data.valid)
    if not dev:
        rows, held = holdout_split([e.label for e in train], 0.1, 13)
        train, dev = [train[i] for i in rows], [train[i] for i in held]
    classes = list(data.labels)
    nlp = spacy.blank("en")
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="spacy-peer-") as scratch:
        root = Path(scratch)
        _docbin(nlp, [e.text for e in train], [e.label for e in train], classes, root / "t.spacy")
        _docbin(nlp, [e.text for e in dev], [e.label for e in dev], classes, root / "d.spacy")
        subprocess.run(
            [
                python,
                "-m",
                "spacy",
                "init",
                "config",
                "--pipeline",
                "textcat",
                "--lang",
                "en",
                "--optimize",
                "efficiency" if optimize == "ensemble" else optimize,
                str(root / "config.cfg"),
            ],
            check=True,
            capture_output=True,
        )
        if optimize == "ensemble":
            use_default_textcat_model(root / "config.cfg")
        started = time.perf_counter()
        stopped = False
        try:
            subprocess.run(
                [
                    python,
                    "-m",
                    "spacy",
                    "train",
                    str(root / "config.cfg"),
                    "--output",
                    str(root / "out"),
                    "--paths.train",
                    str(root / "t.spacy"),
                    "--paths.dev",
                    str(root / "d.spacy"),
                    *([] if seed is None else ["--system.seed", str(seed)]),
                    *overrides,
                ],
                check=True,
                capture_output=True,
                timeout=limit_s,
            )
        except subprocess.TimeoutExpired:
            stopped = True
        row = peer_row(directory, root / "out" / "model-best", time.perf_counter() - started, name)
    extra = {"stopped_at_limit_s": limit_s} if stopped else {}
    return row | extra | {"load": f"{load_before} -> {load()}"}


def use_default_textcat_model(path: Path) -> None:
    """Set the textcat's model in the config at ``path`` to spaCy's own default."""
    from spacy.pipeline.textcat import DEFAULT_SINGLE_TEXTCAT_MODEL
    from thinc.api import Config

    config = Config().from_disk(path, interpolate=False)
    config["components"]["textcat"]["model"] = copy.deepcopy(DEFAULT_SINGLE_TEXTCAT_MODEL)
    config.to_disk(path)


def peer_row(
    directory: Path, best_dir: Path, train_seconds: float, name: str = PEER
) -> dict[str, Any]:
    """Score, time and size a ``spacy train`` output (``model-best``) on the test split."""
    import spacy

    data = load_benchmark_dataset(directory)
    classes = list(data.labels)
    best = spacy.load(best_dir)
    texts = [e.text for e in data.test]
    proba = np.asarray([[d.cats[c] for c in classes] for d in best.pipe(texts)])
    report = _score(data, [classes[i] for i in proba.argmax(axis=1)], proba.max(axis=1))

    def predict_one(text: str) -> str:
        cats = best(text).cats
        return max(cats, key=cats.__getitem__)

    p50, p99 = latency_ms(predict_one, texts)
    qps = batch_qps(lambda batch: [d.cats for d in best.pipe(batch)], texts)
    return result_row(
        dataset=directory.name,
        backend=name,
        data=data,
        report=report,
        train_seconds=train_seconds,
        p50=p50,
        p99=p99,
        qps=qps,
        model_mb=directory_mb(best_dir),
        versions=versions("spacy", "thinc"),
    )


TABLE_HEADER = (
    "| dataset | run | accuracy | macro-F1 | in-scope / OOS recall | train s | native p50 ms "
    "| ONNX served p50 ms | int8 p50 ms | fp32 / int8 argmax agreement "
    "| model MB (native / int8) | load |"
)


def _cell(value: Any, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table_line(row: dict[str, Any]) -> str:
    """One markdown row of the results table (``—`` where a run has no such figure)."""
    parity = row.get("export_parity") or {}
    int8 = row.get("int8") or {}
    train = f"{row['train_seconds']:.0f}"
    if row.get("stopped_at_limit_s"):
        train += f" (stopped at {row['stopped_at_limit_s']:.0f} s)"
    scope = "—"
    if row.get("in_scope_accuracy") is not None:
        scope = f"{row['in_scope_accuracy']:.3f} / {row['oos_recall']:.3f}"
    agreement = "—"
    if parity:
        agreement = f"{parity['fp32']['agreement']:.4f} / {parity['int8']['agreement']:.4f}"
    size = f"{row['model_mb']:.1f} / {_cell(int8.get('model_mb'), 2)}"
    cells = [
        row["dataset"],
        row["backend"],
        _cell(row["accuracy"]),
        _cell(row["macro_f1"]),
        scope,
        train,
        _cell(row["predict_p50_ms"], 3),
        _cell((row.get("onnx_served") or {}).get("predict_p50_ms"), 3),
        _cell(int8.get("predict_p50_ms"), 3),
        agreement,
        size,
        row["load"],
    ]
    return "| " + " | ".join(cells) + " |"


def write_table(rows: list[dict[str, Any]], markdown: Path, marker: str = "spacy") -> None:
    """Replace the lines between ``<!-- marker:start -->`` and ``<!-- marker:end -->``."""
    text = markdown.read_text(encoding="utf-8")
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    order = {"banking77": 0, "snips": 1, "clinc150": 2}
    rows = sorted(rows, key=lambda r: (order.get(r["dataset"], 9), r.get("seed", 0)))
    lines = [TABLE_HEADER, "|" + "---|" * TABLE_HEADER.count(" | ") + "---|"]
    body = "\n".join([*lines, *(table_line(r) for r in rows)])
    markdown.write_text(f"{head}{start}\n{body}\n{end}{tail}", encoding="utf-8")


def seed_rows(directory: Path, seeds: list[int], limit_s: float) -> None:
    """The three rows again with other seeds (ours: the project seed, the peer: ``[system]
    seed``), into ``SEEDS_OUT``: on a small test set a few texts decide "at least equal"."""
    for seed in seeds:
        for name in RUNS:
            row = run_intently(directory, name, seed)
            record(row | {"backend": f"{name} seed {seed}", "seed": seed}, SEEDS_OUT)
        row = run_peer(directory, limit_s, seed)
        record(row | {"backend": f"{PEER} seed {seed}", "seed": seed}, SEEDS_OUT)


MODES = ("peer", "peer-accuracy", "peer-ensemble", "intently", "ensemble", "all")


def main(argv: list[str]) -> None:
    """``[peer|peer-accuracy|peer-ensemble|intently|ensemble|all] [--peer-limit SECONDS]
    [--seeds N...] DATASET...``: which rows to (re)make, for which datasets; ``all`` (the
    default) makes the three rows of each dataset in turn, ``peer-accuracy`` / ``peer-ensemble``
    only :data:`ACCURACY_PEER`'s / :data:`ENSEMBLE_PEER`'s row (into
    ``spacy_accuracy_peer.json``); the peer is stopped after ``--peer-limit`` seconds (default
    ``PEER_LIMIT_S``). ``--seeds 1 2`` instead makes the three rows once per seed
    (:func:`seed_rows`); ``table`` writes docs/BENCHMARKS.md's tables from the JSON rows."""
    limit_s = PEER_LIMIT_S
    if "--peer-limit" in argv:
        at = argv.index("--peer-limit")
        limit_s = float(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    if argv[:1] == ["table"]:  # docs/BENCHMARKS.md's tables from the JSON rows
        markdown = OUT.parents[1] / "BENCHMARKS.md"
        write_table(json.loads(OUT.read_text()), markdown)
        if SEEDS_OUT.is_file():
            write_table(json.loads(SEEDS_OUT.read_text()), markdown, "spacy-seeds")
        if ACCURACY_OUT.is_file():
            write_table(json.loads(ACCURACY_OUT.read_text()), markdown, "spacy-accuracy-peer")
        return
    if "--seeds" in argv:
        at = argv.index("--seeds")
        seeds = [int(a) for a in argv[at + 1 :] if a.isdigit()]
        names = argv[:at] + argv[at + 1 + len(seeds) :]
        for name in names:
            seed_rows(DATASETS / name, seeds, limit_s)
        return
    mode = argv[0] if argv and argv[0] in MODES else "all"
    names = [name for name in argv if name != mode] or ["banking77", "snips", "clinc150"]
    for name in names:
        directory = DATASETS / name
        if mode in ("peer-accuracy", "peer-ensemble"):
            optimize = mode.removeprefix("peer-")
            record(run_peer(directory, limit_s, optimize=optimize), ACCURACY_OUT)
        if mode in ("intently", "all"):
            record(run_intently(directory, "spacy"))
        if mode in ("peer", "all"):
            record(run_peer(directory, limit_s))
        if mode in ("ensemble", "all"):
            record(run_intently(directory, "spacy-ensemble"))


if __name__ == "__main__":
    main(sys.argv[1:])
