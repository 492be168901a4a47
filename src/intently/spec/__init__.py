"""The project file: pydantic models and their line-aware loading."""

from intently.spec.loader import DEFAULT_PROJECT_FILE, load_project, project_from_dict
from intently.spec.models import (
    DEFAULT_TASK,
    Agent,
    DatasetRef,
    DeploySpec,
    EntityValue,
    FallbackSpec,
    Gates,
    Intent,
    LabeledQuery,
    Project,
    TaskSpec,
    TrainingSpec,
)
from intently.spec.task_names import require_task

__all__ = [
    "DEFAULT_PROJECT_FILE",
    "DEFAULT_TASK",
    "Agent",
    "DatasetRef",
    "DeploySpec",
    "EntityValue",
    "FallbackSpec",
    "Gates",
    "Intent",
    "LabeledQuery",
    "Project",
    "TaskSpec",
    "TrainingSpec",
    "load_project",
    "project_from_dict",
    "require_task",
]
