"""The learning loop inside the service: A/B experiments, monitoring and the scheduler,
built with the rest of the state and started and stopped by the app's lifespan."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from intently.loop.ab import AbTestStore
from intently.loop.scheduler import LearningScheduler
from intently.server.experiments import Experiments, watch_forever
from intently.server.monitoring import Monitoring

if TYPE_CHECKING:
    from intently.db import Database
    from intently.server.deps import ServerState
    from intently.server.metrics import ServerMetrics
    from intently.server.pool import ModelPool
    from intently.server.settings import Settings
    from intently.spec import Project


def learning_state(
    settings: Settings,
    project: Project,
    database: Database,
    pool: ModelPool,
    metrics: ServerMetrics,
) -> dict[str, Any]:
    """The ``experiments``, ``monitoring`` and ``learning`` fields of the ServerState."""
    monitoring = Monitoring(database, project, pool, metrics)
    return {
        "experiments": Experiments(AbTestStore(database), pool),
        "monitoring": monitoring,
        "learning": LearningScheduler(
            settings.project,
            database,
            on_deploy=lambda task: pool.refresh(task),
            on_tick=monitoring.update_gauges,
        ),
    }


async def start_learning(state: ServerState) -> list[asyncio.Task[None]]:
    """Load the running tests' challengers, start the scheduler; returns the tasks to cancel."""
    tasks: list[asyncio.Task[None]] = []
    if state.experiments is not None:
        await asyncio.to_thread(state.experiments.refresh)
        interval = state.settings.reload_interval_s
        tasks.append(asyncio.create_task(watch_forever(state.experiments, interval)))
    if state.learning is not None:
        state.learning.start()
    return tasks


def stop_learning(state: ServerState) -> None:
    if state.learning is not None:
        state.learning.stop()
