"""The ``spacy`` backend's tok2vec architectures (``reduce``, ``cnn``, ``ensemble``) through the
benchmark harness, exported to ONNX with the parity check on the test texts.

For each dataset and architecture: :func:`intently.benchmark.run_benchmark` trains with the
backend's defaults plus ``architecture``, evaluates on test and exports (fp32 and int8 graphs,
each compared with ``nlp(text).cats`` on every test text; the export fails below 99.5% argmax
agreement); then the exported model is timed per text through ``Classifier.load`` at fp32 and
int8 (preprocessing included). The ``uptime`` load before and after goes with each row: others
share this machine.

``accuracy`` instead of an architecture trains what ``spacy init config --pipeline textcat
--optimize accuracy`` writes, verbatim (``training.spacy_config``): a shared ``tok2vec``
component (width 256, depth 8) the ensemble listens to, without the static vectors this machine
cannot download, and ``max_steps`` cut to :data:`ACCURACY_STEPS` (its 20,000 would take hours
here): the export's fidelity to a listener layout at full width, not that config's accuracy.

Rows go to ``docs/benchmarks/spacy_tok2vec.json`` as soon as each exists.

    .venv/bin/python bench/spacy_tok2vec_bench.py reduce banking77 [snips clinc150]
    .venv/bin/python bench/spacy_tok2vec_bench.py accuracy snips
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from spacy_bench import DATASETS, load, record  # bench/ is on sys.path (script dir)

from intently.benchmark import latency_ms, load_benchmark_dataset, run_benchmark
from intently.runtime import Classifier

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "spacy_tok2vec.json"
ARCHITECTURES = ("reduce", "cnn", "ensemble")
ACCURACY_STEPS = 1000
KEYS = ("dataset", "backend", "accuracy", "train_seconds", "export_parity", "onnx_served")


def accuracy_config(directory: Path) -> Path:
    """``spacy init config --pipeline textcat --optimize accuracy`` without static vectors and
    with ``max_steps`` :data:`ACCURACY_STEPS`, written to ``directory / "config.cfg"``."""
    from spacy.cli.init_config import init_config

    config = init_config(lang="en", pipeline=["textcat"], optimize="accuracy", gpu=False)
    config["paths"]["vectors"] = None
    config["initialize"]["vectors"] = None
    config["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] = False
    config["training"]["max_steps"] = ACCURACY_STEPS
    config.to_disk(directory / "config.cfg")
    return directory / "config.cfg"


def run(directory: Path, architecture: str) -> dict[str, Any]:
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="intently-spacy-tok2vec-") as keep:
        params: dict[str, Any] = {"architecture": architecture}
        if architecture == "accuracy":
            params = {"config": str(accuracy_config(Path(keep)))}
        row = run_benchmark(
            directory,
            backend="spacy",
            params=params,
            export=True,
            keep_dir=Path(keep),
        )
        (model_dir,) = [p for p in Path(keep).iterdir() if (p / "onnx.json").is_file()]
        texts = [e.text for e in load_benchmark_dataset(directory).test]
        served: dict[str, Any] = {}
        for precision in ("fp32", "int8"):
            model = Classifier.load(model_dir, runtime="onnx", precision=precision)
            p50, p99 = latency_ms(model.predict, texts)
            served[precision] = {"predict_p50_ms": round(p50, 4), "predict_p99_ms": round(p99, 4)}
        manifest = json.loads((model_dir / "onnx.json").read_text(encoding="utf-8"))
        served["default"] = manifest.get("serving")
        row["onnx_served"] = served
    return row | {"backend": f"spacy-{architecture}", "load": f"{load_before} -> {load()}"}


def main(argv: list[str]) -> None:
    architecture = argv[0] if argv and argv[0] in (*ARCHITECTURES, "accuracy") else "reduce"
    names = [name for name in argv if name != architecture] or ["banking77"]
    for name in names:
        record(run(DATASETS / name, architecture), OUT, KEYS)


if __name__ == "__main__":
    main(sys.argv[1:])
