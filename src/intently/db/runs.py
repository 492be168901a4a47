"""Training runs started through the service: queued → running → succeeded | failed.

At most one run per task may be queued or running. The rule is a partial unique index on
``training_runs(task) WHERE status IN ('queued', 'running')``, so the check and the insert
are one atomic statement on SQLite and PostgreSQL alike: two processes racing to start the
same task cannot both win; the loser gets :class:`RunConflict`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intently.db.engine import Database
from intently.db.tables import ACTIVE_RUN_STATUSES, TrainingRun, utcnow
from intently.errors import RunConflict, RunNotFound

INTERRUPTED = "interrupted: the process running it stopped"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """Queued or running: the task cannot start another run."""
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass(frozen=True)
class TrainingRunRecord:
    id: str
    task: str
    status: RunStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    version: str | None
    passed: bool | None
    metrics: dict[str, Any] | None
    error: str | None
    log: str
    owner: str


def current_owner() -> str:
    """``host:pid`` of this process, recorded on the runs it starts."""
    return f"{socket.gethostname()}:{os.getpid()}"


def default_owner_alive(owner: str) -> bool:
    """Whether ``host:pid`` is a live process on this host (other hosts count as gone)."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return False
    return True


def _record(row: TrainingRun) -> TrainingRunRecord:
    return TrainingRunRecord(
        id=row.id,
        task=row.task,
        status=RunStatus(row.status),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        version=row.version,
        passed=row.passed,
        metrics=row.metrics,
        error=row.error,
        log=row.log or "",
        owner=row.owner,
    )


class TrainingRunStore:
    """Training runs in ``db`` (already migrated). Every method is one short transaction."""

    def __init__(self, db: Database):
        self.db = db

    def create(self, task: str, *, owner: str | None = None) -> TrainingRunRecord:
        """Queue a run of ``task`` owned by this process; :class:`RunConflict` if one is active."""
        row = TrainingRun(
            id=f"run_{secrets.token_hex(6)}",
            task=task,
            status=RunStatus.QUEUED.value,
            created_at=utcnow(),
            log="",
            owner=owner or current_owner(),
        )
        try:
            with self.db.session() as session:
                session.add(row)
                session.flush()
                record = _record(row)
        except IntegrityError as exc:
            active = self._active(task)
            raise RunConflict(
                f"task '{task}' already has a {active.status.value if active else 'active'} "
                f"training run{f' ({active.id})' if active else ''}.",
                hint="wait for that run to finish or fail, then start a new one.",
                run_id=active.id if active else None,
            ) from exc
        return record

    def mark_running(self, run_id: str) -> TrainingRunRecord:
        """Queued → running, owned by this process; RunConflict if it is no longer queued."""
        with self.db.session() as session:
            result = session.execute(
                update(TrainingRun)
                .where(TrainingRun.id == run_id, TrainingRun.status == RunStatus.QUEUED.value)
                .values(status=RunStatus.RUNNING.value, started_at=utcnow(), owner=current_owner())
            )
            row = self._row(session, run_id)
            if not result.rowcount:
                raise RunConflict(
                    f"training run {run_id} is {row.status}, not queued.", run_id=run_id
                )
            return _record(row)

    def append_log(self, run_id: str, line: str) -> None:
        """Add one line to the run's log (atomic append, no read)."""
        text = line if line.endswith("\n") else line + "\n"
        with self.db.session() as session:
            result = session.execute(
                update(TrainingRun)
                .where(TrainingRun.id == run_id)
                .values(log=TrainingRun.log + text)
            )
            if not result.rowcount:
                raise self._missing(run_id)

    def finish(
        self, run_id: str, *, version: str, passed: bool, metrics: dict[str, Any]
    ) -> TrainingRunRecord:
        """The run trained ``version``; ``passed`` says whether it met its quality gates."""
        with self.db.session() as session:
            row = self._row(session, run_id)
            row.status = RunStatus.SUCCEEDED.value
            row.finished_at = utcnow()
            row.started_at = row.started_at or row.finished_at
            row.version = version
            row.passed = bool(passed)
            row.metrics = dict(metrics)
            row.error = None
            session.flush()
            return _record(row)

    def fail(self, run_id: str, error: str) -> TrainingRunRecord:
        with self.db.session() as session:
            row = self._row(session, run_id)
            row.status = RunStatus.FAILED.value
            row.finished_at = utcnow()
            row.error = error
            session.flush()
            return _record(row)

    def get(self, run_id: str) -> TrainingRunRecord | None:
        with self.db.session() as session:
            row = session.get(TrainingRun, run_id)
            return _record(row) if row is not None else None

    def list(self, task: str | None = None, limit: int = 50) -> list[TrainingRunRecord]:
        """Newest first, optionally of one task."""
        query = select(TrainingRun).order_by(TrainingRun.created_at.desc(), TrainingRun.id.desc())
        if task is not None:
            query = query.where(TrainingRun.task == task)
        with self.db.session() as session:
            return [_record(row) for row in session.scalars(query.limit(max(0, int(limit))))]

    def recover_interrupted(self, owner_alive: Callable[[str], bool] | None = None) -> int:
        """Fail queued or running runs whose owner process is gone; returns how many.

        Call it at start-up. ``owner_alive(owner)`` decides; the default treats a run as alive
        only when its ``host:pid`` is this host and that process exists, so with several hosts
        sharing one database pass a check that knows about the other hosts.
        """
        alive = owner_alive if owner_alive is not None else default_owner_alive
        with self.db.session() as session:
            candidates = session.execute(
                select(TrainingRun.id, TrainingRun.owner).where(
                    TrainingRun.status.in_(ACTIVE_RUN_STATUSES)
                )
            ).all()
        gone = [run_id for run_id, owner in candidates if not alive(owner)]
        if not gone:
            return 0
        with self.db.session() as session:
            result = session.execute(
                update(TrainingRun)
                .where(TrainingRun.id.in_(gone), TrainingRun.status.in_(ACTIVE_RUN_STATUSES))
                .values(status=RunStatus.FAILED.value, finished_at=utcnow(), error=INTERRUPTED)
            )
            return int(result.rowcount or 0)

    # -- helpers ------------------------------------------------------------------------

    def _active(self, task: str) -> TrainingRunRecord | None:
        query = select(TrainingRun).where(
            TrainingRun.task == task, TrainingRun.status.in_(ACTIVE_RUN_STATUSES)
        )
        with self.db.session() as session:
            row = session.scalars(query).first()
            return _record(row) if row is not None else None

    def _row(self, session: Session, run_id: str) -> TrainingRun:
        row = session.get(TrainingRun, run_id)
        if row is None:
            raise self._missing(run_id)
        return row

    @staticmethod
    def _missing(run_id: str) -> RunNotFound:
        return RunNotFound(
            f"no training run '{run_id}'.", hint="list the runs to see which ids exist."
        )
