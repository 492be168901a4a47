"""Studies on the tiny project: SQLite storage, pruning (per fold and per epoch), the study's
files, continuing a study, refusing a foreign one, and two processes sharing PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import optuna
import pytest

from intently.backends import base
from intently.backends.base import notify_epoch
from intently.errors import StudyStorageError, TuningError
from intently.spec import load_project
from intently.spec.search_space import Range
from intently.tuning import StudyResult, join_study, run_study
from intently.tuning.objective import EPOCH_STEP, Objective
from intently.tuning.report import (
    HISTORY_PLOT,
    IMPORTANCE_PLOT,
    PROPOSED_FILE,
    TRIALS_FILE,
    write_study_files,
)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StudyResult]:
    """Ten trials of the linear backend on the tiny project, in its default SQLite file."""
    import yaml

    from tiny_project import project_data

    root = tmp_path_factory.mktemp("study")
    (root / "intently.yaml").write_text(yaml.safe_dump(project_data()), encoding="utf-8")
    return root, run_study(load_project(root / "intently.yaml"), trials=10)


def test_a_study_runs_in_the_project_sqlite_file_and_starts_from_the_current_params(tiny_study):
    root, result = tiny_study
    assert (root / ".intently" / "optuna.db").is_file()
    assert result.storage == f"sqlite:///{root / '.intently' / 'optuna.db'}"
    assert result.counts.get("COMPLETE", 0) + result.counts.get("PRUNED", 0) == 10
    assert result.folds == 5 and result.examples == 40  # train + valid; the test split unseen
    first = result.trials[0]
    assert first.params["C"] == 1.0 and first.params["word_ngrams"] == "[1, 2]"  # the defaults
    best = max(t.value for t in result.trials if t.state == "COMPLETE")
    assert result.best_value == best >= first.value
    assert result.best_params["word_ngrams"] in ([1, 1], [1, 2], [1, 3])


def test_poor_trials_are_pruned_after_a_fold(tiny_study):
    _, result = tiny_study
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned, [(t.state, t.value) for t in result.trials]
    assert all(t.step is not None and t.step < 5 for t in pruned)  # stopped before fold 5


def test_the_study_files_hold_the_proposed_block_the_table_and_plots(tiny_study, tmp_path):
    import yaml

    _, result = tiny_study
    written = {p.name for p in write_study_files(result, tmp_path, seed=13)}
    assert {PROPOSED_FILE, TRIALS_FILE, HISTORY_PLOT, IMPORTANCE_PLOT} <= written
    proposed = yaml.safe_load((tmp_path / PROPOSED_FILE).read_text())
    assert proposed["training"]["params"] == result.best_params
    assert (tmp_path / HISTORY_PLOT).read_bytes()[:4] == b"\x89PNG"
    rows = (tmp_path / TRIALS_FILE).read_text().splitlines()
    assert len(rows) == 1 + len(result.trials) and rows[0].startswith("number,state,value")


def test_a_study_continues_and_a_worker_with_other_data_is_refused(tiny_study, make_project):
    root, result = tiny_study
    project = load_project(root / "intently.yaml")
    more = run_study(project, trials=11)
    assert more.study_name == result.study_name and len(more.trials) >= 11
    other = load_project(make_project(intents={"a": ["x one", "x two"], "b": ["y one", "y 2"]}))
    with pytest.raises(TuningError, match=r"another .*dataset_fingerprint"):
        join_study(other, storage=more.storage, study_name=more.study_name, trials=1)
    with pytest.raises(StudyStorageError, match="no study 'nope'"):
        join_study(project, storage=more.storage, study_name="nope", trials=1)


class EpochBackend:
    """An iterative stand-in: each epoch reports a validation score equal to ``quality``."""

    name: ClassVar[str] = "epochs"

    def __init__(self, *, quality: float = 0.5, seed: int = 13):
        self.quality = quality
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {"quality": self.quality, "seed": self.seed}

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        weights: np.ndarray | None = None,
        *,
        valid: Any = None,
        progress: Any = None,
    ) -> Self:
        for epoch in range(1, 4):
            notify_epoch(progress, epoch, self.quality)
        self.classes_ = tuple(sorted(set(labels)))
        self.validation_proba_ = None
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.full((len(texts), len(self.classes_)), 1 / len(self.classes_))


def test_an_iterative_backend_is_pruned_between_epochs(base_intents):
    from intently.data import Example

    base.register_backend("epochs", lambda: EpochBackend)  # type: ignore[arg-type, return-value]
    try:
        examples = tuple(
            Example(text, label, weight=1.0)
            for label, texts in base_intents.items()
            for text in texts
        )
        objective = Objective(
            examples=examples,
            backend="epochs",
            base_params={},
            space={"quality": Range(0.0, 1.0)},
            folds=2,
        )
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=1),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=4),
        )
        study.optimize(objective, n_trials=15)
    finally:
        del base._BACKENDS["epochs"]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(EPOCH_STEP < t.last_step < 2 * EPOCH_STEP for t in pruned)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_worker_processes_share_a_postgresql_study(database_url, make_project):
    project = load_project(make_project())
    # both processes start together and import alike; 6 trials of ~1 s leave each some
    result = run_study(project, trials=6, storage=database_url, workers=2)
    finished = [t for t in result.trials if t.state in ("COMPLETE", "PRUNED")]
    assert len(finished) >= 6
    study = optuna.load_study(study_name=result.study_name, storage=database_url)
    workers = {t.user_attrs["worker"] for t in study.trials if "worker" in t.user_attrs}
    assert len(workers) == 2, workers
    assert json.loads(json.dumps(result.best_params)) == result.best_params
