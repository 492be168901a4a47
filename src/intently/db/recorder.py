"""Recording classify answers without slowing them down or losing them.

The request thread only appends a tuple to an in-memory deque (about a microsecond). One
background thread per process wakes every ``interval_s`` seconds, or as soon as
``batch_size`` answers wait, and writes them with :meth:`InteractionStore.add_rows`; the
conversion to rows and the redaction happen there too. When the database cannot take a batch
(unreachable, locked past its timeout, its file deleted) the batch is appended to this
process's spill file (JSON lines, ``<spill_dir>/interactions-<pid>-<random>.jsonl``) and the
database is retried every ``retry_s`` seconds; once a write succeeds again the spill file is
replayed and emptied. Ids are generated with the answer and inserts skip known ids, so a
replay (even a repeated one after a crash mid-replay) never records an answer twice.

Each recorder holds an exclusive ``flock`` on its spill file for as long as it lives; the
kernel drops it when the process dies, however it dies. Any spill file whose lock can be
taken belongs to a dead process: recorders replay such orphans at start and after every
successful replay, then delete them.

Loss bounds: :meth:`Recorder.close` (the server's shutdown, which SIGTERM triggers) drains
the buffer into the database or the spill file, so nothing is lost; ``kill -9`` loses what
was buffered since the last flush, at most ``interval_s`` seconds of answers. Memory is
bounded: past ``max_buffer`` waiting answers the request thread appends to the spill file
itself instead of growing the deque.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from intently.db.interactions import ROW_COLUMNS, InteractionRecord, InteractionStore
from intently.errors import DatabaseError

logger = logging.getLogger("intently.recorder")

SPILL_GLOB = "interactions-*.jsonl"
REPLAY_CHUNK = 5_000
MAX_WRITE = 10_000  # answers per transaction: bigger batches cost less per row


@dataclass(frozen=True)
class RecorderSettings:
    batch_size: int = 1_000
    interval_s: float = 0.5
    max_buffer: int = 50_000
    retry_s: float = 2.0


# What the request thread buffers: (id, task, text, prediction, latency_ms, unix time,
# conversation_id, user_id, extra columns or None). The prediction is any object with the
# attributes of intently.runtime.Prediction (the db layer does not import the runtime).
Pending = tuple[str, str, str, Any, float, float, str | None, str | None, dict[str, Any] | None]
Row = tuple[Any, ...]  # a database row in ROW_COLUMNS order


class Recorder:
    """Buffers answers and writes them to ``store`` in batches from one background thread."""

    def __init__(
        self,
        store: InteractionStore,
        spill_dir: Path,
        settings: RecorderSettings | None = None,
        *,
        redact: Callable[[str], str] | None = None,
    ):
        self.store = store
        self.spill_dir = Path(spill_dir)
        self.settings = settings or RecorderSettings()
        self.redact = redact
        self._buffer: deque[Pending | InteractionRecord] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._spill_lock = threading.Lock()  # one writer of the spill file at a time
        self._flush_lock = threading.Lock()  # one flush at a time (thread vs close)
        self._thread: threading.Thread | None = None
        self._spill: IO[bytes] | None = None
        self._spill_path: Path | None = None
        self._down_until = 0.0  # monotonic time before which the database is not retried
        self._orphans_left = True  # spill files of dead processes may wait for a replay
        self.counts = {"recorded": 0, "written": 0, "spilled": 0, "replayed": 0}

    # -- the request thread --------------------------------------------------------------------

    def record_prediction(
        self,
        interaction_id: str,
        task: str,
        text: str,
        prediction: Any,
        latency_ms: float,
        conversation_id: str | None = None,
        user_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Buffer one answer; ``extra`` sets other columns (arm, ab_test_id, shadow)."""
        item = (
            interaction_id,
            task,
            text,
            prediction,
            latency_ms,
            time.time(),
            conversation_id,
            user_id,
            extra,
        )
        self._append(item)

    def record(self, record: InteractionRecord) -> None:
        """Buffer a complete record (written as it is, after redaction of its text)."""
        self._append(record)

    def _append(self, item: Pending | InteractionRecord) -> None:
        buffer = self._buffer
        if len(buffer) >= self.settings.max_buffer:
            # the database is far behind: keep memory bounded, lose nothing (no fsync per
            # request: written to the kernel, the answer survives the process dying)
            self._spill_rows([self._row(item)], sync=False)
            return
        buffer.append(item)
        self.counts["recorded"] += 1
        if len(buffer) % self.settings.batch_size == 0:
            self._wake.set()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Open the spill file, replay orphans of dead processes, start the flush thread."""
        self._open_spill()
        self._replay_orphans()
        self._thread = threading.Thread(target=self._run, name="intently-recorder", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread and write everything buffered (to the spill file if need be)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.flush(retry_now=True)
        with self._spill_lock:
            if self._spill is not None:
                empty = self._spill.tell() == 0
                if empty and self._spill_path is not None:
                    with contextlib.suppress(FileNotFoundError):
                        self._spill_path.unlink()
                self._spill.close()  # releases the lock: a non-empty file is an orphan now
                self._spill = None

    def _run(self) -> None:
        # Flushes start on a fixed schedule, early by the last write's duration, so a buffered
        # answer is committed within interval_s of its arrival (a kill -9 loses at most that):
        # waiting a whole interval after each write let answers wait interval + write time.
        interval, took = self.settings.interval_s, 0.0
        next_start = time.monotonic() + interval
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_start - took - time.monotonic()))
            self._wake.clear()
            started = time.monotonic()
            next_start = started + interval
            try:
                self.flush()
            except Exception:  # never let the thread die: the next flush retries
                logger.exception("recording flush failed")
            took = min(time.monotonic() - started, interval / 2)

    # -- flushing ------------------------------------------------------------------------------

    def flush(self, *, retry_now: bool = False) -> int:
        """Write what is buffered now; returns how many answers went to the database."""
        with self._flush_lock:
            written = 0
            while self._buffer:
                rows = self._drain(MAX_WRITE)
                written += self._write(rows, retry_now=retry_now)
            if retry_now or time.monotonic() >= self._down_until:
                self._replay_own()
                if self._orphans_left:
                    self._replay_orphans()
            return written

    def _drain(self, limit: int) -> list[Row]:
        buffer, rows = self._buffer, []
        while buffer and len(rows) < limit:
            rows.append(self._row(buffer.popleft()))
        return rows

    def _write(self, rows: list[Row], *, retry_now: bool) -> int:
        if not retry_now and time.monotonic() < self._down_until:
            self._spill_rows(rows)
            return 0
        try:
            self.store.add_rows(rows)
        except DatabaseError as error:
            if self._down_until == 0.0:
                logger.warning("recording to the spill file while the database fails: %s", error)
            self._down_until = time.monotonic() + self.settings.retry_s
            self._spill_rows(rows)
            return 0
        self._down_until = 0.0
        self.counts["written"] += len(rows)
        return len(rows)

    def _row(self, item: Pending | InteractionRecord) -> Row:
        """The database row of a buffered answer (the flush thread's work, not the request's)."""
        redact = self.redact
        if isinstance(item, InteractionRecord):
            return (item if redact is None else replace(item, text=redact(item.text))).to_tuple()
        iid, task, text, p, latency_ms, when, conversation_id, user_id, extra = item
        extra = extra or {}
        return (
            iid,
            task,
            text if redact is None else redact(text),
            p.label,
            float(p.confidence),
            p.ranking,  # (label, score) pairs, written as JSON arrays
            p.model_version,
            p.runtime,
            bool(p.fallback),
            conversation_id,
            user_id,
            round(latency_ms, 4),
            datetime.fromtimestamp(when, UTC),
            "pending",
            None,
            None,
            None,
            extra.get("arm"),
            extra.get("ab_test_id"),
            extra.get("shadow"),
        )

    # -- the spill file ------------------------------------------------------------------------

    def _open_spill(self) -> None:
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        path = self.spill_dir / f"interactions-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        stream = path.open("ab")
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._spill, self._spill_path = stream, path

    def _spill_rows(self, rows: list[Row], *, sync: bool = True) -> None:
        if not rows:
            return
        # orjson writes datetimes as RFC 3339, which datetime.fromisoformat reads back
        data = b"".join(
            orjson.dumps(
                dict(zip(ROW_COLUMNS, row, strict=True)), option=orjson.OPT_SERIALIZE_NUMPY
            )
            + b"\n"
            for row in rows
        )
        with self._spill_lock:
            if self._spill is None:
                self._open_spill()
            assert self._spill is not None
            self._spill.write(data)  # one write per batch: a crash tears at most the last line
            self._spill.flush()
            if sync:
                os.fsync(self._spill.fileno())
        self.counts["spilled"] += len(rows)

    def _replay_own(self) -> None:
        with self._spill_lock:
            stream = self._spill
            if stream is None or stream.tell() == 0:
                return
            assert self._spill_path is not None
            try:
                replayed = self._replay_file(self._spill_path)
            except DatabaseError:
                self._down_until = time.monotonic() + self.settings.retry_s
                return
            stream.seek(0)
            stream.truncate()
            os.fsync(stream.fileno())
        self.counts["replayed"] += replayed
        logger.warning("the database is back: replayed %d spilled answers", replayed)
        self._orphans_left = True  # other processes spilled during the same outage

    def _replay_orphans(self) -> None:
        """Replay and delete spill files of processes that died (their lock is free)."""
        self._orphans_left = False
        for path in sorted(self.spill_dir.glob(SPILL_GLOB)):
            if path == self._spill_path:
                continue
            try:
                stream = path.open("rb")
            except FileNotFoundError:
                continue  # another recorder took it
            with stream:
                try:
                    fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live recorder's own file, or being replayed
                try:
                    replayed = self._replay_file(path)
                except DatabaseError:
                    self._orphans_left = True  # still down: keep it for later
                    return
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            self.counts["replayed"] += replayed
            if replayed:
                logger.warning("replayed %d answers spilled by another process", replayed)

    def _replay_file(self, path: Path) -> int:
        added = 0
        for chunk in _chunks(_read_spill(path), REPLAY_CHUNK):
            added += self.store.add_rows(chunk)
        return added

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "buffered": len(self._buffer), "spill_file": str(self._spill_path)}


def _read_spill(path: Path) -> Iterator[Row]:
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            try:
                yield InteractionRecord.from_json(orjson.loads(line)).to_tuple()
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                # only the line a killed process was writing can be torn
                logger.warning("skipping unreadable line %d of %s", number, path)


def _chunks(items: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
