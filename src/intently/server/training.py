"""Training runs started over HTTP: one background thread per run, state in the database.

``TrainingRunStore.create`` refuses a second queued or running run of the same task, across
every worker process, so at most one run per task trains at a time. The thread runs
``pipeline.train`` with the progress lines going to the run's log, applies the project's deploy
policy (``auto_deploy``) and, when it deployed, swaps this worker's model at once; the other
workers pick the new version up on their next reload check.

Training is CPU-bound and shares the worker with request handling, so latency of that worker
rises while a run trains; start runs outside peak hours or on a separate instance.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from intently.db import TrainingRunRecord, TrainingRunStore
from intently.errors import IntentlyError
from intently.server.metrics import ServerMetrics
from intently.server.pool import ModelPool

logger = logging.getLogger("intently.server")

DEPLOY_KEY = "deploy"  # the deploy decision is stored next to the metrics of the run


class TrainingService:
    """Starts runs in daemon threads of this process and records them in ``store``."""

    def __init__(
        self,
        store: TrainingRunStore,
        project_path: Path,
        pool: ModelPool,
        metrics: ServerMetrics,
        *,
        write_reports: bool = True,
    ):
        self.store = store
        self.project_path = project_path
        self.pool = pool
        self.metrics = metrics
        self.write_reports = write_reports
        self._threads: dict[Any, threading.Thread] = {}

    def start(self, task: str) -> TrainingRunRecord:
        """Queue a run of ``task`` and start it; raises RunConflict when one is under way."""
        record = self.store.create(task)
        thread = threading.Thread(
            target=self._run,
            args=(record.id, task),
            name=f"intently-train-{record.id}",
            daemon=True,
        )
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        self._threads[record.id] = thread
        thread.start()
        return record

    def join(self, timeout: float | None = None) -> None:
        """Wait for this process's runs (tests; shutdown)."""
        for thread in list(self._threads.values()):
            thread.join(timeout)

    def _run(self, run_id: Any, task: str) -> None:
        from intently.deploy import auto_deploy
        from intently.pipeline import train
        from intently.spec import load_project

        status = "failed"
        try:
            self.store.mark_running(run_id)
            project = load_project(self.project_path)  # the file as it is now, edits included
            last_step: list[str] = []

            def progress(step: str, done: float) -> None:
                if last_step and last_step[-1] == step:
                    return  # one line per step, not one per tick
                last_step.append(step)
                self.store.append_log(run_id, f"{done:4.0%} {step}")

            run = train(project, task, progress=progress, write_reports=self.write_reports)
            verdict = "passed every gate" if run.passed else "failed a gate (kept as rejected)"
            self.store.append_log(run_id, f"trained {run.version.id}: {verdict}")
            decision = auto_deploy(project, task, version=run.version.id, passed=run.passed)
            self.store.append_log(
                run_id, f"{'deployed' if decision.deployed else 'not deployed'}: {decision.reason}"
            )
            if decision.deployed:
                self.pool.refresh(task)
            metrics: dict[str, Any] = dict(run.report.headline())
            metrics[DEPLOY_KEY] = {"deployed": decision.deployed, "reason": decision.reason}
            self.store.finish(run_id, version=run.version.id, passed=run.passed, metrics=metrics)
            status = "succeeded"
        except Exception as exc:  # every failure ends the run with its message, never silently
            message = str(exc) if isinstance(exc, IntentlyError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, IntentlyError):
                logger.exception("training run %s of task %s failed", run_id, task)
            try:
                self.store.fail(run_id, message)
            except Exception:
                logger.exception("could not record the failure of training run %s", run_id)
        finally:
            self.metrics.training_runs.labels(task, status).inc()
