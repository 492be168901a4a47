"""A stack with an ``embedding`` member, and an ``embedding`` model alone, give sentence
vectors, and a version whose fallback rule reads them (an out-of-scope novelty) answers the
same natively and through ONNX."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_encoder import make_tiny_body

import intently
from intently.backends import make_backend
from intently.backends.embedding import EmbeddingBackend
from intently.runtime import Classifier
from intently.runtime.fallback import FallbackRule, ThresholdChoice, with_novelty
from intently.runtime.novelty import REFERENCE_FILE
from intently.runtime.version import METADATA_FILE
from tiny_project import INTENTS, OOS_QUERIES, TEXTS, project_data

TRAPS = ["order a pizza with extra cheese", "cancel my gym membership", "hello kitty plush toy"]


def trained(root: Path, training: dict[str, Any], **extra: Any) -> Path:
    """The tiny project (no out-of-scope examples unless ``extra`` says) trained and exported as
    ``training`` says."""
    data = project_data(training=training | {"seed": 13}, **extra)
    (root / "intently.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    run = intently.train(intently.load_project(root / "intently.yaml"), write_reports=False)
    assert (run.model_dir / "onnx.json").is_file()
    return run.model_dir


def embedding_member(body: Path) -> dict[str, Any]:
    params = {"model_path": str(body), "threads": 1, "finetune": "none"}
    return {"backend": "embedding", "params": params}


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A linear + embedding stack of the tiny project."""
    root = tmp_path_factory.mktemp("stack-novelty")
    members = [{"backend": "linear"}, embedding_member(make_tiny_body(root / "body"))]
    return trained(root, {"backend": "stack", "params": {"members": members, "folds": 3}})


@pytest.fixture(scope="module")
def embedding_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``embedding`` model of the tiny project, alone."""
    root = tmp_path_factory.mktemp("embedding-novelty")
    return trained(root, embedding_member(make_tiny_body(root / "body")))


def test_the_native_stack_gives_its_embedding_members_vectors(stack_dir: Path) -> None:
    model = Classifier.load(stack_dir, runtime="native").model
    texts = ["where is my order", *OOS_QUERIES[:3]]
    proba, vectors = model.predict_proba_and_vectors(texts)
    np.testing.assert_allclose(proba, model.predict_proba(texts))
    embedding = model.members_[model.vector_member_]
    np.testing.assert_allclose(vectors, embedding.transform(texts), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.sentence_vectors(texts), vectors, atol=1e-6)


def test_an_embedding_model_excludes_the_out_of_scope_label_from_its_reference(
    tmp_path: Path,
) -> None:
    model = make_backend("embedding", embedding_member(make_tiny_body(tmp_path))["params"])
    texts, labels = ["where is my order", "hello", "tell me a joke"], ["order", "hi", "oos"]
    model.fit(texts, labels)
    np.testing.assert_allclose(model.training_vectors("oos"), model.transform(texts[:2]), atol=1e-6)
    np.testing.assert_allclose(model.sentence_vectors(texts), model.transform(texts), atol=1e-6)


@pytest.mark.parametrize("trained_dir", ["stack_dir", "embedding_dir"])
def test_a_version_with_a_novelty_answers_alike_natively_and_through_onnx(
    trained_dir: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source: Path = request.getfixturevalue(trained_dir)
    model_dir = tmp_path / source.name
    shutil.copytree(source, model_dir)
    native = Classifier.load(model_dir, runtime="native")
    # validation-like rows: held-out in-scope texts and out-of-scope ones the model (trained
    # without any) must give to some intent; the rule is tuned on them at a 10% budget
    in_scope = [texts[-1] for texts in INTENTS.values()]
    texts = [*in_scope, *OOS_QUERIES, *TRAPS]
    truth = [*INTENTS, *["oos"] * (len(OOS_QUERIES) + len(TRAPS))]
    proba, vectors = native.model.predict_proba_and_vectors(texts)
    reference = native.model.sentence_vectors(TEXTS)  # (a loaded model keeps no vectors)
    temperature = getattr(native.model, "fallback_temperature_", 1.0)
    rule = with_novelty(
        FallbackRule("oos", 0.0, 0.0, temperature),
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


@pytest.mark.parametrize("novelty", [True, False])
def test_fallback_novelty_false_never_reads_the_training_vectors(
    novelty: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = []
    original = EmbeddingBackend.training_vectors

    def recorded(self: EmbeddingBackend, exclude: str) -> np.ndarray | None:
        read.append(exclude)
        return original(self, exclude)

    monkeypatch.setattr(EmbeddingBackend, "training_vectors", recorded)
    model_dir = trained(
        tmp_path,
        embedding_member(make_tiny_body(tmp_path / "body")),
        oos=OOS_QUERIES,
        fallback={"novelty": novelty},
    )
    metadata = json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    assert read == (["oos"] if novelty else [])
    if not novelty:
        assert metadata["fallback"].get("novelty") is None
        assert not (model_dir / REFERENCE_FILE).exists()
