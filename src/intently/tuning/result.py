"""Plain records of a study: what a front door shows and what a run report stores (no Optuna)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrialRow:
    """One trial as the progress display and the trial table show it."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING
    value: float | None
    params: dict[str, Any]
    seconds: float | None
    step: int | None = None  # last step reported (the fold, or 1000·fold + epoch)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "value": self.value,
            "seconds": self.seconds,
            "last_step": self.step,
            "params": self.params,
        }


@dataclass(frozen=True)
class TrialProgress:
    """Sent after each finished trial: that trial, and the best one so far."""

    trial: TrialRow
    best: TrialRow | None
    finished: int
    planned: int | None


@dataclass(frozen=True)
class StudyResult:
    """A finished (or stopped) study: the best parameters as a proposed ``training`` block.

    ``best_params`` are complete backend parameters (``training.params`` merged with the best
    trial's), ready to train with; ``storage`` is the URL with any password hidden."""

    study_name: str
    storage: str
    task: str
    backend: str
    metric: str
    folds: int
    best_value: float
    best_number: int
    best_params: dict[str, Any]
    trials: tuple[TrialRow, ...]
    seconds: float
    examples: int
    space: dict[str, Any] = field(default_factory=dict)
    storage_url: str = field(default="", repr=False)  # unmasked, to read the study back

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.trials:
            out[row.state] = out.get(row.state, 0) + 1
        return out

    def proposed_training(self, seed: int) -> dict[str, Any]:
        """The ``training:`` block to paste into the project file."""
        return {"training": {"backend": self.backend, "seed": seed, "params": self.best_params}}

    def to_json(self) -> dict[str, Any]:
        return {
            "study_name": self.study_name,
            "storage": self.storage,
            "task": self.task,
            "backend": self.backend,
            "metric": self.metric,
            "objective": f"{self.metric} of out-of-fold predictions, {self.folds}-fold "
            f"cross-fitting of {self.examples} train+valid examples (the test split unseen)",
            "best_value": self.best_value,
            "best_trial": self.best_number,
            "best_params": self.best_params,
            "counts": self.counts,
            "seconds": round(self.seconds, 2),
            "space": self.space,
            "trials": [row.to_json() for row in self.trials],
        }
