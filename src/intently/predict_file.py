"""Batch prediction over files: records stream in, are classified in batches, rows stream out.

Memory stays constant whatever the input size: the input is read one line at a time
(:func:`intently.data.io.read_text_records`), at most one batch of records is held, and each
batch's rows are written before the next is read. A record that cannot be classified is
reported through ``on_bad`` with its line and skipped, or, with ``strict=True``, stops the run
with a :class:`DataError` naming file and line.

:func:`predict_stream` works on open streams (what a server handling an upload needs);
:func:`predict_file` opens paths, ``-`` meaning stdin or stdout, and replaces an output file
only once the whole input has been classified.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from intently.data.io import TEXT_FORMATS, TextRecord, read_text_records, text_format_of
from intently.errors import DataError, InputError, Location

if TYPE_CHECKING:
    from intently.runtime import Prediction

STDIO = "-"
OUTPUT_FORMATS = ("jsonl", "csv")
BATCH_SIZE = 256
PREDICTION_FIELDS = ("text", "label", "confidence", "intent", "fallback", "model_version")
"""The columns every output row starts with; JSONL rows also carry the ``ranking``."""
INPUT_PREFIX = "input_"
"""Prefix of a passed-through input field whose name an output field takes (``label`` of a
labelled test file comes back as ``input_label``)."""


class BatchClassifier(Protocol):
    """What batch prediction needs of a :class:`~intently.runtime.Classifier`."""

    max_text_chars: int

    def predict_batch(self, texts: Sequence[str]) -> list[Prediction]: ...


@dataclass(frozen=True, slots=True)
class BadRecord:
    """An input record that was not classified, and why."""

    where: Location
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass(frozen=True, slots=True)
class FileProgress:
    """How far a run has got: ``bytes_read`` of ``total_bytes`` when the input's size is known
    (a regular file), else None; ``records`` read so far either way."""

    records: int
    bytes_read: int | None
    total_bytes: int | None


@dataclass(frozen=True, slots=True)
class PredictFileResult:
    records: int
    """Records read (blank lines are not records)."""
    predicted: int
    """Rows written, one per classified record, in input order."""
    skipped: int
    """Bad records reported and skipped."""
    seconds: float

    @property
    def texts_per_second(self) -> float:
        return self.predicted / self.seconds if self.seconds > 0 else 0.0


class RowWriter(Protocol):
    """Writes one output row per classified record."""

    def write(self, records: Sequence[TextRecord], predictions: Sequence[Prediction]) -> None: ...

    def finish(self) -> None:
        """Called once after the last batch (a CSV writer writes its header if no row came)."""


def _passed_through(fields: dict[str, Any], taken: set[str] | tuple[str, ...]) -> dict[str, Any]:
    return {(INPUT_PREFIX + key if key in taken else key): value for key, value in fields.items()}


class JsonlWriter:
    """One JSON object per line: the prediction fields, the ranking, then the input's other
    fields."""

    _taken = (*PREDICTION_FIELDS, "ranking")

    def __init__(self, stream: IO[str]):
        self._stream = stream
        # One encoder for every row: json.dumps with options builds a new one per call, which
        # with the cycle check cost a third of the writing time. Rows are trees, never cyclic.
        self._encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode

    def write(self, records: Sequence[TextRecord], predictions: Sequence[Prediction]) -> None:
        lines = []
        for record, prediction in zip(records, predictions, strict=True):
            row: dict[str, Any] = {
                "text": record.text,
                "label": prediction.label,
                "confidence": prediction.confidence,
                "intent": prediction.intent,
                "fallback": prediction.fallback,
                "model_version": prediction.model_version,
                "ranking": [{"label": label, "confidence": p} for label, p in prediction.ranking],
            }
            if record.fields:
                row.update(_passed_through(record.fields, self._taken))
            lines.append(self._encode(row))
        if lines:
            self._stream.write("\n".join(lines) + "\n")

    def finish(self) -> None:
        self._stream.flush()


class CsvWriter:
    """A header, then one row per prediction. The input's other columns follow the prediction
    columns; they are fixed by the first record (JSONL fields absent there are dropped,
    objects and arrays are written as JSON)."""

    def __init__(self, stream: IO[str], *, delimiter: str = ","):
        self._stream = stream
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self._extra: list[str] | None = None

    def _header(self, fields: dict[str, Any]) -> None:
        self._extra = list(fields)
        renamed = _passed_through(dict.fromkeys(self._extra), PREDICTION_FIELDS)
        self._writer.writerow([*PREDICTION_FIELDS, *renamed])

    def write(self, records: Sequence[TextRecord], predictions: Sequence[Prediction]) -> None:
        if self._extra is None and records:
            self._header(records[0].fields)
        extra = self._extra or []
        self._writer.writerows(
            [
                record.text,
                prediction.label,
                prediction.confidence,
                prediction.intent,
                "true" if prediction.fallback else "false",
                prediction.model_version,
                *(_cell(record.fields.get(key)) for key in extra),
            ]
            for record, prediction in zip(records, predictions, strict=True)
        )

    def finish(self) -> None:
        if self._extra is None:
            self._header({})
        self._stream.flush()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def output_format_of(path: str | Path) -> str:
    """``jsonl`` or ``csv`` by the output's suffix; stdout (``-``) is JSONL."""
    if str(path) == STDIO:
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise InputError(
        f"cannot tell the output format of {path} from its suffix.",
        hint="name it .jsonl or .csv, or pass --format jsonl|csv.",
    )


def make_writer(stream: IO[str], fmt: str, *, delimiter: str = ",") -> RowWriter:
    if fmt == "jsonl":
        return JsonlWriter(stream)
    if fmt == "csv":
        return CsvWriter(stream, delimiter=delimiter)
    raise InputError(
        f"unknown output format {fmt!r}.", hint=f"use one of {', '.join(OUTPUT_FORMATS)}."
    )


def predict_stream(
    classifier: BatchClassifier,
    stream: IO[bytes],
    writer: RowWriter,
    *,
    input_format: str,
    name: str | Path = "<stdin>",
    delimiter: str = ",",
    strict: bool = False,
    batch_size: int = BATCH_SIZE,
    on_bad: Callable[[BadRecord], None] | None = None,
    progress: Callable[[FileProgress], None] | None = None,
) -> PredictFileResult:
    """Classify every record of a binary input stream and write one row per good record.

    Parameters
    ----------
    classifier : Classifier
        Anything with ``predict_batch`` and ``max_text_chars``.
    stream : binary file object
        Read line by line; its size (for ``progress``) is known when it is a regular file.
    writer : RowWriter
        :class:`JsonlWriter`, :class:`CsvWriter` or your own; ``finish`` is called at the end.
    input_format : "jsonl", "csv" or "lines"
    name : str or Path
        The input's name in messages (``file:line``).
    strict : bool
        Raise a :class:`DataError` at the first bad record instead of skipping it.
    batch_size : int
        Texts per ``predict_batch`` call.
    on_bad, progress : callables, optional
        Told about each skipped record, and after each batch.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}.")
    total = _size_of(stream)
    started = time.perf_counter()
    records = predicted = skipped = 0
    batch: list[TextRecord] = []

    def bad(line: int, problem: str) -> None:
        nonlocal skipped
        where = Location(name, line)
        if strict:
            raise DataError(
                problem + ".",
                where=where,
                hint="fix or delete the line, or leave out --strict to skip bad lines.",
            )
        skipped += 1
        if on_bad is not None:
            on_bad(BadRecord(where, problem))

    def flush() -> None:
        nonlocal predicted
        good, predictions = _classify(classifier, batch, bad)
        writer.write(good, predictions)
        predicted += len(good)
        batch.clear()
        if progress is not None:
            done = stream.tell() if total is not None else None
            progress(FileProgress(records, done, total))

    limit = classifier.max_text_chars
    for record in read_text_records(stream, input_format, name=name, delimiter=delimiter):
        records += 1
        if record.text is None:
            bad(record.line, record.problem or "unreadable")
        elif len(record.text) > limit:
            bad(
                record.line, f"the text has {len(record.text):,} characters; the limit is {limit:,}"
            )
        else:
            batch.append(record)
            if len(batch) >= batch_size:
                flush()
    flush()
    writer.finish()
    return PredictFileResult(records, predicted, skipped, time.perf_counter() - started)


def _classify(
    classifier: BatchClassifier,
    batch: list[TextRecord],
    bad: Callable[[int, str], None],
) -> tuple[list[TextRecord], list[Prediction]]:
    """The batch's records that could be classified, and their predictions."""
    if not batch:
        return [], []
    try:
        return batch, classifier.predict_batch([record.text or "" for record in batch])
    except InputError:
        pass
    # A text that passed the checks above but that the classifier refuses (say, only
    # zero-width characters): classify one by one to find it; such batches are rare.
    good, predictions = [], []
    for record in batch:
        try:
            (prediction,) = classifier.predict_batch([record.text or ""])
        except InputError as error:
            bad(record.line, error.message.rstrip("."))
            continue
        good.append(record)
        predictions.append(prediction)
    return good, predictions


def _size_of(stream: IO[bytes]) -> int | None:
    """The stream's size when it is a regular file, read from its start; else None."""
    try:
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode) and stream.tell() == 0:
            return info.st_size
    except (OSError, ValueError, io.UnsupportedOperation):
        pass
    return None


def predict_file(
    classifier: BatchClassifier,
    source: str | Path,
    out: str | Path = STDIO,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    strict: bool = False,
    batch_size: int = BATCH_SIZE,
    on_bad: Callable[[BadRecord], None] | None = None,
    progress: Callable[[FileProgress], None] | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[str] | None = None,
) -> PredictFileResult:
    """Classify a JSONL, CSV or plain-text file into a JSONL or CSV file.

    Formats follow the suffixes (input: .jsonl/.ndjson/.json, .csv/.tsv, anything else is one
    text per line; output: .jsonl or .csv) unless given. ``-`` reads stdin (plain lines unless
    ``input_format``) or writes stdout (JSONL unless ``output_format``). An output file appears
    only when the whole input was read: a strict failure or an interruption leaves none.

    Example
    -------
    >>> clf = Classifier.load("models/intent/20261122T030512Z-3fa1")      # doctest: +SKIP
    >>> predict_file(clf, "tickets.csv", "predicted.jsonl").predicted     # doctest: +SKIP
    12000
    """
    reading_stdin, writing_stdout = str(source) == STDIO, str(out) == STDIO
    input_format = input_format or ("lines" if reading_stdin else text_format_of(source))
    output_format = output_format or output_format_of(out)
    if input_format not in TEXT_FORMATS:
        raise InputError(
            f"unknown input format {input_format!r}.", hint=f"use one of {', '.join(TEXT_FORMATS)}."
        )
    if output_format not in OUTPUT_FORMATS:
        raise InputError(
            f"unknown output format {output_format!r}.",
            hint=f"use one of {', '.join(OUTPUT_FORMATS)}.",
        )
    if not reading_stdin and not Path(source).is_file():
        raise DataError("input file not found.", where=Location(source), hint="check the path.")
    if not (reading_stdin or writing_stdout) and _same_file(Path(source), Path(out)):
        raise InputError(
            f"the output {out} is the input file.", hint="write the predictions to another file."
        )
    in_delimiter = "\t" if Path(source).suffix.lower() == ".tsv" else ","
    out_delimiter = "\t" if Path(out).suffix.lower() == ".tsv" else ","
    with ExitStack() as stack:
        stream = (
            (stdin or sys.stdin.buffer)
            if reading_stdin
            else stack.enter_context(Path(source).open("rb"))
        )
        sink = (
            (stdout or sys.stdout)
            if writing_stdout
            else stack.enter_context(_replaced_on_success(Path(out)))
        )
        return predict_stream(
            classifier,
            stream,
            make_writer(sink, output_format, delimiter=out_delimiter),
            input_format=input_format,
            name="<stdin>" if reading_stdin else str(source),
            delimiter=in_delimiter,
            strict=strict,
            batch_size=batch_size,
            on_bad=on_bad,
            progress=progress,
        )


@contextmanager
def _replaced_on_success(target: Path) -> Iterator[IO[str]]:
    """A text file staged next to ``target`` that replaces it only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with staged.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
