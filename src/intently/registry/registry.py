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

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intently.errors import ModelError, did_you_mean, os_errors_as_storage_errors
from intently.registry.store import ModelVersion, Status, list_versions, read_version
from intently.runtime.model_files import fsync_dir

POINTER_FILE = "active.json"
LOCK_FILE = ".lock"
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""Task and version names: one path segment, no traversal, no hidden or absolute paths."""


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
    def measured_on(self) -> str:
        if self.n_examples == 0:
            return "as recorded at training: the test split is too small to re-measure"
        return f"on {self.n_examples} common examples"

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


@dataclass(frozen=True)
class Switch:
    """What a deploy or rollback did: the new pointer, and what it had to step over."""

    pointer: Pointer
    skipped: tuple[tuple[str, str], ...] = ()
    """(version, why) of rollback targets that no longer load, newest first."""
    repaired: str | None = None
    """Why the previous pointer was discarded (it was unreadable), if it was."""


def check_name(name: str, what: str) -> str:
    """``name`` when it is a safe single path segment; ModelError otherwise."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ModelError(
            f"{what} name {name!r} is not allowed: use letters, digits, '_', '-' or '.' "
            "(one path segment, not starting with '.').",
            hint="task names come from the project file; version ids from `intently models list`.",
        )
    return name


class Registry:
    """Versions of every task under one models root (``<project>/models``).

    Every path it touches is resolved under the root: task and version names are single safe
    path segments, and version folders that are symbolic links are ignored (a link could point
    at another task's version, or outside the project).

    Deploy, rollback and prune change the pointer under an exclusive ``flock`` on
    ``models/<task>/.lock``, so concurrent processes never lose each other's updates. flock is
    advisory and per host; on a shared filesystem (NFS) every writer must run on hosts where the
    filesystem honours ``flock`` (Linux NFSv4 does), or deploys must come from one host.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    def task_dir(self, task: str) -> Path:
        path = self.root / check_name(task, "task")
        if path.is_symlink():
            raise ModelError(
                f"{path} is a symbolic link; the registry only uses folders under {self.root}.",
                hint="replace the link with a real folder.",
            )
        return path

    @contextmanager
    def _locked(self, task: str) -> Iterator[Path]:
        """Hold the task's exclusive pointer lock (across processes) for a read-modify-write."""
        task_dir = self.task_dir(task)
        with os_errors_as_storage_errors(f"locking the pointer of task '{task}'"):
            task_dir.mkdir(parents=True, exist_ok=True)
            handle = open(task_dir / LOCK_FILE, "a+b")  # noqa: SIM115  (held across the yield)
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield task_dir
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def tasks(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and SAFE_NAME.fullmatch(p.name)
            and list_versions(p)
        )

    # -- reading ------------------------------------------------------------------------------

    def pointer(self, task: str) -> Pointer | None:
        path = self.task_dir(task) / POINTER_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            history = data.get("history", [])
            if not isinstance(history, list):
                raise TypeError("history is not a list")
            pointer = Pointer(
                check_name(data["active"], "version"),
                tuple(check_name(h, "version") for h in history),
                str(data.get("deployed_at", "")),
            )
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError, ModelError) as exc:
            raise ModelError(
                f"the active pointer {path} is unreadable ({exc}).",
                hint="deploy a version again with `intently models deploy` (it replaces the "
                "broken pointer).",
            ) from None
        return pointer

    def pointer_problem(self, task: str) -> str | None:
        """Why the task's pointer cannot be read, or None when it can (or does not exist)."""
        try:
            self.pointer(task)
        except ModelError as error:
            return error.message
        return None

    def pointer_stamp(self, task: str) -> tuple[int, int] | None:
        """Cheap change detector for hot swapping: (inode, mtime_ns) of the pointer file."""
        try:
            stat = (self.task_dir(task) / POINTER_FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def versions(self, task: str) -> list[VersionInfo]:
        """Every version of ``task``, oldest first, with its derived status (statuses as if
        nothing were deployed when the pointer is unreadable: :meth:`pointer_problem` says)."""
        try:
            pointer = self.pointer(task)
        except ModelError:
            pointer = None
        infos = []
        for path in list_versions(self.task_dir(task)):
            try:
                version: ModelVersion | None = read_version(path)
                problem = None
            except ModelError as exc:
                version, problem = None, str(exc)
            if version is not None and version.task != task:
                problem = (
                    f"{path.name} was trained for task '{version.task}', not '{task}' "
                    "(a copied folder); it cannot serve this task."
                )
                version = None
            infos.append(
                VersionInfo(path.name, path, _status(path.name, version, pointer), version, problem)
            )
        return infos

    def get(self, task: str, version_id: str) -> VersionInfo:
        infos = self.versions(task)
        for info in infos:
            if info.id == version_id:
                return info
        matches = [info for info in infos if version_id and info.id.startswith(version_id)]
        if len(matches) == 1:  # an unambiguous prefix is enough, like git
            return matches[0]
        if len(matches) > 1:
            raise ModelError(
                f"'{version_id}' is ambiguous in task '{task}': it starts "
                f"{', '.join(info.id for info in matches)}.",
                hint="give more characters of the version id.",
            )
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
        if pointer is None:
            return None
        path = self.task_dir(task) / pointer.active
        if path.is_symlink():
            raise ModelError(
                f"the active version {path} is a symbolic link; refusing to serve it.",
                hint="deploy a real version folder with `intently models deploy`.",
            )
        return path

    # -- changing -----------------------------------------------------------------------------

    def deploy(self, task: str, version_id: str, *, check: Callable[[Path], None]) -> Switch:
        """Make ``version_id`` active after ``check`` (which raises ModelError for a version
        that must not serve: ``intently.deploy.validate_model`` loads and probes it).

        A rejected, unreadable, foreign or symlinked version is refused; so is one that fails
        ``check``. On any failure the previously active version stays active. An unreadable
        pointer is replaced (its history is lost, and the result says so).
        """
        info = self.get(task, version_id)
        self._check_servable(task, info)
        check(info.path)
        with self._locked(task):
            repaired = self.pointer_problem(task)
            current = None if repaired else self.pointer(task)
            if current is not None and current.active == info.id:
                return Switch(current)
            history = () if current is None else (*current.history, current.active)
            pointer = Pointer(
                info.id,
                tuple(h for h in history if h != info.id),
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
            self._write_pointer(task, pointer)
        return Switch(pointer, repaired=repaired)

    def rollback(self, task: str, *, check: Callable[[Path], None]) -> Switch:
        """Re-activate the newest previously active version that still loads (``check``);
        versions whose folder is gone or that fail the check are skipped, and the result
        names them."""
        with self._locked(task):
            current = self.pointer(task)
            if current is None or not current.history:
                raise ModelError(
                    f"task '{task}' has no previous active version to roll back to.",
                    hint="deploy a specific version with `intently models deploy`.",
                )
            skipped: list[tuple[str, str]] = []
            for position in range(len(current.history) - 1, -1, -1):
                previous = current.history[position]
                try:
                    info = self.get(task, previous)
                    self._check_servable(task, info)
                    check(info.path)
                except ModelError as error:
                    skipped.append((previous, error.message))
                    continue
                pointer = Pointer(
                    previous,
                    current.history[:position],
                    datetime.now(UTC).isoformat(timespec="seconds"),
                )
                self._write_pointer(task, pointer)
                return Switch(pointer, tuple(skipped))
        raise ModelError(
            f"none of the previous versions of task '{task}' can serve: "
            + "; ".join(f"{version}: {why}" for version, why in skipped),
            hint=f"{current.active} stays active; deploy a specific version with "
            "`intently models deploy`.",
        )

    def _check_servable(self, task: str, info: VersionInfo) -> None:
        if info.path.is_symlink():
            raise ModelError(
                f"version {info.id} is a symbolic link; only real folders under "
                f"{self.task_dir(task)} can be deployed.",
                hint="copy the version folder instead of linking it, or re-train.",
            )
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

    def prune(self, task: str, *, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions, never the active one or the rollback
        target; also clears staging folders a killed run left behind. Returns removed ids."""
        if keep < 1:
            raise ModelError(f"prune must keep at least 1 version; got {keep}.")
        with self._locked(task):
            return self._prune(task, keep)

    def _prune(self, task: str, keep: int) -> list[str]:
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
        with os_errors_as_storage_errors(f"switching task '{task}' to version {pointer.active}"):
            self._replace_pointer(task, pointer)

    def _replace_pointer(self, task: str, pointer: Pointer) -> None:
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
        fsync_dir(task_dir)


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
