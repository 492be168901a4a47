"""Feeding a reviewed issues file back: relabel or remove examples in the dataset files.

``intently data issues`` writes one JSON row per finding with an ``origin`` (``file:line`` of
the example in a dataset file), the ``label`` it had, a ``suggested_label`` and an ``action``.
A reviewer edits ``action`` (``relabel``, ``remove`` or ``keep``) and, where needed,
``suggested_label``; :func:`apply_reviewed` then edits the dataset files:

- only files the project lists under ``datasets:`` are touched, each rewritten atomically
  (a temporary file renamed over it) with every other line unchanged;
- a row whose line no longer holds the same text and label (the file changed since) is
  skipped and reported, as is an example defined in the project file itself (no origin):
  those are edited by hand;
- JSONL lines keep their other fields; CSV files are rewritten row by row with the same header.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intently.data.io import format_of
from intently.errors import DataError, Location, os_errors_as_storage_errors
from intently.text import normalize_text

ACTIONS = ("relabel", "remove", "keep")


@dataclass(frozen=True)
class ReviewedRow:
    line: int
    text: str
    label: str
    action: str
    new_label: str | None
    origin: str | None


@dataclass
class ApplyReport:
    relabeled: int = 0
    removed: int = 0
    kept: int = 0
    skipped: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def read_reviewed(path: Path) -> list[ReviewedRow]:
    """The rows of a reviewed issues file; a malformed row is a DataError at its line."""
    rows: list[ReviewedRow] = []
    with os_errors_as_storage_errors(f"reading {path}"):
        lines = path.read_text(encoding="utf-8").splitlines()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = Location(path, number)
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc.msg}).", where=where) from None
        if not isinstance(row, dict) or not all(
            isinstance(row.get(k), str) for k in ("text", "label", "action")
        ):
            raise DataError(
                "each row needs string fields text, label and action.",
                where=where,
                hint="use the file `intently data issues --out` wrote.",
            )
        action = row["action"].strip().lower()
        if action not in ACTIONS:
            raise DataError(
                f"unknown action {row['action']!r}.",
                where=where,
                hint=f"set action to one of {', '.join(ACTIONS)}.",
            )
        new_label = row.get("suggested_label")
        if action == "relabel" and not (isinstance(new_label, str) and new_label.strip()):
            raise DataError(
                "action relabel needs a suggested_label.",
                where=where,
                hint="write the right label in suggested_label, or set action to keep/remove.",
            )
        origin = row.get("origin")
        rows.append(
            ReviewedRow(
                number,
                row["text"],
                row["label"],
                action,
                new_label.strip() if isinstance(new_label, str) else None,
                origin if isinstance(origin, str) else None,
            )
        )
    return rows


def _split_origin(origin: str) -> tuple[Path, int] | None:
    path, _, line = origin.rpartition(":")
    return (Path(path), int(line)) if path and line.isdigit() else None


def apply_reviewed(rows: Sequence[ReviewedRow], dataset_files: Collection[Path]) -> ApplyReport:
    """Apply ``relabel`` and ``remove`` rows to the files in ``dataset_files`` (resolved)."""
    report = ApplyReport()
    allowed = {Path(p).resolve() for p in dataset_files}
    edits: dict[Path, dict[int, ReviewedRow]] = {}
    for row in rows:
        if row.action == "keep":
            report.kept += 1
            continue
        place = _split_origin(row.origin) if row.origin else None
        if place is None:
            report.skipped.append(
                f"row {row.line}: {row.text!r} is defined in the project file; edit it there."
            )
            continue
        path, line = place[0].resolve(), place[1]
        if path not in allowed:
            report.skipped.append(f"row {row.line}: {path} is not a dataset of the project.")
            continue
        edits.setdefault(path, {})[line] = row
    for path, by_line in sorted(edits.items()):
        if format_of(path) == "jsonl":
            changed = _edit_jsonl(path, by_line, report)
        else:
            changed = _edit_csv(path, by_line, report)
        if changed:
            report.files.append(path)
    return report


def _matches(row: ReviewedRow, text: Any, label: Any, report: ApplyReport) -> bool:
    same = (
        isinstance(text, str)
        and isinstance(label, str)
        and normalize_text(text) == normalize_text(row.text)
        and label.strip() == row.label
    )
    if not same:
        report.skipped.append(
            f"row {row.line}: {row.origin} no longer holds {row.text!r} labeled {row.label!r}."
        )
    return same


def _count(row: ReviewedRow, report: ApplyReport) -> None:
    if row.action == "remove":
        report.removed += 1
    else:
        report.relabeled += 1


def _edit_jsonl(path: Path, by_line: dict[int, ReviewedRow], report: ApplyReport) -> bool:
    with os_errors_as_storage_errors(f"reading {path}"):
        lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    kept: list[str] = []
    changed = False
    for number, raw in enumerate(lines, start=1):
        row = by_line.get(number)
        record = json.loads(raw) if row is not None and raw.strip() else None
        if row is None or not isinstance(record, dict):
            kept.append(raw)
            continue
        if not _matches(row, record.get("text"), record.get("label"), report):
            kept.append(raw)
            continue
        _count(row, report)
        changed = True
        if row.action == "relabel":
            record["label"] = row.new_label
            kept.append(json.dumps(record, ensure_ascii=False) + "\n")
    if changed:
        _replace(path, "".join(kept))
    return changed


def _edit_csv(path: Path, by_line: dict[int, ReviewedRow], report: ApplyReport) -> bool:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with os_errors_as_storage_errors(f"reading {path}"):
        content = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    header = next(reader, [])
    text_at, label_at = header.index("text"), header.index("label")
    rows_out = [header]
    changed = False
    for record in reader:
        row = by_line.get(reader.line_num)  # the line a record ends on, as read_examples says
        if row is None or len(record) <= max(text_at, label_at):
            rows_out.append(record)
            continue
        if not _matches(row, record[text_at], record[label_at], report):
            rows_out.append(record)
            continue
        _count(row, report)
        changed = True
        if row.action == "relabel":
            record[label_at] = row.new_label or ""
            rows_out.append(record)
    if changed:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows_out)
        _replace(path, buffer.getvalue())
    return changed


def _replace(path: Path, content: str) -> None:
    staged = path.with_name(f".{path.name}.intently-tmp")
    with os_errors_as_storage_errors(f"rewriting {path}"):
        staged.write_text(content, encoding="utf-8")
        os.replace(staged, path)
