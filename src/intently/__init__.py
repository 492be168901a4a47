"""Intently: agent and intent definitions in, fast evaluated intent classifiers out."""

from intently._version import __version__
from intently.errors import (
    DataError,
    GateFailure,
    InputError,
    IntentlyError,
    ModelError,
    SpecError,
    TrainingError,
)
from intently.pipeline import TrainingRun, train
from intently.runtime import Classifier, Prediction
from intently.spec import Project, load_project

__all__ = [
    "Classifier",
    "DataError",
    "GateFailure",
    "InputError",
    "IntentlyError",
    "ModelError",
    "Prediction",
    "Project",
    "SpecError",
    "TrainingError",
    "TrainingRun",
    "__version__",
    "load_project",
    "train",
]
