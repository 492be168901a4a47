"""How the service records its classify answers: one :class:`Recording` per worker.

It wraps the database's :class:`~intently.db.recorder.Recorder` (buffer, batches, spill file)
with the service's policy from the settings: recording on or off, tasks left out, redaction.
The classify routes call :meth:`Recording.record` after the answer is ready and put the id it
returns in the response as ``interaction_id``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from intently.db import Database, InteractionStore
from intently.db.interactions import new_interaction_id
from intently.db.recorder import Recorder, RecorderSettings
from intently.db.redaction import Redactor
from intently.server.settings import Settings

SPILL_DIR = Path(".intently") / "spill"


class Recording:
    """Records answers of every task but ``skip_tasks`` through ``recorder``."""

    def __init__(self, recorder: Recorder, skip_tasks: frozenset[str] = frozenset()):
        self.recorder = recorder
        self.skip_tasks = skip_tasks

    @classmethod
    def from_settings(cls, settings: Settings, database: Database, root: Path) -> Recording | None:
        """The recording the settings ask for, None when ``record`` is off."""
        if not settings.record:
            return None
        recorder = Recorder(
            InteractionStore(database),
            settings.record_spill_dir or root / SPILL_DIR,
            RecorderSettings(
                batch_size=settings.record_batch_size,
                interval_s=settings.record_flush_interval_s,
                max_buffer=settings.record_max_buffer,
            ),
            redact=Redactor.default(settings.redact_patterns) if settings.redact else None,
        )
        return cls(recorder, frozenset(settings.record_skip_tasks))

    def new_id(self, task: str) -> str | None:
        """A fresh interaction id for an answer of ``task``, None when it is not recorded.

        The routes take the id first, build the response with it and only then
        :meth:`record`: a response that failed to build is never recorded.
        """
        return None if task in self.skip_tasks else new_interaction_id()

    def record(
        self,
        interaction_id: str | None,
        task: str,
        text: str,
        prediction: Any,
        latency_ms: float,
        conversation_id: str | None = None,
        user_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Buffer one answer under the id :meth:`new_id` gave (nothing for None)."""
        if interaction_id is not None:
            self.recorder.record_prediction(
                interaction_id, task, text, prediction, latency_ms, conversation_id, user_id, extra
            )

    def start(self) -> None:
        self.recorder.start()

    def close(self) -> None:
        self.recorder.close()
