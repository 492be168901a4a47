"""JSONL and CSV import/export of examples, with line-numbered errors."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from intently.data.example import Example, Source
from intently.errors import DataError, Location

FORMATS = ("jsonl", "csv")
_OPTIONAL = ("source", "weight", "agent_id", "meta")


def format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("csv", "tsv"):
        return "csv"
    raise DataError(
        f"unsupported dataset format '.{suffix}'.",
        where=Location(path),
        hint='use a .jsonl file of {"text", "label"} objects or a .csv with a text,label header.',
    )


def read_examples(path: str | Path, *, source: Source = Source.IMPORTED) -> list[Example]:
    """Read a JSONL or CSV file of labeled texts; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            "dataset file not found.",
            where=Location(path),
            hint="check the path (relative paths resolve from the project file).",
        )
    reader = _read_jsonl if format_of(path) == "jsonl" else _read_csv
    return [_to_example(row, path, line, source) for line, row in reader(path)]


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", errors="strict") as handle:  # -sig: skip a BOM
        try:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"invalid JSON ({exc.msg} at column {exc.colno}).",
                        where=Location(path, number),
                        hint='each line must be one object like {"text": "...", "label": "..."}.',
                    ) from None
                if not isinstance(row, dict):
                    raise DataError(
                        f"expected a JSON object, got {type(row).__name__}.",
                        where=Location(path, number),
                        hint='write {"text": "...", "label": "..."} on each line.',
                    )
                yield number, row
        except UnicodeDecodeError as exc:
            raise DataError(
                f"the file is not UTF-8 ({exc.reason}).",
                where=Location(path),
                hint="re-save the file as UTF-8.",
            ) from None


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:  # -sig: Excel's BOM
            reader = csv.DictReader(handle, delimiter=delimiter)
            header = reader.fieldnames or []
            missing = [name for name in ("text", "label") if name not in header]
            if missing:
                raise DataError(
                    f"the header lacks column(s) {', '.join(missing)} "
                    f"(found: {', '.join(header) or 'nothing'}).",
                    where=Location(path, 1),
                    hint="the first line must name the columns, e.g. `text,label`.",
                )
            for row in reader:
                if None in row:
                    raise DataError(
                        f"row has {len(header) + len(row[None])} fields, the header "
                        f"has {len(header)}.",
                        where=Location(path, reader.line_num),
                        hint="quote texts that contain the delimiter.",
                    )
                yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
    except UnicodeDecodeError as exc:
        raise DataError(
            f"the file is not UTF-8 ({exc.reason}).",
            where=Location(path),
            hint="re-save the file as UTF-8.",
        ) from None


def _to_example(row: dict[str, Any], path: Path, line: int, source: Source) -> Example:
    where = Location(path, line)
    unknown = set(row) - {"text", "label", *_OPTIONAL}
    if unknown:
        raise DataError(
            f"unknown field(s) {', '.join(sorted(unknown))}.",
            where=where,
            hint=f"allowed: text, label, {', '.join(_OPTIONAL)}.",
        )
    for name in ("text", "label"):
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            raise DataError(
                f"'{name}' must be a non-empty string, got {value!r}.",
                where=where,
                hint=f"fill in '{name}' or delete the line.",
            )
    try:
        weight = float(row["weight"]) if "weight" in row else None
    except (TypeError, ValueError):
        raise DataError(f"'weight' must be a number, got {row['weight']!r}.", where=where) from None
    if weight is not None and (not math.isfinite(weight) or weight <= 0):
        raise DataError(f"'weight' must be a positive number, got {weight}.", where=where)
    try:
        row_source = Source(row.get("source", source))
    except ValueError:
        raise DataError(
            f"unknown source {row['source']!r}.",
            where=where,
            hint=f"use one of {', '.join(s.value for s in Source)}.",
        ) from None
    meta = row.get("meta", {})
    if isinstance(meta, str):
        meta = {"note": meta}
    if not isinstance(meta, dict):
        raise DataError(f"'meta' must be an object, got {type(meta).__name__}.", where=where)
    return Example(
        text=row["text"],
        label=row["label"].strip(),
        source=row_source,
        weight=weight,
        agent_id=row.get("agent_id"),
        meta=meta,
        origin=f"{path}:{line}",
    )


def write_examples(examples: Iterable[Example], path: str | Path) -> Path:
    """Write examples as JSONL or CSV (by suffix); returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [example.to_dict() for example in examples]
    if format_of(path) == "jsonl":
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(
                handle,
                fieldnames=["text", "label", "source", "weight", "agent_id"],
                extrasaction="ignore",
            )
            writer.writeheader()
            writer.writerows(rows)
    return path
