"""JSONL and CSV import/export of examples, with line-numbered errors; streamed text inputs
(JSONL, CSV or plain lines) for batch prediction."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from intently.data.example import Example, Source
from intently.errors import DataError, Location

FORMATS = ("jsonl", "csv")
_OPTIONAL = ("source", "weight", "agent_id", "meta")
# json.loads recurses once per nesting level: a line of 100,000 "[" would be a RecursionError.
_TOO_DEEP = "the JSON is nested too deeply to read"


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
                except RecursionError:
                    raise DataError(
                        f"{_TOO_DEEP}.",
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


TEXT_FORMATS = ("jsonl", "csv", "lines")
MAX_LINE_BYTES = 1 << 20
"""Input lines longer than this are reported as bad without being held in memory."""

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


@dataclass(frozen=True, slots=True)
class TextRecord:
    """One record of a text input: its text, or the problem that leaves it without one.

    ``line`` is the 1-based line where the record starts; ``fields`` holds the record's other
    JSON fields or CSV columns, to be passed through to the output.
    """

    line: int
    text: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def text_format_of(path: str | Path) -> str:
    """The format of a text input by its suffix: .jsonl/.ndjson/.json are JSON lines, .csv and
    .tsv are CSV with a ``text`` column, anything else is one text per line."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    return "lines"


def read_text_records(
    stream: IO[bytes], fmt: str, *, name: str | Path = "<stdin>", delimiter: str = ","
) -> Iterator[TextRecord]:
    """Stream the records of a binary text input, one line at a time (constant memory).

    ``fmt`` is one of :data:`TEXT_FORMATS`. Blank lines are not records. A record that cannot be
    classified (invalid JSON or UTF-8, no ``text``, a text that is not a string or only
    whitespace, a line over :data:`MAX_LINE_BYTES`) comes back with ``text=None`` and its
    ``problem``; the caller decides whether to skip it. A CSV input without a ``text`` column
    raises a :class:`DataError` naming ``name``.
    """
    lines = _decoded_lines(stream)
    if fmt == "jsonl":
        return _jsonl_records(lines)
    if fmt == "csv":
        return _csv_records(lines, name, delimiter)
    if fmt == "lines":
        return _plain_records(lines)
    raise DataError(
        f"unknown text input format {fmt!r}.", hint=f"use one of {', '.join(TEXT_FORMATS)}."
    )


def _decoded_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, the line without its end, problem) for each line of ``stream``."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the over-long line, a bounded chunk at a time
            yield number, None, f"the line is longer than {MAX_LINE_BYTES:,} bytes"
            continue
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # -sig: skip a BOM
        except UnicodeDecodeError as exc:
            yield number, None, f"the line is not UTF-8 ({exc.reason} at byte {exc.start + 1})"
            continue
        yield number, text.rstrip("\r\n"), None


def _plain_records(lines: Iterable[tuple[int, str | None, str | None]]) -> Iterator[TextRecord]:
    for number, text, problem in lines:
        if problem is not None:
            yield TextRecord(number, None, problem=problem)
        elif text and not text.isspace():
            yield TextRecord(number, text)


def _jsonl_records(lines: Iterable[tuple[int, str | None, str | None]]) -> Iterator[TextRecord]:
    for number, text, problem in lines:
        if problem is not None:
            yield TextRecord(number, None, problem=problem)
            continue
        if not text or text.isspace():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield TextRecord(
                number, None, problem=f"invalid JSON ({exc.msg} at column {exc.colno})"
            )
            continue
        except RecursionError:
            yield TextRecord(number, None, problem=_TOO_DEEP)
            continue
        if not isinstance(row, dict):
            kind = _JSON_TYPES.get(type(row), type(row).__name__)
            yield TextRecord(
                number, None, problem=f'expected an object like {{"text": ...}}, got {kind}'
            )
            continue
        yield _record_of(number, row)


def _record_of(line: int, row: dict[str, Any]) -> TextRecord:
    if "text" not in row:
        return TextRecord(line, None, problem="no 'text' field")
    fields = dict(row)
    text = fields.pop("text")
    if not isinstance(text, str):
        kind = _JSON_TYPES.get(type(text), type(text).__name__)
        return TextRecord(line, None, problem=f"'text' must be a string, got {kind}")
    if not text or text.isspace():
        return TextRecord(line, None, problem="'text' is empty")
    return TextRecord(line, text, fields)


def _csv_records(
    lines: Iterable[tuple[int, str | None, str | None]], name: str | Path, delimiter: str
) -> Iterator[TextRecord]:
    problems: dict[int, str] = {}  # unreadable physical lines not yet matched to a row

    def text_lines() -> Iterator[str]:
        for number, text, problem in lines:
            if problem is not None:
                problems[number] = problem
                yield "\n"  # keeps csv's line count in step; the row is reported as bad
            else:
                yield text + "\n"

    reader = csv.reader(text_lines(), delimiter=delimiter)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise DataError(f"unreadable CSV header ({exc}).", where=Location(name, 1)) from None
    if 1 in problems or "text" not in header:
        found = problems.get(1) or f"found: {', '.join(header) or 'nothing'}"
        raise DataError(
            f"the header has no 'text' column ({found}).",
            where=Location(name, 1),
            hint="the first line must name the columns, e.g. `text` or `id,text`.",
        )
    done = reader.line_num
    while True:
        try:
            row: list[str] | None = next(reader)
            problem = None
        except StopIteration:
            return
        except csv.Error as exc:
            row, problem = None, f"malformed CSV ({exc})"
        first, done = done + 1, reader.line_num
        unreadable = [problems.pop(n) for n in range(first, done + 1) if n in problems]
        problem = problem or next(iter(unreadable), None)
        if problem is not None or row is None:
            yield TextRecord(first, None, problem=problem)
        elif not row:
            continue  # a blank line
        elif len(row) != len(header):
            yield TextRecord(
                first,
                None,
                problem=f"the row has {len(row)} field(s), the header {len(header)}; "
                "quote texts that contain the delimiter",
            )
        else:
            yield _record_of(first, dict(zip(header, row, strict=True)))
