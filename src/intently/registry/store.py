"""Model directories on disk: ``models/<task>/<version>/`` written atomically.

A version directory holds ``metadata.json``, ``labels.json`` and the backend's own files. It is
assembled in a hidden temporary sibling and renamed into place in one step, so a crash mid-write
leaves no half-written version and never touches an existing one.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path

from intently._version import __version__
from intently.errors import ModelError, os_errors_as_storage_errors
from intently.runtime.model_files import fsync_dir, write_json
from intently.runtime.version import (
    LABELS_FILE,
    METADATA_FILE,
    ModelVersion,
    Status,
    read_version,
)

_TRACKED_LIBRARIES = ("numpy", "scipy", "scikit-learn", "onnxruntime", "torch", "transformers")


def library_versions() -> dict[str, str]:
    found = {"intently": __version__, "python": platform.python_version()}
    for name in _TRACKED_LIBRARIES:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def new_version_id(now: datetime | None = None) -> str:
    """Sortable by creation time: ``20261122T030512Z-3fa1``."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ")[:-4] + "Z-" + secrets.token_hex(2)


def write_version(
    task_dir: Path, version: ModelVersion, write_files: Callable[[Path], None]
) -> Path:
    """Create ``task_dir/<version.id>`` atomically; ``write_files`` fills the directory.

    A full disk or a missing permission is a StorageError, and nothing is left behind."""
    with os_errors_as_storage_errors(f"writing model version {version.id}"):
        return _write_version(task_dir, version, write_files)


def _write_version(
    task_dir: Path, version: ModelVersion, write_files: Callable[[Path], None]
) -> Path:
    task_dir.mkdir(parents=True, exist_ok=True)
    final = task_dir / version.id
    if final.exists():
        raise ModelError(
            f"model version {version.id} already exists in {task_dir}.",
            hint="versions are immutable; train again for a new version.",
        )
    staging = task_dir / f".staging-{version.id}"
    staging.mkdir()
    try:
        write_files(staging)
        write_json(staging / LABELS_FILE, list(version.labels))
        write_json(staging / METADATA_FILE, version.to_json())
        fsync_dir(staging)
        os.replace(staging, final)
        fsync_dir(task_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def list_versions(task_dir: Path) -> list[Path]:
    """Version directories of one task, oldest first (ids sort by creation time)."""
    if not task_dir.is_dir():
        return []
    return sorted(
        p
        for p in task_dir.iterdir()
        if p.is_dir()
        and not p.is_symlink()  # a link may point at another task's version or outside
        and not p.name.startswith(".")
        and (p / METADATA_FILE).exists()
    )


def latest_version(task_dir: Path, *, usable_only: bool = True) -> Path | None:
    """Newest version, skipping rejected ones unless ``usable_only`` is False."""
    for candidate in reversed(list_versions(task_dir)):
        if not usable_only:
            return candidate
        try:
            if read_version(candidate).status is not Status.REJECTED:
                return candidate
        except ModelError:
            continue
    return None
