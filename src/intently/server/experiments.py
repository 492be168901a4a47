"""The running A/B tests of one worker, with each challenger model loaded next to its champion.

:meth:`Experiments.refresh` reads the running tests from the database (at start-up, every
reload interval, and at once after this worker starts or ends one) and loads each new
challenger the way the pool loads models; a challenger that fails to load is logged and its
test leaves this worker's traffic to the champion. The classify routes ask :meth:`get` (one
dict lookup) and, when a test runs, :meth:`LiveTest.pick` chooses the answering model and
:meth:`LiveTest.shadow` asks the challenger in shadow mode. Both go into the recorded
interaction (``arm``, ``ab_test_id``, ``shadow``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intently.loop.ab import AbTestRecord, AbTestStore, Arm, Mode, route
from intently.runtime import Classifier, Prediction
from intently.server.pool import ModelPool

logger = logging.getLogger("intently.server")


@dataclass(frozen=True)
class LiveTest:
    test: AbTestRecord
    challenger: Classifier

    def pick(
        self, champion: Classifier, user_id: str | None, conversation_id: str | None
    ) -> tuple[Classifier, dict[str, Any]]:
        """The classifier that answers this request, and the columns to record with it."""
        arm = route(self.test, user_id, conversation_id)
        chosen = self.challenger if arm is Arm.CHALLENGER else champion
        return chosen, {"arm": arm.value, "ab_test_id": self.test.id}

    @property
    def shadows(self) -> bool:
        return self.test.mode is Mode.SHADOW

    def shadow(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """The challenger's answers to ``texts`` as recorded in ``interactions.shadow``."""
        if len(texts) == 1:  # the one-text path is several times faster than a batch of one
            return [_shadow_json(self.challenger.predict(texts[0]))]
        return [_shadow_json(p) for p in self.challenger.predict_batch(list(texts))]


def _shadow_json(prediction: Prediction) -> dict[str, Any]:
    return {
        "label": prediction.label,
        "confidence": prediction.confidence,
        "fallback": prediction.fallback,
        "model_version": prediction.model_version,
    }


class Experiments:
    """The running tests of this worker's tasks."""

    def __init__(self, store: AbTestStore, pool: ModelPool):
        self.store = store
        self.pool = pool
        self._live: dict[str, LiveTest] = {}
        self._lock = threading.Lock()

    def get(self, task: str) -> LiveTest | None:
        return self._live.get(task)

    def refresh(self) -> None:
        """Load the challengers of newly running tests and drop ended ones (blocking)."""
        with self._lock:
            running = {t.task: t for t in self.store.running() if t.task in self.pool.tasks}
            live: dict[str, LiveTest] = {}
            for task, test in running.items():
                current = self._live.get(task)
                if current is not None and current.test.id == test.id:
                    live[task] = current
                    continue
                try:
                    challenger = self.pool.load_version(task, test.challenger_version)
                except Exception as exc:  # the champion keeps answering everything
                    logger.error("A/B test %s: cannot load challenger (%s)", test.id, exc)
                    continue
                live[task] = LiveTest(test, challenger)
                logger.info("A/B test %s of task %s is live (%s)", test.id, task, test.mode.value)
            self._live = live


async def watch_forever(experiments: Experiments, interval: float) -> None:
    """The lifespan task of every worker: tests started or ended by other processes."""
    failing = False
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(experiments.refresh)
        except Exception as exc:  # the database may be away; the next tick tries again
            if not failing:  # once per outage, not once per interval
                logger.error("A/B test refresh failed (%s); the loaded tests keep running", exc)
            failing = True
        else:
            failing = False
