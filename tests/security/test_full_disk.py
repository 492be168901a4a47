"""Issue 8 defect 12: a full disk or a read-only filesystem gives one clear error (E900), leaves
nothing half-written, and the active version keeps serving.

The disk is real: a small tmpfs mounted over the project's models folder (root only; skipped
where mounting is not permitted).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import intently
from intently.deploy import validate_model
from intently.errors import StorageError
from intently.registry import Registry
from tiny_project import OOS_QUERIES, project_data


def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, f"intently-test-{uuid.uuid4().hex[:6]}", path],
        capture_output=True,
    )
    return result.returncode == 0


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A project whose models/ folder is a 2 MB filesystem; unmounted afterwards."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "intently.yaml").write_text(
        yaml.safe_dump(project_data(oos=OOS_QUERIES)), encoding="utf-8"
    )
    models = root / "models"
    if shutil.which("mount") is None or not _mount(models, "size=2m"):
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(models)], check=False)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as stream:
        try:
            while True:
                stream.write(b"\0" * 65536)
        except OSError:
            pass


def test_training_onto_a_full_disk_is_one_clear_error_and_leaves_nothing(small_disk):
    _fill(small_disk / "models")
    result = subprocess.run(
        [sys.executable, "-m", "intently.cli", "train", "-p", str(small_disk / "intently.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 4  # the documented exit code of storage failures
    assert "[E900]" in result.stderr and "disk is full" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    task_dir = small_disk / "models" / "intent"
    assert not task_dir.exists() or not any(task_dir.iterdir())  # no staging folder left


def test_deploy_onto_a_full_disk_keeps_the_active_version(small_disk):
    project = intently.load_project(small_disk / "intently.yaml")
    v1 = intently.train(project, write_reports=False, export=False).version.id
    v2 = intently.train(project, write_reports=False, export=False).version.id
    registry = Registry(project.model_root())
    registry.deploy("intent", v1, check=validate_model)
    _fill(small_disk / "models")
    with pytest.raises(StorageError, match="disk is full") as info:
        registry.deploy("intent", v2, check=validate_model)
    assert info.value.code == "E900"
    assert registry.pointer("intent").active == v1
    assert [p.name for p in (small_disk / "models" / "intent").glob(".active-*")] == []


def test_deploy_onto_a_read_only_filesystem_says_so(small_disk):
    project = intently.load_project(small_disk / "intently.yaml")
    v1 = intently.train(project, write_reports=False, export=False).version.id
    v2 = intently.train(project, write_reports=False, export=False).version.id
    registry = Registry(project.model_root())
    registry.deploy("intent", v1, check=validate_model)
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_disk / "models")], capture_output=True
    )
    if remount.returncode != 0:
        pytest.skip("remounting read-only is not permitted here")
    with pytest.raises(StorageError, match="read-only"):
        registry.deploy("intent", v2, check=validate_model)
    assert registry.pointer("intent").active == v1
