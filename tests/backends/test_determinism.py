""" "Deterministic given the seed" across processes: a fit in a fresh interpreter with another
string-hash seed (Python randomises set and dict-of-str iteration per process, which an
in-process rerun cannot catch) gives bit-identical probabilities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from test_embedding import DATA, QUERIES
from test_encoder import make_tiny_body

from intently.backends import make_backend

FIT = """
import json, sys
import numpy as np
from intently.backends import make_backend
spec = json.loads(open(sys.argv[1]).read())
model = make_backend(spec["backend"], spec["params"], seed=7).fit(spec["texts"], spec["labels"])
np.save(sys.argv[2], model.predict_proba(spec["queries"]))
"""


def fit_elsewhere(tmp_path: Path, spec: dict, hash_seed: str) -> np.ndarray:
    spec_file, out = tmp_path / "spec.json", tmp_path / f"proba_{hash_seed}.npy"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run(
        [sys.executable, "-c", FIT, str(spec_file), str(out)], env=env, check=True, timeout=300
    )
    return np.load(out)


@pytest.mark.parametrize("backend", ["linear", "transformer"])
def test_a_fit_in_another_process_gives_the_same_probabilities(backend, tmp_path):
    params = {}
    if backend == "transformer":
        body = make_tiny_body(tmp_path / "body")
        params = {"model_path": str(body), "threads": 1, "epochs": 2, "batch_size": 4}
    texts = [t for ts in DATA.values() for t in ts]
    labels = [label for label, ts in DATA.items() for _ in ts]
    spec = {
        "backend": backend,
        "params": params,
        "texts": texts,
        "labels": labels,
        "queries": QUERIES,
    }
    here = make_backend(backend, params, seed=7).fit(texts, labels).predict_proba(QUERIES)
    # this process's hash seed is random (unless the caller fixed it to this one)
    np.testing.assert_array_equal(fit_elsewhere(tmp_path, spec, "12345"), here)
