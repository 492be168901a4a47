"""The registry: derived statuses, atomic deploy/rollback, prune, diff, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import intently
from intently.deploy import validate_model
from intently.errors import ModelError
from intently.registry import POINTER_FILE, Registry, Status


@pytest.fixture
def trained(make_project, oos_queries) -> tuple[intently.Project, list[str]]:
    """A project with three trained versions (oldest first) and nothing deployed."""
    project = intently.load_project(make_project(oos=oos_queries))
    ids = [intently.train(project, write_reports=False).version.id for _ in range(3)]
    return project, ids


def registry_of(project: intently.Project) -> Registry:
    return Registry(project.model_root())


def test_statuses_are_derived_from_the_pointer(trained):
    project, (v1, v2, v3) = trained
    registry = registry_of(project)
    assert [i.status for i in registry.versions("intent")] == [Status.CANDIDATE] * 3
    registry.deploy("intent", v1, check=validate_model)
    registry.deploy("intent", v2, check=validate_model)
    statuses = {i.id: i.status for i in registry.versions("intent")}
    assert statuses == {v1: Status.RETIRED, v2: Status.ACTIVE, v3: Status.CANDIDATE}
    assert registry.active("intent").id == v2
    assert registry.active_path("intent") == project.model_root() / "intent" / v2


def test_version_directories_are_never_modified_by_deploy(trained):
    project, (v1, _, _) = trained
    meta = project.model_root() / "intent" / v1 / "metadata.json"
    before = meta.read_bytes()
    registry_of(project).deploy("intent", v1, check=validate_model)
    assert meta.read_bytes() == before


def test_rollback_returns_to_the_previous_active_version(trained):
    project, (v1, v2, v3) = trained
    registry = registry_of(project)
    for version in (v1, v2, v3):
        registry.deploy("intent", version, check=validate_model)
    assert registry.rollback("intent", check=validate_model).pointer.active == v2
    assert registry.rollback("intent", check=validate_model).pointer.active == v1
    with pytest.raises(ModelError, match="no previous active version"):
        registry.rollback("intent", check=validate_model)


def test_unique_prefix_selects_a_version_and_unknown_ids_suggest(trained):
    project, (v1, _, _) = trained
    registry = registry_of(project)
    assert registry.get("intent", v1).id == v1
    with pytest.raises(ModelError, match="has no version 'nope'"):
        registry.get("intent", "nope")


def test_deploy_refuses_a_corrupt_version_and_keeps_the_active_one(trained):
    project, (v1, v2, _) = trained
    registry = registry_of(project)
    registry.deploy("intent", v1, check=validate_model)
    weights = project.model_root() / "intent" / v2 / "linear_weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError):
        registry.deploy("intent", v2, check=validate_model)
    assert registry.active("intent").id == v1


def test_deploy_refuses_a_rejected_version(make_project, base_intents):
    # An intent with 2 examples gets no test example, so the coverage gate (1.0) fails.
    intents = {**base_intents, "thin": ["rare request one", "rare request two"]}
    project = intently.load_project(make_project(intents=intents, gates={"coverage": 1.0}))
    run = intently.train(project, write_reports=False)
    assert not run.passed
    with pytest.raises(ModelError, match="failed its quality gates"):
        registry_of(project).deploy("intent", run.version.id, check=validate_model)


def test_prune_keeps_active_rollback_target_and_newest(trained):
    project, (v1, v2, v3) = trained
    registry = registry_of(project)
    registry.deploy("intent", v1, check=validate_model)
    registry.deploy("intent", v2, check=validate_model)  # v1 is now the rollback target
    staging = project.model_root() / "intent" / ".staging-left-by-a-crash"
    staging.mkdir()
    removed = registry.prune("intent", keep=1)
    assert removed == []  # v1 (rollback target) and v2 (active) are protected, v3 is newest
    assert not staging.exists()
    # history: v1, v2 -> v2 is the rollback target now
    registry.deploy("intent", v3, check=validate_model)
    assert registry.prune("intent", keep=1) == [v1]
    assert [i.id for i in registry.versions("intent")] == [v2, v3]
    assert registry.pointer("intent").history == (v2,)


def test_diff_reports_metric_param_and_label_changes(trained):
    project, (v1, v2, _) = trained
    diff = registry_of(project).diff("intent", v1, v2)
    assert diff.same_data is True
    assert diff.labels_added == diff.labels_removed == ()
    assert "macro_f1" in diff.metrics
    assert diff.params == {}


def test_unreadable_pointer_is_a_clear_error(trained):
    project, (v1, _, _) = trained
    registry = registry_of(project)
    registry.deploy("intent", v1, check=validate_model)
    (project.model_root() / "intent" / POINTER_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="active pointer"):
        registry.active("intent")


def test_kill_9_during_deploys_never_leaves_a_broken_pointer(trained):
    """A process deploying back and forth is killed at random moments; after each kill the
    pointer names one of the two versions and that version loads."""
    project, (v1, v2, _) = trained
    script = textwrap.dedent(f"""
        from pathlib import Path
        from intently.registry import Registry
        registry = Registry(Path({str(project.model_root())!r}))
        registry.deploy("intent", {v1!r}, check=lambda path: None)
        print("deploying", flush=True)
        while True:
            for version in ({v2!r}, {v1!r}):
                registry.deploy("intent", version, check=lambda path: None)
    """)
    pointer_path = project.model_root() / "intent" / POINTER_FILE
    for delay in (0.0, 0.05, 0.15, 0.3):
        process = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        # Kill only once deploys are running, however long the interpreter took to start.
        assert process.stdout is not None and process.stdout.readline() == "deploying\n"
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
        data = json.loads(pointer_path.read_text(encoding="utf-8"))
        assert data["active"] in (v1, v2)
        classifier = intently.Classifier.load(project.model_root() / "intent" / data["active"])
        assert classifier.predict("where is my parcel").model_version == data["active"]
    leftovers = [p.name for p in pointer_path.parent.iterdir() if p.name.startswith(".active-")]
    # A kill between mkstemp and os.replace can leave a temp file; it is never read.
    assert all(name.endswith(".json") for name in leftovers)
