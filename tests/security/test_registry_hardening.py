"""Issue 8, registry and deploy defects: paths that escape the models folder, symlinked and
foreign versions, damaged exports, non-finite weights and thresholds, lost concurrent updates,
corrupt pointers, stuck rollbacks, ambiguous prefixes, and NFKC expansion."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pytest

import intently
from intently.deploy import deploy_version, rollback_task, validate_model
from intently.errors import InputError, ModelError
from intently.registry import POINTER_FILE, Registry
from intently.runtime import Classifier


@pytest.fixture(scope="module")
def project_with_versions(tmp_path_factory) -> tuple[Path, list[str]]:
    """A trained project (three versions of `intent`, nothing deployed); copied per test."""
    import yaml

    from tiny_project import OOS_QUERIES, project_data

    root = tmp_path_factory.mktemp("hardening")
    (root / "intently.yaml").write_text(
        yaml.safe_dump(project_data(oos=OOS_QUERIES)), encoding="utf-8"
    )
    project = intently.load_project(root / "intently.yaml")
    ids = [intently.train(project, write_reports=False).version.id for _ in range(3)]
    return root, ids


@pytest.fixture
def trained(project_with_versions, tmp_path) -> tuple[intently.Project, list[str]]:
    source, ids = project_with_versions
    shutil.copytree(source, tmp_path / "p")
    return intently.load_project(tmp_path / "p" / "intently.yaml"), ids


def _registry(project: intently.Project) -> Registry:
    return Registry(project.model_root())


# -- 1. task names ------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["../../x", "/tmp/abs", ".hidden", "a/b", "..", ""])
def test_unsafe_task_names_never_reach_the_filesystem(trained, task, tmp_path):
    project, (v1, _, _) = trained
    registry = _registry(project)
    with pytest.raises(ModelError, match="not allowed"):
        registry.deploy(task, v1, check=validate_model)
    with pytest.raises(ModelError, match="not allowed"):
        registry.versions(task)
    assert not (tmp_path / "x").exists() and not Path("/tmp/abs").exists()


# -- 2. symlinked and foreign versions ------------------------------------------------------------


def test_a_symlinked_version_folder_is_neither_listed_nor_deployed(trained, tmp_path):
    project, (v1, _, _) = trained
    outside = tmp_path / "outside"
    shutil.copytree(project.model_root() / "intent" / v1, outside)
    link = project.model_root() / "intent" / "20990101T000000000Z-link"
    link.symlink_to(outside, target_is_directory=True)
    registry = _registry(project)
    assert link.name not in [info.id for info in registry.versions("intent")]
    with pytest.raises(ModelError, match="no version"):
        registry.deploy("intent", link.name, check=validate_model)
    assert registry.pointer("intent") is None


def test_another_tasks_version_copied_in_cannot_serve(trained):
    project, (v1, v2, _) = trained
    foreign = project.model_root() / "intent" / "20990101T000000000Z-copy"
    shutil.copytree(project.model_root() / "intent" / v2, foreign)
    meta = json.loads((foreign / "metadata.json").read_text())
    meta["task"] = "worthiness"
    (foreign / "metadata.json").write_text(json.dumps(meta))
    registry = _registry(project)
    registry.deploy("intent", v1, check=validate_model)
    with pytest.raises(ModelError, match="trained for task 'worthiness'"):
        registry.deploy("intent", foreign.name, check=validate_model)
    assert registry.pointer("intent").active == v1


# -- 3. every artefact the runtime loads is validated at deploy ---------------------------------


@pytest.mark.parametrize("graph", ["model.onnx", "model.int8.onnx"])
def test_a_replaced_graph_is_refused_at_deploy_and_at_load(trained, graph):
    project, (v1, v2, _) = trained
    registry = _registry(project)
    registry.deploy("intent", v1, check=validate_model)
    target = project.model_root() / "intent" / v2 / graph
    target.write_bytes(np.random.default_rng(0).bytes(target.stat().st_size))
    with pytest.raises(ModelError, match=graph.replace(".", r"\.")):
        registry.deploy("intent", v2, check=validate_model)
    assert registry.pointer("intent").active == v1
    precision = "int8" if "int8" in graph else "fp32"
    with pytest.raises(ModelError, match="SHA-256"):
        Classifier.load(project.model_root() / "intent" / v2, runtime="onnx", precision=precision)


def test_a_valid_but_different_graph_swapped_in_fails_its_checksum(trained):
    project, (_, v2, _) = trained
    version = project.model_root() / "intent" / v2
    shutil.copy(version / "model.onnx", version / "model.int8.onnx")  # loads, same signature
    with pytest.raises(ModelError, match="SHA-256"):
        validate_model(version)


# -- 4. non-finite weights and settings -----------------------------------------------------------


def test_nan_weights_are_refused_at_load_and_at_deploy(trained):
    project, (v1, v2, _) = trained
    path = project.model_root() / "intent" / v2
    with np.load(path / "linear_weights.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["coef"] = np.full_like(arrays["coef"], np.nan)
    np.savez_compressed(path / "linear_weights.npz", **arrays)
    with pytest.raises(ModelError, match="non-finite"):
        Classifier.load(path, runtime="native")
    registry = _registry(project)
    registry.deploy("intent", v1, check=validate_model)
    with pytest.raises(ModelError):
        registry.deploy("intent", v2, check=validate_model)
    assert registry.pointer("intent").active == v1


@pytest.mark.parametrize("key", ["threshold", "ambiguity_threshold"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5, 1.5])
def test_non_finite_or_out_of_range_thresholds_are_refused_at_load(trained, key, value):
    project, (v1, _, _) = trained
    path = project.model_root() / "intent" / v1
    meta = json.loads((path / "metadata.json").read_text())
    meta["fallback"][key] = value
    (path / "metadata.json").write_text(json.dumps(meta))  # json writes NaN / Infinity
    with pytest.raises(ModelError, match=key):
        Classifier.load(path)


# -- 5. concurrent deploys and rollbacks ---------------------------------------------------------


def _rollback_once(root: str, queue) -> None:
    try:
        switch = rollback_task(Registry(Path(root)), "intent")
        queue.put(("ok", switch.pointer.active))
    except ModelError as error:
        queue.put(("refused", error.message))


def _deploy_once(root: str, version: str, queue) -> None:
    switch = Registry(Path(root)).deploy("intent", version, check=validate_model)
    queue.put(switch.pointer.active)


def test_concurrent_rollbacks_in_separate_processes_each_pop_one_version(trained):
    project, ids = trained
    registry = _registry(project)
    for version in ids:  # history: v1, v2; active v3
        registry.deploy("intent", version, check=validate_model)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_rollback_once, args=(str(project.model_root()), queue))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    results = [queue.get(timeout=5) for _ in workers]
    succeeded = sorted(active for outcome, active in results if outcome == "ok")
    # Two versions to go back to: exactly two rollbacks succeed, each to a different version.
    assert succeeded == sorted(ids[:2])
    assert [outcome for outcome, _ in results].count("refused") == 2
    pointer = registry.pointer("intent")
    assert (pointer.active, pointer.history) == (ids[0], ())


def test_concurrent_deploys_in_separate_processes_keep_every_version_in_history(trained):
    project, ids = trained
    registry = _registry(project)
    registry.deploy("intent", ids[0], check=validate_model)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_deploy_once, args=(str(project.model_root()), version, queue))
        for version in ids[1:]
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert sorted(queue.get(timeout=5) for _ in workers) == sorted(ids[1:])
    pointer = registry.pointer("intent")
    assert sorted((pointer.active, *pointer.history)) == sorted(ids)


# -- 11. a corrupt pointer can be repaired with the tool ------------------------------------------


def test_deploy_replaces_a_corrupt_pointer_and_listing_still_works(trained):
    project, (v1, v2, _) = trained
    registry = _registry(project)
    registry.deploy("intent", v1, check=validate_model)
    (project.model_root() / "intent" / POINTER_FILE).write_text("{not json", encoding="utf-8")
    assert registry.pointer_problem("intent") is not None
    assert len(registry.versions("intent")) == 3  # listing does not fail on the pointer
    decision = deploy_version(project, "intent", v2)
    assert decision.deployed and "unreadable pointer was replaced" in decision.reason
    assert registry.pointer("intent").active == v2
    assert registry.pointer_problem("intent") is None


# -- 14. rollback skips versions that are gone ----------------------------------------------------


def test_rollback_skips_a_deleted_version_and_says_which(trained):
    project, (v1, v2, v3) = trained
    registry = _registry(project)
    for version in (v1, v2, v3):
        registry.deploy("intent", version, check=validate_model)
    shutil.rmtree(project.model_root() / "intent" / v2)
    switch = rollback_task(registry, "intent")
    assert switch.pointer.active == v1
    assert [version for version, _ in switch.skipped] == [v2]


def test_rollback_with_no_servable_previous_version_keeps_the_active_one(trained):
    project, (v1, v2, _) = trained
    registry = _registry(project)
    registry.deploy("intent", v1, check=validate_model)
    registry.deploy("intent", v2, check=validate_model)
    shutil.rmtree(project.model_root() / "intent" / v1)
    with pytest.raises(ModelError, match="none of the previous versions"):
        rollback_task(registry, "intent")
    assert registry.pointer("intent").active == v2


# -- minor: ambiguous prefixes --------------------------------------------------------------------


def test_an_ambiguous_prefix_says_so(trained):
    project, ids = trained
    common = ids[0][:4]  # every id starts with the year
    with pytest.raises(ModelError, match="ambiguous") as info:
        _registry(project).get("intent", common)
    assert all(version in str(info.value) for version in ids)


# -- 6. length is bounded after NFKC normalisation ---------------------------------------------


def test_a_text_that_expands_under_nfkc_is_refused(trained):
    project, (v1, _, _) = trained
    classifier = Classifier.load(project.model_root() / "intent" / v1)
    ligatures = "\ufdfa" * 1_000  # 1,000 characters, 18,000 after NFKC
    assert len(ligatures) <= classifier.max_text_chars
    with pytest.raises(InputError, match="after Unicode"):
        classifier.predict(ligatures)
    assert classifier.predict("\ufdfa hello").label in (*classifier.labels, classifier.rule.label)
