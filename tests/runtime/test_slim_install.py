"""The torch-free install: a virtual environment holding only NumPy, onnxruntime and tokenizers
(plus ``pip install --no-deps intently``) loads the exported model of every backend, predicts
with the fallback rules applied, and imports none of the training stack."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("torch")  # training the neural models of the fixture needs it (not the venv)

REPO = Path(__file__).resolve().parents[2]
RUNTIME_PACKAGES = ("numpy", "onnxruntime", "tokenizers")
TRAINING_STACK = (
    "pydantic",
    "yaml",
    "typer",
    "rich",
    "matplotlib",
    "scipy",
    "sklearn",
    "torch",
    "transformers",
    "sqlalchemy",
    "fastapi",
    "spacy",
    "thinc",
)
SPACY_FAST = {
    "max_epochs": 8,
    "batch_size": [8, 16],
    "length": 4096,
    "learn_rate": 0.05,
    "min_steps": 0,
}
TEXTS = ["hello there", "where is my order", "refund my money please", "tell me a joke", "bye"]
_NETWORK_ERRORS = (
    "Could not find a version that satisfies",
    "No matching distribution found",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
)

_SCRIPT = """
import json, sys
from intently.runtime import Classifier

model_dirs, texts = json.loads(sys.argv[1]), json.loads(sys.argv[2])
answers = {}
for name, model_dir in model_dirs.items():
    classifier = Classifier.load(model_dir)
    answers[name] = {
        "batch": [p.to_dict() for p in classifier.predict_batch(texts)],
        "single": classifier.predict(texts[0]).to_dict(),
    }
heavy = set(json.loads(sys.argv[3]))
loaded = sorted({m.split(".")[0] for m in sys.modules} & heavy)
installed = sorted(m for m in heavy if __import__("importlib.util").util.find_spec(m))
print(json.dumps({"answers": answers, "loaded": loaded, "installed": installed}))
"""


def _tiny_body(directory: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "intently_test_encoder", REPO / "tests" / "backends" / "test_encoder.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_body(directory)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trained_model_dir) -> dict[str, Path]:
    """One exported version per backend, each trained on the tiny project."""
    import yaml

    import intently
    from tiny_project import OOS_QUERIES, project_data

    body = _tiny_body(tmp_path_factory.mktemp("slim-body") / "body")
    descriptions = {
        "greeting": "the user says hello",
        "goodbye": "the user says goodbye",
        "order_status": "the user asks where an order is",
        "cancel_order": "the user wants to cancel an order",
        "refund": "the user wants money back",
    }
    encoder = {"model_path": str(body), "threads": 1}
    trainings = {
        "embedding": {"backend": "embedding", "params": {**encoder, "finetune": "none"}},
        "transformer": {
            "backend": "transformer",
            "params": {**encoder, "epochs": 1, "batch_size": 8},
        },
        "zeroshot": {"backend": "zeroshot", "params": {**encoder, "descriptions": descriptions}},
        # the two spaCy exports: BOW's sparse graph and the tok2vec graph (ensemble: both);
        # trained to confident answers, so that int8 parity is not decided by near-ties
        "spacy-bow": {"backend": "spacy", "params": SPACY_FAST},
        "spacy-ensemble": {
            "backend": "spacy",
            "params": {**SPACY_FAST, "architecture": "ensemble"},
        },
        "stack": {
            "backend": "stack",
            "params": {
                "members": [
                    {"backend": "linear", "params": {}},
                    {"backend": "embedding", "params": {**encoder, "finetune": "none"}},
                ]
            },
        },
    }
    models = {"linear": trained_model_dir}
    for name, training in trainings.items():
        root = tmp_path_factory.mktemp(f"slim-{name}")
        data = project_data(oos=OOS_QUERIES, training={**training, "seed": 13})
        (root / "intently.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        run = intently.train(intently.load_project(root / "intently.yaml"), write_reports=False)
        models[name] = run.model_dir
    for name, model_dir in models.items():
        assert (model_dir / "onnx.json").is_file(), f"{name} was not exported"
    return models


def _pip(venv: Path, *args: str) -> None:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if any(marker in output for marker in _NETWORK_ERRORS):
            pytest.skip(f"pip cannot reach a package index: {output.strip().splitlines()[-1]}")
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{output}")


def test_every_backend_serves_from_numpy_onnxruntime_and_tokenizers_alone(exported, tmp_path):
    from intently.runtime import Classifier

    venv = tmp_path / "slim"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    _pip(venv, *RUNTIME_PACKAGES)
    _pip(venv, "--no-deps", str(REPO))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            textwrap.dedent(_SCRIPT),
            json.dumps({name: str(path) for name, path in exported.items()}),
            json.dumps(TEXTS),
            json.dumps(TRAINING_STACK),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # PyYAML arrives with tokenizers (huggingface-hub needs it); the rest is not even installed
    assert found["installed"] in ([], ["yaml"])
    assert found["loaded"] == []
    assert set(found["answers"]) == {
        "linear",
        "embedding",
        "transformer",
        "zeroshot",
        "spacy-bow",
        "spacy-ensemble",
        "stack",
    }
    for name, model_dir in exported.items():
        here = Classifier.load(model_dir)  # the same graphs, served in the full environment
        answers = found["answers"][name]
        for got, want in zip(answers["batch"], here.predict_batch(TEXTS), strict=True):
            assert (got["runtime"], got["precision"]) == (here.runtime, here.precision), name
            assert got["runtime"] in {"onnx", "numpy"}
            assert (got["label"], got["intent"], got["fallback"]) == (
                want.label,
                want.intent,
                want.fallback,
            ), name
            assert abs(got["confidence"] - want.confidence) < 1e-4, name
        assert answers["single"]["intent"] == answers["batch"][0]["intent"]
