"""Review services over the interaction store, shared by the HTTP routes and the CLI.

The store (:mod:`intently.db.interactions`) knows rows; this module adds what needs the
model registry: the labels a task knows (those of its active model version, its fallback
label, and labels reviewers proposed before), corrections checked against them, imports of
annotation files and dataset exports.

    labels = known_labels(registry, "intent")
    correct(store, registry, interaction_id, "refund", reviewer="ana")
    report = import_annotations(store, registry, read_annotations(path), reviewer="cli")
    export_dataset(store, stream, "label-studio", statuses=["pending"])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from intently.db.dataset import Annotation, write_records
from intently.db.interactions import InteractionRecord, InteractionStore
from intently.errors import UnknownLabel
from intently.registry import Registry


def known_labels(registry: Registry, task: str) -> set[str]:
    """The labels of ``task``'s active model version and its fallback label (empty when the
    task has no active version: then any label is accepted)."""
    info = registry.active(task)
    if info is None or info.version is None:
        return set()
    labels = set(info.version.labels)
    fallback = (info.version.fallback or {}).get("label")
    if fallback:
        labels.add(str(fallback))
    return labels


def correct(
    store: InteractionStore,
    registry: Registry,
    interaction_id: str,
    label: str,
    *,
    reviewer: str,
    note: str = "",
    new_label: bool = False,
) -> InteractionRecord:
    """:meth:`InteractionStore.correct` with the task's known labels checked."""
    record = store.require(interaction_id)
    labels = known_labels(registry, record.task) or None
    return store.correct(
        interaction_id, label, reviewer=reviewer, note=note, new_label=new_label, labels=labels
    )


@dataclass(frozen=True)
class ImportReport:
    """What an import did: approvals, corrections and ids the store does not have."""

    read: int
    approved: int
    corrected: int
    missing: tuple[str, ...] = field(default_factory=tuple)


def import_annotations(
    store: InteractionStore,
    registry: Registry,
    annotations: Sequence[Annotation],
    *,
    reviewer: str,
) -> ImportReport:
    """Apply ``annotations`` as reviews. Every label is checked before anything is written,
    so a file with one bad label changes nothing; ids the store does not have (pruned, or
    from another database) are skipped and listed."""
    labels: dict[str, set[str]] = {}
    records: dict[str, InteractionRecord] = {}
    missing = []
    for annotation in annotations:
        record = store.get(annotation.interaction_id)
        if record is None:
            missing.append(annotation.interaction_id)
            continue
        records[annotation.interaction_id] = record
        if record.task not in labels:
            labels[record.task] = known_labels(registry, record.task) | store.proposed_labels(
                record.task
            )
        known = labels[record.task]
        if known and not annotation.new_label and annotation.label not in known:
            raise UnknownLabel(
                f"{annotation.where or annotation.interaction_id}: '{annotation.label}' is not a "
                f"label of task '{record.task}'.",
                hint="use one of: " + ", ".join(sorted(known)) + '; or add "new_label": true '
                "to propose a new intent.",
            )
    approved = corrected = 0
    for annotation in annotations:
        if annotation.interaction_id not in records:
            continue
        updated = store.correct(
            annotation.interaction_id,
            annotation.label,
            reviewer=annotation.reviewer or reviewer,
            note=annotation.note,
            new_label=annotation.new_label,
        )
        if updated.review_status == "corrected":
            corrected += 1
        else:
            approved += 1
    return ImportReport(len(annotations), approved, corrected, tuple(missing))


def export_dataset(
    store: InteractionStore,
    stream: TextIO,
    fmt: str,
    *,
    task: str | None = None,
    statuses: Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the matching interactions to ``stream`` as ``fmt``; returns how many."""
    records = store.iter_records(
        task, statuses=None if statuses is None else list(statuses), since=since, until=until
    )
    return write_records(records, stream, fmt)


__all__ = [
    "ImportReport",
    "correct",
    "export_dataset",
    "import_annotations",
    "known_labels",
]
