"""``intently data label FILE --llm``: a project's task, a file of texts, an LLM, and outputs.

Reads the texts (JSONL with a ``text`` field, CSV with a ``text`` column, or one per line),
labels them (:func:`~intently.labeling.llm_label.label_texts`), writes the agreements as a
dataset of ``llm_labeled`` examples and sends the disagreements to the review queue of the
learning-loop store (``intently review``) when a database is given, else to a JSONL file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from intently.collect import defined_labels, validate_task
from intently.curation.llm_client import ChatClient
from intently.data.io import read_text_records, text_format_of, write_examples
from intently.errors import DataError, Location, os_errors_as_storage_errors
from intently.labeling.llm_label import (
    DEFAULT_PER_REQUEST,
    LabeledText,
    LabelingResult,
    label_texts,
)
from intently.registry import Registry, latest_version
from intently.runtime import Classifier
from intently.spec import Project

REVIEW_RUNTIME = "llm_label"
"""``runtime`` of review-queue rows that come from LLM labeling (the model's answer is the
row's label; ``shadow`` holds the LLM's)."""


@dataclass(frozen=True)
class LabelingRun:
    result: LabelingResult
    examples_path: Path
    disagreements_path: Path | None
    """The JSONL of disagreements and invalid answers (None when they went to the queue)."""
    queued: int
    """Rows added to the review queue (0 when already there from an earlier run)."""
    bad_records: tuple[str, ...]


def task_labels(project: Project, task: str) -> dict[str, str]:
    """The task's labels with their descriptions (the fallback label left out)."""
    fallback = project.fallback_for(task).label
    labels = defined_labels(project, task)
    if labels is None:
        _, examples = validate_task(project, task)
        labels = tuple(sorted({e.label for e in examples}))
    described = {name: intent.description for name, intent in project.intents.items()}
    return {name: described.get(name, "") for name in labels if name != fallback}


def task_classifier(project: Project, task: str) -> Classifier | None:
    """The task's active version; before any deploy its newest usable one; None if none."""
    root = project.model_root()
    path = Registry(root).active_path(task) or latest_version(root / task)
    return None if path is None else Classifier.load(path)


def read_texts(path: Path) -> tuple[list[tuple[int | None, str]], tuple[str, ...]]:
    """``(line, text)`` of every usable record of ``path``, and a note per unusable one."""
    texts: list[tuple[int | None, str]] = []
    bad: list[str] = []
    with os_errors_as_storage_errors(f"reading {path}"), path.open("rb") as stream:
        for record in read_text_records(stream, text_format_of(path), name=path):
            if record.text is None:
                bad.append(f"{Location(path, record.line)}: {record.problem}")
            else:
                texts.append((record.line, record.text))
    if not texts:
        raise DataError("the file holds no text to label.", where=Location(path))
    return texts, tuple(bad)


def review_id(task: str, text: str) -> str:
    """A stable interaction id for a disagreement: relabeling a file queues nothing twice."""
    return hashlib.sha256(f"llm_label\0{task}\0{text}".encode()).hexdigest()[:32]


def _queue(database_url: str, task: str, items: list[LabeledText], result: LabelingResult) -> int:
    from intently.db import Database, InteractionRecord, InteractionStore

    db = Database(database_url)
    try:
        db.migrate()
        return InteractionStore(db).add_many(
            InteractionRecord(
                id=review_id(task, item.text),
                task=task,
                text=item.text,
                label=item.model_label or "",
                confidence=item.model_confidence or 0.0,
                ranking=item.model_ranking,
                model_version=result.model_version or "",
                runtime=REVIEW_RUNTIME,
                shadow={
                    "source": "llm_label",
                    "llm_model": result.llm_model,
                    "llm_label": item.llm_label,
                    "llm_answer": item.llm_answer,
                },
            )
            for item in items
        )
    finally:
        db.dispose()


def label_file(
    project: Project,
    task: str,
    path: Path,
    *,
    client: ChatClient,
    out: Path,
    disagreements: Path,
    database_url: str | None = None,
    use_model: bool = True,
    per_request: int = DEFAULT_PER_REQUEST,
    weight: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LabelingRun:
    """Label every text of ``path`` for ``task`` and write the outputs (see the module doc).

    With ``database_url`` the disagreements whose model answer exists go to the review queue
    (idempotently); invalid answers, and everything when there is no database, go to the
    ``disagreements`` JSONL file.
    """
    project.check_task(task)
    texts, bad = read_texts(path)
    classifier = task_classifier(project, task) if use_model else None
    result = label_texts(
        texts,
        labels=task_labels(project, task),
        fallback_label=project.fallback_for(task).label,
        client=client,
        classifier=classifier,
        per_request=per_request,
        weight=weight,
        progress=progress,
    )
    write_examples(result.examples(), out)
    queued = 0
    to_file: list[LabeledText] = list(result.invalid)
    if database_url is not None and result.disagreed:
        queued = _queue(database_url, task, list(result.disagreed), result)
    else:
        to_file.extend(result.disagreed)
    written = None
    if to_file:
        with os_errors_as_storage_errors(f"writing {disagreements}"):
            disagreements.parent.mkdir(parents=True, exist_ok=True)
            with disagreements.open("w", encoding="utf-8") as handle:
                for item in to_file:
                    handle.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
        written = disagreements
    return LabelingRun(result, out, written, queued, bad)
