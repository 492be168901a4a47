"""Gather a task's examples from the project file and its datasets, then build a Dataset."""

from __future__ import annotations

from intently.data import (
    Dataset,
    Example,
    ValidationReport,
    clean_examples,
    read_examples,
    stratified_split,
    validate_examples,
)
from intently.errors import DataError, SpecError, did_you_mean
from intently.generate import definition_examples
from intently.spec import DEFAULT_TASK, Project


def collect_examples(project: Project, task: str = DEFAULT_TASK) -> list[Example]:
    """Raw (uncleaned) examples of ``task``: definitions first, then each dataset file."""
    if task not in project.task_names:
        raise SpecError(
            f"unknown task '{task}'.{did_you_mean(task, project.task_names)}",
            where=None,
            hint=f"tasks in this project: {', '.join(project.task_names)}.",
        )
    examples = definition_examples(project) if task == DEFAULT_TASK else []
    for ref in project.datasets:
        if ref.task == task:
            examples.extend(read_examples(project.resolve(ref.path)))
    return examples


def defined_labels(project: Project, task: str) -> tuple[str, ...] | None:
    """Labels the project declares for ``task``; None means 'whatever the data holds'."""
    if task == DEFAULT_TASK and project.intents:
        return tuple(project.intents)
    return project.task(task).labels


def validate_task(
    project: Project, task: str = DEFAULT_TASK
) -> tuple[ValidationReport, tuple[Example, ...]]:
    """Clean and validate ``task``'s examples; returns the report and the cleaned examples."""
    cleaned = clean_examples(collect_examples(project, task))
    report = validate_examples(
        task,
        cleaned.examples,
        defined_labels=defined_labels(project, task),
        fallback_label=project.fallback_for(task).label,
        cleaning=cleaned.findings,
    )
    return report, cleaned.examples


def build_dataset(project: Project, task: str = DEFAULT_TASK) -> Dataset:
    """Cleaned, validated, split examples; raises DataError when validation finds errors."""
    report, examples = validate_task(project, task)
    if report.errors:
        listed = "; ".join(f.message for f in report.errors[:5])
        more = f" (+{len(report.errors) - 5} more)" if len(report.errors) > 5 else ""
        raise DataError(
            f"task '{task}' has data errors: {listed}{more}.",
            where=None,
            hint=f"run `intently data validate --task {task}` for the full report.",
        )
    training = project.training_for(task)
    train, valid, test = stratified_split(examples, training.split, seed=training.seed)
    return Dataset(
        task=task,
        train=train,
        valid=valid,
        test=test,
        labels=tuple(sorted(report.counts)),
        findings=report.findings,
    )
