"""The model registry of one project: versions per task, the active pointer, deploy/rollback.

Status is derived, never written into a version directory (versions stay immutable):
``active`` is the version the task's pointer names, ``retired`` a version that was active
before, ``rejected`` one that failed its gates, ``candidate`` any other.

The pointer ``models/<task>/active.json`` is replaced atomically (write a temporary file, fsync,
``os.replace``), so a reader — or a restart after ``kill -9`` mid-deploy — sees either the old
or the new version, never a broken one. Deploy and rollback run a ``check`` given by the
caller (``intently.deploy.validate_model`` loads and probes the model) before switching.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intently.errors import ModelError, did_you_mean
from intently.registry.store import ModelVersion, Status, list_versions, read_version

POINTER_FILE = "active.json"


@dataclass(frozen=True)
class Pointer:
    """Which version of a task serves, and which served before it (oldest first)."""

    active: str
    history: tuple[str, ...] = ()
    deployed_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "history": list(self.history),
            "deployed_at": self.deployed_at,
        }


@dataclass(frozen=True)
class VersionInfo:
    id: str
    path: Path
    status: Status
    version: ModelVersion | None
    problem: str | None = None

    @property
    def macro_f1(self) -> float | None:
        return None if self.version is None else self.version.metrics.get("macro_f1")


@dataclass(frozen=True)
class Comparison:
    """Candidate vs active macro-F1, both re-measured on the same evaluation set."""

    candidate: str
    active: str | None
    candidate_macro_f1: float | None
    active_macro_f1: float | None
    n_examples: int
    tolerance: float

    @property
    def improved_enough(self) -> bool:
        if self.active is None or self.active_macro_f1 is None:
            return True
        assert self.candidate_macro_f1 is not None
        return self.candidate_macro_f1 >= self.active_macro_f1 - self.tolerance - 1e-12


@dataclass(frozen=True)
class VersionDiff:
    a: str
    b: str
    params: dict[str, tuple[Any, Any]]
    metrics: dict[str, tuple[Any, Any]]
    labels_added: tuple[str, ...]
    labels_removed: tuple[str, ...]
    same_data: bool


class Registry:
    """Versions of every task under one models root (``<project>/models``)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def task_dir(self, task: str) -> Path:
        return self.root / task

    def tasks(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and list_versions(p))

    # -- reading ------------------------------------------------------------------------------

    def pointer(self, task: str) -> Pointer | None:
        path = self.task_dir(task) / POINTER_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Pointer(
                str(data["active"]),
                tuple(data.get("history", ())),
                str(data.get("deployed_at", "")),
            )
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ModelError(
                f"the active pointer {path} is unreadable ({exc}).",
                hint="deploy a version again with `intently models deploy`.",
            ) from None

    def pointer_stamp(self, task: str) -> tuple[int, int] | None:
        """Cheap change detector for hot swapping: (inode, mtime_ns) of the pointer file."""
        try:
            stat = (self.task_dir(task) / POINTER_FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def versions(self, task: str) -> list[VersionInfo]:
        """Every version of ``task``, oldest first, with its derived status."""
        pointer = self.pointer(task)
        infos = []
        for path in list_versions(self.task_dir(task)):
            try:
                version: ModelVersion | None = read_version(path)
                problem = None
            except ModelError as exc:
                version, problem = None, str(exc)
            infos.append(
                VersionInfo(path.name, path, _status(path.name, version, pointer), version, problem)
            )
        return infos

    def get(self, task: str, version_id: str) -> VersionInfo:
        infos = self.versions(task)
        for info in infos:
            if info.id == version_id:
                return info
        matches = [info for info in infos if info.id.startswith(version_id)]
        if len(matches) == 1:  # an unambiguous prefix is enough, like git
            return matches[0]
        known = [info.id for info in infos]
        raise ModelError(
            f"task '{task}' has no version '{version_id}'." + did_you_mean(version_id, known),
            hint="list versions with `intently models list`.",
        )

    def active(self, task: str) -> VersionInfo | None:
        pointer = self.pointer(task)
        return None if pointer is None else self.get(task, pointer.active)

    def active_path(self, task: str) -> Path | None:
        pointer = self.pointer(task)
        return None if pointer is None else self.task_dir(task) / pointer.active

    # -- changing -----------------------------------------------------------------------------

    def deploy(
        self, task: str, version_id: str, *, check: Callable[[Path], None]
    ) -> Pointer:
        """Make ``version_id`` active after ``check`` (which raises ModelError for a version
        that must not serve: ``intently.deploy.validate_model`` loads and probes it).

        A rejected version is refused; so is one that fails ``check``. On any failure the
        previously active version stays active.
        """
        info = self.get(task, version_id)
        if info.version is None:
            raise ModelError(
                f"version {info.id} cannot be deployed: {info.problem}",
                hint="the active version keeps serving; re-train.",
            )
        if info.status is Status.REJECTED:
            raise ModelError(
                f"version {info.id} failed its quality gates and cannot be deployed.",
                hint="fix the weak intents in its report and re-train.",
            )
        check(info.path)
        current = self.pointer(task)
        if current is not None and current.active == info.id:
            return current
        history = () if current is None else (*current.history, current.active)
        pointer = Pointer(
            info.id,
            tuple(h for h in history if h != info.id),
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self._write_pointer(task, pointer)
        return pointer

    def rollback(self, task: str, *, check: Callable[[Path], None]) -> Pointer:
        """Re-activate the version that was active before the current one."""
        current = self.pointer(task)
        if current is None or not current.history:
            raise ModelError(
                f"task '{task}' has no previous active version to roll back to.",
                hint="deploy a specific version with `intently models deploy`.",
            )
        previous = current.history[-1]
        path = self.task_dir(task) / previous
        if not path.is_dir():
            raise ModelError(
                f"the previous version {previous} no longer exists.",
                hint="deploy a specific version with `intently models deploy`.",
            )
        check(path)
        pointer = Pointer(
            previous, current.history[:-1], datetime.now(UTC).isoformat(timespec="seconds")
        )
        self._write_pointer(task, pointer)
        return pointer

    def prune(self, task: str, *, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions, never the active one or the rollback
        target; also clears staging folders a killed run left behind. Returns removed ids."""
        if keep < 1:
            raise ModelError(f"prune must keep at least 1 version; got {keep}.")
        pointer = self.pointer(task)
        protected = set() if pointer is None else {pointer.active, *pointer.history[-1:]}
        infos = self.versions(task)
        removable = [
            info for info in infos[: max(len(infos) - keep, 0)] if info.id not in protected
        ]
        for info in removable:
            shutil.rmtree(info.path)
        task_dir = self.task_dir(task)
        if task_dir.is_dir():
            for leftover in task_dir.glob(".staging-*"):
                shutil.rmtree(leftover, ignore_errors=True)
        if pointer is not None and removable:
            removed = {info.id for info in removable}
            kept_history = tuple(h for h in pointer.history if h not in removed)
            if kept_history != pointer.history:
                self._write_pointer(
                    task, Pointer(pointer.active, kept_history, pointer.deployed_at)
                )
        return [info.id for info in removable]

    def diff(self, task: str, a: str, b: str) -> VersionDiff:
        first, second = self.get(task, a), self.get(task, b)
        if first.version is None or second.version is None:
            raise ModelError(
                "cannot diff an unreadable version.", hint=first.problem or second.problem
            )
        va, vb = first.version, second.version
        return VersionDiff(
            a=first.id,
            b=second.id,
            params=_changed(va.params, vb.params),
            metrics={
                k: (va.metrics.get(k), vb.metrics.get(k))
                for k in sorted(set(va.metrics) | set(vb.metrics))
            },
            labels_added=tuple(sorted(set(vb.labels) - set(va.labels))),
            labels_removed=tuple(sorted(set(va.labels) - set(vb.labels))),
            same_data=va.dataset_fingerprint == vb.dataset_fingerprint,
        )

    def _write_pointer(self, task: str, pointer: Pointer) -> None:
        task_dir = self.task_dir(task)
        handle, temporary = tempfile.mkstemp(prefix=".active-", suffix=".json", dir=task_dir)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(pointer.to_json(), stream, indent=2)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, task_dir / POINTER_FILE)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(task_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _status(version_id: str, version: ModelVersion | None, pointer: Pointer | None) -> Status:
    if pointer is not None and version_id == pointer.active:
        return Status.ACTIVE
    if pointer is not None and version_id in pointer.history:
        return Status.RETIRED
    if version is None or version.status is Status.REJECTED:
        return Status.REJECTED
    return Status.CANDIDATE


def _changed(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
