"""Hyperparameter studies with Optuna: cross-fitted objectives, shared storage, reports.

The search spaces come from the spec (``intently.spec.search_space``); a study lives in an
Optuna RDB storage that any number of worker processes share."""

from intently.tuning.result import StudyResult, TrialProgress, TrialRow
from intently.tuning.study import (
    STORAGE_FILE,
    create_study,
    default_storage,
    default_study_name,
    join_study,
    run_study,
)

__all__ = [
    "STORAGE_FILE",
    "StudyResult",
    "TrialProgress",
    "TrialRow",
    "create_study",
    "default_storage",
    "default_study_name",
    "join_study",
    "run_study",
]
