"""Automatic retraining: enough new reviewed labels → one run → deployed only if not worse.

:func:`retrain_task` is the one code path of ``intently retrain``, the service's scheduled
check (:mod:`intently.loop.scheduler`) and the simulated-week benchmark:

1. count the reviewed answers of the task that no run has used yet; below the project's
   ``learning.retrain_after`` nothing happens (unless ``force``);
2. take the task's training-run lock (a ``training_runs`` row: one queued or running run per
   task across every process, :class:`~intently.db.TrainingRunStore`); a run under way means
   this check does nothing;
3. train on the project's examples plus every reviewed answer so far, feedback in the training
   part only (:mod:`intently.loop.feedback`);
4. apply deploy-if-improved: the new version and the active one are re-measured on the same
   held-out split (:func:`intently.deploy.deploy_version`); a version that fails a gate, is
   worse, or cannot be served stays a candidate and the active one keeps serving
   (``deploy.policy: manual`` keeps every retrained version a candidate, and so does an A/B
   test running on the task: the champion does not change under a test);
5. store the run with its decision (macro-F1 before and after, the reason, what the feedback
   added) and mark the new reviewed answers ``used_in_training``.

A run that fails (bad data, a backend error, a full disk) is recorded as failed with its
message; the registry is untouched, the active model keeps serving, and the reviewed answers
stay new, so the next check tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intently.data import Example
from intently.db import Database, RunConflict, TrainingRunRecord, TrainingRunStore
from intently.db.interactions import USED, InteractionStore
from intently.deploy import DeployDecision, deploy_version
from intently.errors import IntentlyError, ModelError
from intently.loop.ab import AbTestStore
from intently.loop.feedback import MergeResult, feedback_examples, merge_feedback
from intently.spec import Project, load_project

logger = logging.getLogger("intently.loop")

DEPLOY_KEY = "deploy"  # the key the service's run API reads the decision from
FEEDBACK_KEY = "feedback"


@dataclass(frozen=True)
class RetrainOutcome:
    """What one retrain check did."""

    task: str
    started: bool
    reason: str
    new_labels: int
    run: TrainingRunRecord | None = None
    version: str | None = None
    deployed: bool = False
    before: float | None = None  # macro-F1 of the active version, re-measured
    after: float | None = None  # macro-F1 of the new version on the same examples
    merge: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.run is not None and self.run.status.value == "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "started": self.started,
            "reason": self.reason,
            "new_labels": self.new_labels,
            "run": None if self.run is None else self.run.id,
            "status": None if self.run is None else self.run.status.value,
            "version": self.version,
            "deployed": self.deployed,
            "macro_f1_before": self.before,
            "macro_f1_after": self.after,
            "feedback": dict(self.merge),
        }


class _FirstMerge:
    """The ``merge_train`` hook that keeps the result of its first call: the train/held-out
    split itself (cross-validation folds, if any, come after it)."""

    def __init__(self, feedback: Sequence[Example]):
        self.feedback = tuple(feedback)
        self.first: MergeResult | None = None

    def __call__(
        self, train_part: Sequence[Example], held_out: Sequence[Example]
    ) -> tuple[Example, ...]:
        result = merge_feedback(train_part, held_out, self.feedback)
        if self.first is None:
            self.first = result
        return result.examples


def retrain_needed(project: Project, store: InteractionStore, task: str) -> tuple[bool, int, str]:
    """Whether ``task`` has enough new reviewed labels; (needed, how many, why)."""
    needed_count = project.learning.retrain_after
    new = store.count_reviewed(task)
    if new >= needed_count:
        return True, new, f"{new} new reviewed labels (retrain after {needed_count})"
    return False, new, f"{new} new reviewed labels; a retrain needs {needed_count}"


def retrain_task(
    project_path: Path,
    task: str,
    database: Database,
    *,
    force: bool = False,
    export: bool = True,
    write_reports: bool = False,
    on_deploy: Callable[[str], None] | None = None,
) -> RetrainOutcome:
    """Retrain ``task`` when it has enough new reviewed labels (always with ``force``).

    The project file is read afresh, so edits since the service started count. ``on_deploy``
    is called with the task after a new version was deployed (the service swaps its model).
    Raises only for a project file that cannot be read; a failed run is an outcome.
    """
    # Imported here: the service loads this module at start-up, and the training stack
    # (backends) is only needed when a run starts.
    from intently.pipeline import train

    project = load_project(project_path)
    project.check_task(task)
    store = InteractionStore(database)
    needed, new, why = retrain_needed(project, store, task)
    if not (needed or force):
        return RetrainOutcome(task, False, why, new)
    runs = TrainingRunStore(database)
    try:
        record = runs.create(task)
    except RunConflict as conflict:
        return RetrainOutcome(task, False, conflict.message, new)
    run_id = record.id
    try:
        runs.mark_running(run_id)
        runs.append_log(run_id, f"retrain: {why}" + (" (forced)" if force and not needed else ""))
        answers = store.reviewed(task, include_used=True)
        fresh = [answer.id for answer in answers if answer.review_status != USED]
        merge = _FirstMerge(feedback_examples(answers))
        result = train(
            project,
            task,
            progress=_step_logger(runs, run_id),
            write_reports=write_reports,
            export=export,
            merge_train=merge,
        )
        merged = merge.first.to_json() if merge.first is not None else {}
        runs.append_log(run_id, f"feedback: {merged}")
        decision = _decide(project, database, task, result.version.id, passed=result.passed)
        runs.append_log(
            run_id, f"{'deployed' if decision.deployed else 'not deployed'}: {decision.reason}"
        )
        if decision.deployed and on_deploy is not None:
            on_deploy(task)
        store.mark_used(fresh)
        comparison = decision.comparison
        before = None if comparison is None else comparison.active_macro_f1
        after = result.report.macro_f1  # the run's own score when nothing was re-measured
        if comparison is not None and comparison.candidate_macro_f1 is not None:
            after = comparison.candidate_macro_f1
        metrics: dict[str, Any] = dict(result.report.headline())
        metrics[DEPLOY_KEY] = {
            "deployed": decision.deployed,
            "reason": decision.reason,
            "macro_f1_before": before,
            "macro_f1_after": after,
            "measured_on": None if comparison is None else comparison.measured_on,
        }
        metrics[FEEDBACK_KEY] = {**merged, "new_labels": len(fresh), "trigger": why}
        finished = runs.finish(
            run_id, version=result.version.id, passed=result.passed, metrics=metrics
        )
    except Exception as exc:  # recorded, never raised: the active model keeps serving
        message = str(exc) if isinstance(exc, IntentlyError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, IntentlyError):
            logger.exception("retrain run %s of task %s failed", run_id, task)
        failed = runs.fail(run_id, message)
        return RetrainOutcome(task, True, f"the run failed: {message}", new, failed)
    return RetrainOutcome(
        task,
        True,
        decision.reason,
        new,
        finished,
        result.version.id,
        decision.deployed,
        before,
        after,
        merged,
    )


def _decide(
    project: Project, database: Database, task: str, version: str, *, passed: bool
) -> DeployDecision:
    """Deploy-if-improved, whatever the project's policy says, except ``manual``; never in
    the middle of an A/B test of the task (it would change the champion under the test)."""
    if not passed:
        return DeployDecision(False, "it failed a quality gate; the active version keeps serving")
    if project.deploy_for(task).policy == "manual":
        return DeployDecision(False, "the deploy policy is manual; deploy it by hand")
    running = AbTestStore(database).running(task)
    if running:
        return DeployDecision(
            False,
            f"A/B test {running[0].id} runs on task '{task}'; the new version stays a "
            "candidate (deploy it after the test, or test it next)",
        )
    try:
        return deploy_version(project, task, version, if_improved=True)
    except ModelError as error:
        return DeployDecision(False, f"deploy refused: {error.message}")


def _step_logger(runs: TrainingRunStore, run_id: str) -> Callable[[str, float], None]:
    last: list[str] = []

    def progress(step: str, done: float) -> None:
        if last and last[-1] == step:
            return  # one line per step, not one per tick
        last.append(step)
        runs.append_log(run_id, f"{done:4.0%} {step}")

    return progress


def retrain_tasks(
    project_path: Path,
    database: Database,
    tasks: Sequence[str] | None = None,
    *,
    force: bool = False,
    export: bool = True,
    on_deploy: Callable[[str], None] | None = None,
) -> list[RetrainOutcome]:
    """:func:`retrain_task` for each of ``tasks`` (default: every task of the project)."""
    names = tasks or load_project(project_path).task_names
    return [
        retrain_task(project_path, task, database, force=force, export=export, on_deploy=on_deploy)
        for task in names
    ]
