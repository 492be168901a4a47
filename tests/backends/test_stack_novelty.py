"""A stack with an ``embedding`` member gives sentence vectors, and a version whose fallback
rule reads them (an out-of-scope novelty) answers the same natively and through ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_encoder import make_tiny_body

import intently
from intently.runtime import Classifier
from intently.runtime.fallback import FallbackRule, ThresholdChoice, with_novelty
from intently.runtime.novelty import REFERENCE_FILE
from intently.runtime.version import METADATA_FILE
from tiny_project import INTENTS, OOS_QUERIES, TEXTS, project_data

TRAPS = ["order a pizza with extra cheese", "cancel my gym membership", "hello kitty plush toy"]


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear + embedding stack of the tiny project (no out-of-scope examples), exported."""
    root = tmp_path_factory.mktemp("stack-novelty")
    body = make_tiny_body(root / "body")
    members = [
        {"backend": "linear"},
        {
            "backend": "embedding",
            "params": {"model_path": str(body), "threads": 1, "finetune": "none"},
        },
    ]
    data = project_data(
        training={"backend": "stack", "params": {"members": members, "folds": 3}, "seed": 13}
    )
    (root / "intently.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    run = intently.train(intently.load_project(root / "intently.yaml"), write_reports=False)
    assert (run.model_dir / "onnx.json").is_file()
    return run.model_dir


def test_the_native_stack_gives_its_embedding_members_vectors(stack_dir: Path) -> None:
    model = Classifier.load(stack_dir, runtime="native").model
    texts = ["where is my order", *OOS_QUERIES[:3]]
    proba, vectors = model.predict_proba_and_vectors(texts)
    np.testing.assert_allclose(proba, model.predict_proba(texts))
    embedding = model.members_[model.vector_member_]
    np.testing.assert_allclose(vectors, embedding.transform(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.sentence_vectors(texts), vectors, atol=1e-6)


def test_a_version_with_a_novelty_answers_alike_natively_and_through_onnx(
    stack_dir: Path, tmp_path: Path
) -> None:
    import shutil

    model_dir = tmp_path / stack_dir.name
    shutil.copytree(stack_dir, model_dir)
    native = Classifier.load(model_dir, runtime="native")
    # validation-like rows: held-out in-scope texts and out-of-scope ones the model (trained
    # without any) must give to some intent; the rule is tuned on them at a 10% budget
    in_scope = [texts[-1] for texts in INTENTS.values()]
    texts = [*in_scope, *OOS_QUERIES, *TRAPS]
    truth = [*INTENTS, *["oos"] * (len(OOS_QUERIES) + len(TRAPS))]
    proba, vectors = native.model.predict_proba_and_vectors(texts)
    reference = native.model.sentence_vectors(TEXTS)  # (a loaded stack keeps no vectors)
    rule = with_novelty(
        FallbackRule("oos", 0.0, 0.0, native.model.fallback_temperature_),
        ThresholdChoice(0.0, 0.9, 0.0, 1.0),
        proba,
        truth,
        native.labels,
        vectors,
        reference,
    )
    assert rule.novelty is not None
    rule.save(model_dir)
    metadata = json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    metadata["fallback"] = rule.record()
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata), encoding="utf-8")
    assert (model_dir / REFERENCE_FILE).is_file()

    expected = rule.labels(proba, native.labels, vectors)
    assert "oos" in expected
    for runtime in ("native", "onnx"):
        classifier = Classifier.load(model_dir, runtime=runtime)
        assert classifier.rule.novelty is not None
        assert [p.label for p in classifier.predict_batch(texts)] == expected
        assert [classifier.predict(text).label for text in texts] == expected

    # a reference of other vectors, or none: a clear error at load, not different answers
    np.save(model_dir / REFERENCE_FILE, np.ones((3, 5), dtype=np.float16), allow_pickle=False)
    with pytest.raises(intently.ModelError, match="5 dimensions, but the model gives"):
        Classifier.load(model_dir, runtime="onnx")
    (model_dir / REFERENCE_FILE).unlink()
    with pytest.raises(intently.ModelError, match="fallback settings"):
        Classifier.load(model_dir, runtime="native")
