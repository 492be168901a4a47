"""``ModelPool``: one loaded :class:`~intently.runtime.Classifier` per task, hot-swapped.

Every worker process holds its own pool. :meth:`ModelPool.refresh` compares the registry's
pointer stamp (inode, mtime) of each task with the one it loaded; on a change it loads the new
active version — in a thread when called from the event loop — and only then replaces the
reference. A request that already holds the old classifier finishes with it; the next request
gets the new one. A version that fails to load is logged, remembered (it is not retried until
the pointer changes again) and the previous classifier keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from intently.errors import IntentlyError, ModelError
from intently.registry import Registry
from intently.runtime import Classifier
from intently.spec import require_task

logger = logging.getLogger("intently.server")

Stamp = tuple[int, int] | None
SwapHook = Callable[[str, str | None, str], None]  # (task, old version or None, new version)


@dataclass(frozen=True)
class TaskState:
    """What the pool knows about one task: the serving classifier and the last load problem."""

    classifier: Classifier | None
    stamp: Stamp
    problem: str | None = None


class ModelPool:
    """Classifiers of ``tasks``, loaded from ``registry``'s active versions."""

    def __init__(
        self,
        registry: Registry,
        tasks: tuple[str, ...],
        *,
        max_text_chars: int,
        runtime: str = "auto",
        precision: str = "auto",
        threads: int | None = None,
        on_swap: SwapHook | None = None,
    ):
        self.registry = registry
        self.tasks = tasks
        self.max_text_chars = max_text_chars
        self.runtime = runtime
        self.precision = precision
        self.threads = threads
        self.on_swap = on_swap
        self._states: dict[str, TaskState] = {task: TaskState(None, None) for task in tasks}
        self._lock = threading.Lock()  # one load at a time per pool; readers never take it
        self.swaps = 0

    # -- the hot path -------------------------------------------------------------------------

    def get(self, task: str) -> Classifier | None:
        state = self._states.get(task)
        return None if state is None else state.classifier

    def classifier(self, task: str) -> Classifier:
        """The serving classifier of ``task``, or ModelError when it has none."""
        state = self._states.get(task)
        if state is not None and state.classifier is not None:
            return state.classifier
        self.check_task(task)
        problem = "" if state is None or not state.problem else f" ({state.problem})"
        raise ModelError(
            f"task '{task}' has no deployed model{problem}.",
            hint="train one with `intently train`, then `intently models deploy <version>` "
            "(or POST /v1/models/{version}/deploy).",
        )

    def check_task(self, task: str) -> str:
        """``task`` when the project defines it; InputError naming the tasks otherwise."""
        return require_task(task, self.tasks)

    # -- loading ------------------------------------------------------------------------------

    def state(self, task: str) -> TaskState:
        return self._states[task]

    def refresh(self, task: str | None = None) -> list[str]:
        """Reload every task (or one) whose pointer changed; returns the tasks swapped."""
        swapped = []
        for name in self.tasks if task is None else (task,):
            if self._refresh_one(name):
                swapped.append(name)
        return swapped

    async def refresh_async(self) -> list[str]:
        """:meth:`refresh` without blocking the event loop: stamps are checked inline
        (one ``stat`` per task), loads run in a thread."""
        changed = [task for task in self.tasks if self._stamp(task) != self._states[task].stamp]
        if not changed:
            return []
        swapped = []
        for task in changed:
            if await asyncio.to_thread(self._refresh_one, task):
                swapped.append(task)
        return swapped

    def _stamp(self, task: str) -> Stamp:
        try:
            return self.registry.pointer_stamp(task)
        except OSError:
            return None

    def _refresh_one(self, task: str) -> bool:
        with self._lock:
            old = self._states[task]
            stamp = self._stamp(task)
            if stamp == old.stamp:
                return False
            if stamp is None:
                # The pointer disappeared (deleted by hand): keep serving what is loaded.
                self._states[task] = TaskState(old.classifier, None, old.problem)
                return False
            try:
                path = self.registry.active_path(task)
                if path is None:
                    raise ModelError(f"the active pointer of task '{task}' disappeared.")
                classifier = self._load(path)
            except Exception as exc:  # whatever a broken model raises, the old one keeps serving
                problem = str(exc) if isinstance(exc, IntentlyError) else repr(exc)
                serving = old.classifier.version.id if old.classifier else "nothing"
                logger.error(
                    "task %s: cannot load the newly active model (%s); still serving %s",
                    task,
                    problem,
                    serving,
                )
                self._states[task] = TaskState(old.classifier, stamp, problem)
                return False
            if old.classifier is not None and old.classifier.version.id == classifier.version.id:
                self._states[task] = TaskState(old.classifier, stamp, None)
                return False
            self._states[task] = TaskState(classifier, stamp, None)
            self.swaps += 1
            previous = old.classifier.version.id if old.classifier else None
            logger.info(
                "task %s: now serving %s (was %s)",
                task,
                classifier.version.id,
                previous or "nothing",
            )
        if self.on_swap is not None:
            self.on_swap(task, previous, classifier.version.id)
        return True

    def load_version(self, task: str, version: str) -> Classifier:
        """Load ``version`` of ``task`` the way the active one is loaded (an A/B challenger);
        the pool does not keep it."""
        return self._load(self.registry.get(task, version).path)

    def _load(self, path: Path) -> Classifier:
        classifier = Classifier.load(
            path,
            runtime=self.runtime,
            precision=self.precision,
            threads=self.threads,
            max_text_chars=self.max_text_chars,
        )
        try:
            classifier.predict("hello")  # warm up, and refuse a model that cannot predict
        except IntentlyError:
            raise
        except Exception as exc:
            raise ModelError(f"model {path.name} loads but fails to predict: {exc}.") from exc
        return classifier

    # -- readiness ----------------------------------------------------------------------------

    def not_ready(self) -> list[str]:
        """Why the pool is not ready: tasks whose active pointer is unreadable (a model loaded
        before may still answer, but which version should is unknown), and tasks with an
        active version but no loaded model."""
        reasons = []
        if not any(state.classifier is not None for state in self._states.values()):
            reasons.append("no task has a deployed model; deploy one with `intently models deploy`")
        for task, state in self._states.items():
            pointer_problem = self.registry.pointer_problem(task)
            if pointer_problem is not None:
                reasons.append(f"task '{task}': {pointer_problem} Deploy a version to replace it.")
                continue
            if state.classifier is not None:
                continue
            if self._stamp(task) is None:
                continue  # nothing deployed: not a readiness problem
            reasons.append(
                f"task '{task}' has an active version but no loaded model"
                + (f": {state.problem}" if state.problem else " yet")
            )
        return reasons

    def loaded(self) -> dict[str, str]:
        return {
            task: state.classifier.version.id
            for task, state in self._states.items()
            if state.classifier is not None
        }


async def poll_forever(pool: ModelPool, interval: float) -> None:
    """The lifespan task of every worker: pick up deploys made by other processes."""
    while True:
        await asyncio.sleep(interval)
        try:
            await pool.refresh_async()
        except Exception:  # never let the poller die; the next tick tries again
            logger.exception("model reload check failed")
