"""The service's background loop: retrain checks on a schedule, snapshots, monitoring.

One daemon thread per worker. It wakes every ``tick_s`` (default 5 minutes) to store the
snapshots of finished hours and days and to call ``on_tick`` (the service refreshes its
monitoring gauges there), and every ``learning.check_every_minutes`` of the project file
(read afresh each time; 0 turns the check off) it runs :func:`~intently.loop.retrain.retrain_tasks`.
With several workers each runs this loop: the training-run lock lets one retrain per task
run at a time, and a snapshot is stored once whoever takes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from intently.db import Database
from intently.loop.monitor import take_snapshots
from intently.loop.retrain import RetrainOutcome, retrain_tasks
from intently.spec import load_project

logger = logging.getLogger("intently.loop")

TICK_S = 300.0


class LearningScheduler:
    """Runs :meth:`tick` every ``tick_s`` in a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        project_path: Path,
        database: Database,
        *,
        on_deploy: Callable[[str], None] | None = None,
        on_tick: Callable[[], None] | None = None,
        tick_s: float = TICK_S,
        clock: Callable[[], float] = time.monotonic,
        export: bool = True,
    ):
        self.project_path = project_path
        self.database = database
        self.on_deploy = on_deploy
        self.on_tick = on_tick
        self.tick_s = tick_s
        self.clock = clock
        self.export = export  # retrained versions get their ONNX export, as `intently train`
        self._last_check = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="intently-learning", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:  # the loop never dies; the next tick tries again
                logger.exception("learning loop tick failed")

    def tick(self) -> list[RetrainOutcome]:
        """One pass: snapshots, ``on_tick``, and the retrain check when it is due."""
        project = load_project(self.project_path)
        fallback = {task: project.fallback_for(task).label for task in project.task_names}
        take_snapshots(self.database, project.task_names, fallback_labels=fallback)
        if self.on_tick is not None:
            self.on_tick()
        every = project.learning.check_every_minutes * 60
        now = self.clock()
        if every <= 0 or now - self._last_check < every:
            return []
        self._last_check = now
        outcomes = retrain_tasks(
            self.project_path, self.database, export=self.export, on_deploy=self.on_deploy
        )
        for outcome in outcomes:
            if outcome.started:
                logger.info("retrain of task %s: %s", outcome.task, outcome.reason)
        return outcomes
