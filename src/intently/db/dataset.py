"""Files in and out of the interaction store: exports and annotation imports.

Exports (:func:`write_records`) stream records to a text file, one pass, flat memory:

- ``jsonl``: one object per line, ``{"interaction_id", "task", "text", "label", ...}`` where
  ``label`` is the reviewed label when there is one, else the model's answer;
- ``csv``: the same columns, with a header row;
- ``label-studio``: a JSON array of Label Studio tasks (text classification, a ``Choices``
  control named ``intent`` over a ``Text`` named ``text``); Intently's answer is a
  pre-annotation (``predictions``, scored by confidence) and a reviewed label an annotation.

Imports (:func:`read_annotations`) read a Label Studio export (JSON: the tasks with their
``annotations``) or JSON lines of ``{"interaction_id", "label"}`` (optional ``new_label``,
``note``, ``reviewer``), and return :class:`Annotation` items; errors name the file and line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from intently.db.interactions import InteractionRecord
from intently.errors import AnnotationImportError, Location

FORMATS = ("jsonl", "csv", "label-studio")
CSV_COLUMNS = (
    "interaction_id",
    "task",
    "text",
    "label",
    "predicted_label",
    "confidence",
    "fallback",
    "review_status",
    "reviewer",
    "model_version",
    "created_at",
)
LS_CHOICES = "intent"  # the Choices control of the Label Studio labeling config
LS_TEXT = "text"  # the Text object it labels
LABEL_STUDIO_CONFIG = f"""<View>
  <Text name="{LS_TEXT}" value="$text"/>
  <Choices name="{LS_CHOICES}" toName="{LS_TEXT}" choice="single"/>
</View>"""


@dataclass(frozen=True)
class Annotation:
    """A label for one interaction, read from an annotations file."""

    interaction_id: str
    label: str
    new_label: bool = False
    note: str = ""
    reviewer: str | None = None
    where: Location | None = None


def flat(record: InteractionRecord) -> dict[str, Any]:
    """The columns of the jsonl and csv exports."""
    return {
        "interaction_id": record.id,
        "task": record.task,
        "text": record.text,
        "label": record.reviewed_label or record.label,
        "predicted_label": record.label,
        "confidence": record.confidence,
        "fallback": record.fallback,
        "review_status": record.review_status,
        "reviewer": record.reviewer,
        "model_version": record.model_version,
        "created_at": record.created_at.isoformat(),
    }


def label_studio_task(record: InteractionRecord) -> dict[str, Any]:
    """One Label Studio task: the text, Intently's answer as a pre-annotation, and the
    reviewer's label as an annotation once reviewed."""

    def result(label: str) -> list[dict[str, Any]]:
        return [
            {
                "from_name": LS_CHOICES,
                "to_name": LS_TEXT,
                "type": "choices",
                "value": {"choices": [label]},
            }
        ]

    task: dict[str, Any] = {
        "data": {"text": record.text, "interaction_id": record.id, "task": record.task},
        "predictions": [
            {
                "model_version": record.model_version,
                "score": record.confidence,
                "result": result(record.label),
            }
        ],
    }
    if record.reviewed_label is not None:
        task["annotations"] = [{"result": result(record.reviewed_label), "was_cancelled": False}]
    return task


def write_records(records: Iterable[InteractionRecord], stream: TextIO, fmt: str) -> int:
    """Write ``records`` to ``stream`` as ``fmt`` (one of :data:`FORMATS`); returns how many."""
    count = 0
    if fmt == "jsonl":
        for record in records:
            stream.write(orjson.dumps(flat(record)).decode() + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for record in records:
            writer.writerow(flat(record).values())  # flat() keeps CSV_COLUMNS' order
            count += 1
    elif fmt == "label-studio":
        stream.write("[")
        for record in records:
            stream.write(",\n" if count else "\n")
            stream.write(orjson.dumps(label_studio_task(record)).decode())
            count += 1
        stream.write("\n]\n")
    else:
        raise ValueError(f"unknown export format {fmt!r}; formats are {', '.join(FORMATS)}")
    return count


# -- imports ----------------------------------------------------------------------------------


def read_annotations(path: Path) -> list[Annotation]:
    """The annotations in ``path``: a Label Studio JSON export, or JSON lines of corrections."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationImportError(
            f"cannot read {path}: {exc}",
            hint="pass a Label Studio JSON export or a JSONL file of corrections.",
        ) from exc
    if text.lstrip().startswith("["):
        return list(_label_studio(path, text))
    return list(_jsonl(path, text))


def _fail(where: Location, problem: str) -> AnnotationImportError:
    return AnnotationImportError(
        f"{where}: {problem}",
        hint='each line must be {"interaction_id": "...", "label": "..."} (optional '
        '"new_label": true, "note", "reviewer"), or the file a Label Studio JSON export of '
        "tasks exported by `intently data export --format label-studio`.",
    )


def _jsonl(path: Path, text: str) -> Iterator[Annotation]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = Location(path, number)
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(where, f"not JSON ({exc.msg}).") from exc
        if not isinstance(item, dict):
            raise _fail(where, "a line must be a JSON object.")
        iid, label = item.get("interaction_id"), item.get("label")
        if not isinstance(iid, str) or not iid or not isinstance(label, str) or not label.strip():
            raise _fail(where, "needs a string interaction_id and a non-empty string label.")
        yield Annotation(
            iid,
            label.strip(),
            new_label=bool(item.get("new_label", False)),
            note=str(item.get("note") or ""),
            reviewer=item.get("reviewer"),
            where=where,
        )


def _label_studio(path: Path, text: str) -> Iterator[Annotation]:
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(Location(path, exc.lineno), f"not JSON ({exc.msg}).") from exc
    for index, task in enumerate(tasks):
        where = Location(path, key=f"[{index}]")
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise _fail(where, "a Label Studio task must be an object with `data`.")
        iid = task["data"].get("interaction_id")
        if not isinstance(iid, str) or not iid:
            raise _fail(where, "data.interaction_id is missing: was it exported by Intently?")
        label, reviewer = _latest_choice(task.get("annotations") or [])
        if label is not None:
            yield Annotation(iid, label, reviewer=reviewer, where=where)


def _latest_choice(annotations: list[Any]) -> tuple[str | None, str | None]:
    """The choice of the newest annotation that was not cancelled, and who made it."""
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    kept.sort(key=lambda a: str(a.get("updated_at") or a.get("created_at") or ""))
    for annotation in reversed(kept):
        for result in annotation.get("result") or []:
            choices = (
                (result.get("value") or {}).get("choices") if isinstance(result, dict) else None
            )
            if choices:
                who = annotation.get("completed_by")
                if isinstance(who, dict):
                    who = who.get("email")
                return str(choices[0]).strip(), None if who is None else f"label-studio:{who}"
    return None, None
