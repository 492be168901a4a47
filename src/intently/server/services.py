"""What the model and training routes do, as plain functions over :class:`ServerState`.

They block (disk, model loading, evaluation), so routes call them in the thread pool. Each
turns the registry's ``ModelError`` into the HTTP status that fits the situation: an unknown
version is 404, a refused deploy or rollback is 409 and the active version keeps serving
(a disk that cannot be written is a StorageError, 507 through the error handlers).
"""

from __future__ import annotations

from typing import Any

from intently.errors import DataError, ModelError, SpecError
from intently.registry import VersionInfo
from intently.runtime import Classifier
from intently.server.deps import ServerState
from intently.server.errors import ApiError, conflict, not_found
from intently.server.training import DEPLOY_KEY


def model_public(info: VersionInfo, task: str, serving: Classifier | None) -> dict[str, Any]:
    v = info.version
    loaded = serving is not None and info.id == serving.version.id
    return {
        "id": info.id,
        "task": task,
        "status": info.status.value,
        "backend": v.backend if v else None,
        "labels": list(v.labels) if v else [],
        "metrics": dict(v.metrics) if v else {},
        "created_at": v.created_at if v else None,
        "parent": v.parent if v else None,
        "problem": info.problem,
        "loaded": loaded,
        "runtime": serving.runtime if loaded and serving else None,
        "precision": serving.precision if loaded and serving else None,
    }


def list_models(state: ServerState, task: str) -> dict[str, Any]:
    infos = state.registry.versions(task)
    serving = state.pool.get(task)
    active = next((info.id for info in infos if info.status.value == "active"), None)
    return {
        "task": task,
        "active": active,
        "problem": state.registry.pointer_problem(task),
        "versions": [model_public(info, task, serving) for info in infos],
    }


def deploy_model(
    state: ServerState, task: str, version: str, *, if_improved: bool
) -> dict[str, Any]:
    from intently.deploy import deploy_version
    from intently.spec import load_project

    try:
        info = state.registry.get(task, version)
    except ModelError as error:
        raise not_found(error.message, error.hint) from None
    try:
        # deploy-if-improved re-measures on the current data: the project file as it is now
        project = load_project(state.settings.project) if if_improved else state.project
        decision = deploy_version(project, task, info.id, if_improved=if_improved)
    except (ModelError, SpecError, DataError) as error:
        # a version that must not serve, or (if_improved) project data that cannot measure it
        raise ApiError.from_error(409, error) from None
    if decision.deployed:
        state.pool.refresh(task)  # this worker serves it now; the others within one interval
    c = decision.comparison
    return {
        "task": task,
        "deployed": decision.deployed,
        "reason": decision.reason,
        "active": _active(state, task),
        "comparison": None
        if c is None
        else {
            "candidate": c.candidate,
            "active": c.active,
            "candidate_macro_f1": c.candidate_macro_f1,
            "active_macro_f1": c.active_macro_f1,
            "n_examples": c.n_examples,
            "tolerance": c.tolerance,
        },
    }


def rollback_model(state: ServerState, task: str) -> dict[str, Any]:
    from intently.deploy import rollback_task

    try:
        switch = rollback_task(state.registry, task)
    except ModelError as error:
        raise conflict(error.message, error.hint) from None
    state.pool.refresh(task)
    reason = f"rolled back: {switch.pointer.active} is active again"
    if switch.skipped:
        reason += " (skipped " + "; ".join(f"{v}: {why}" for v, why in switch.skipped) + ")"
    return {
        "task": task,
        "deployed": True,
        "reason": reason,
        "active": switch.pointer.active,
        "comparison": None,
    }


def readiness(state: ServerState) -> list[str]:
    """Why this worker is not ready; empty when it is. Reads each task's pointer and stats the
    database file, so routes call it in the thread pool."""
    problems = state.pool.not_ready()
    database = state.database.file_problem()
    if database is not None:
        problems.append(database)
    return problems


def _active(state: ServerState, task: str) -> str | None:
    pointer = state.registry.pointer(task)
    return None if pointer is None else pointer.active


def run_public(record: Any) -> dict[str, Any]:
    """A TrainingRunRecord as the API shows it: the deploy decision split from the metrics."""
    metrics = dict(getattr(record, "metrics", None) or {})
    deploy = metrics.pop(DEPLOY_KEY, None)
    log = getattr(record, "log", None) or []
    if isinstance(log, str):
        log = log.splitlines()
    status = record.status
    return {
        "id": record.id,
        "task": record.task,
        "status": getattr(status, "value", status),
        "created_at": _iso(record.created_at),
        "started_at": _iso(record.started_at),
        "finished_at": _iso(record.finished_at),
        "version": record.version,
        "passed": record.passed,
        "metrics": metrics,
        "deploy": deploy,
        "error": record.error,
        "log": list(log),
    }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


def get_run(state: ServerState, run_id: Any) -> dict[str, Any]:
    record = state.runs.get(run_id)
    if record is None:
        raise not_found(f"no training run {run_id}.", "list runs with GET /v1/training/runs.")
    return run_public(record)
