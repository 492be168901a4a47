"""The recorder on SQLite and PostgreSQL: batches, shutdown flush, an outage spilled to the
local file and replayed exactly once, orphans of dead processes, the memory bound."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text

from intently.db.interactions import InteractionStore, new_interaction_id
from intently.db.recorder import Recorder, RecorderSettings
from intently.db.redaction import Redactor
from intently.db.tables import Interaction


@dataclass(frozen=True)
class Answer:
    """What the recorder reads of a runtime Prediction."""

    label: str = "refund"
    confidence: float = 0.7
    ranking: tuple[tuple[str, float], ...] = (("refund", 0.7), ("greeting", 0.3))
    model_version: str = "v1"
    runtime: str = "native"
    fallback: bool = False


def stored(database) -> int:
    with database.connection() as connection:
        return connection.execute(select(func.count()).select_from(Interaction)).scalar_one()


def record_n(recorder: Recorder, n: int, text: str = "where is my refund") -> list[str]:
    ids = [new_interaction_id() for _ in range(n)]
    for iid in ids:
        recorder.record_prediction(iid, "intent", text, Answer(), 0.1, "c1", "u1")
    return ids


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


def make(database, tmp_path, **settings) -> Recorder:
    values = {"batch_size": 50, "interval_s": 30.0, "retry_s": 0.05, **settings}
    return Recorder(InteractionStore(database), tmp_path / "spill", RecorderSettings(**values))


def test_full_batches_flush_at_once_and_the_rest_on_close(database, tmp_path):
    recorder = make(database, tmp_path)
    recorder.start()
    ids = record_n(recorder, 120)
    assert wait_for(lambda: stored(database) >= 100)  # two full batches, no 30 s wait
    recorder.close()
    assert stored(database) == 120
    record = InteractionStore(database).get(ids[-1])
    assert (record.label, record.user_id, record.conversation_id) == ("refund", "u1", "c1")
    assert list((tmp_path / "spill").iterdir()) == []  # an empty spill file is removed


def _break(database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("ALTER TABLE interactions RENAME TO interactions_away"))


def _repair(database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("ALTER TABLE interactions_away RENAME TO interactions"))


def test_an_outage_spills_and_the_recovery_replays_everything_once(database, tmp_path):
    recorder = make(database, tmp_path)
    recorder.start()
    _break(database)
    ids = record_n(recorder, 130)
    recorder.flush()
    assert recorder.counts["spilled"] == 130 and recorder.counts["written"] == 0
    (spill,) = (tmp_path / "spill").glob("*.jsonl")
    assert len(spill.read_bytes().splitlines()) == 130
    _repair(database)
    time.sleep(0.06)  # past retry_s
    ids += record_n(recorder, 5)
    recorder.flush()
    assert stored(database) == 135
    assert recorder.counts["replayed"] == 130
    assert spill.stat().st_size == 0
    recorder.close()
    assert stored(database) == 135
    assert {r.id for r in InteractionStore(database).iter_records()} == set(ids)


def test_close_during_an_outage_spills_and_the_next_process_replays(database, tmp_path):
    first = make(database, tmp_path)
    first.start()
    _break(database)
    ids = record_n(first, 40)
    first.close()  # what SIGTERM does: nothing is lost, the spill file stays
    (spill,) = (tmp_path / "spill").glob("*.jsonl")
    with spill.open("ab") as stream:
        stream.write(b'{"id": "torn')  # the line a killed process was writing
    _repair(database)
    second = make(database, tmp_path)
    second.start()  # replays the orphan file of the process before
    assert stored(database) == 40
    assert not spill.exists()
    second.close()
    assert {r.id for r in InteractionStore(database).iter_records()} == set(ids)


def test_a_live_recorders_spill_file_is_left_alone(database, tmp_path):
    alive = make(database, tmp_path)
    alive.start()
    _break(database)
    record_n(alive, 10)
    alive.flush()
    _repair(database)
    other = make(database, tmp_path)
    other.start()  # the file is locked by a live process: not an orphan
    assert stored(database) == 0 and other.counts["replayed"] == 0
    other.close()
    time.sleep(0.06)
    alive.flush()
    assert stored(database) == 10
    alive.close()


def test_past_max_buffer_answers_go_to_the_spill_file(database, tmp_path):
    recorder = make(database, tmp_path, batch_size=1000, max_buffer=20)
    recorder.start()
    record_n(recorder, 25)
    assert recorder.counts["spilled"] == 5 and len(recorder._buffer) == 20
    recorder.close()
    assert stored(database) == 25


def test_concurrent_recording_threads_lose_nothing(database, tmp_path):
    recorder = make(database, tmp_path, batch_size=64, interval_s=0.01)
    recorder.start()
    threads = [threading.Thread(target=record_n, args=(recorder, 500)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    assert stored(database) == 2000


def test_texts_are_redacted_before_storage(database, tmp_path):
    recorder = Recorder(
        InteractionStore(database),
        tmp_path / "spill",
        RecorderSettings(interval_s=30.0),
        redact=Redactor.default(),
    )
    recorder.start()
    (iid,) = record_n(recorder, 1, "refund to ana@example.com, card 4111 1111 1111 1111")
    recorder.close()
    assert InteractionStore(database).get(iid).text == "refund to <EMAIL>, card <CARD>"


@pytest.fixture(autouse=True)
def _no_thread_leak():
    before = {t.name for t in threading.enumerate()}
    yield
    assert "intently-recorder" not in {t.name for t in threading.enumerate()} - before


def test_numpy_scores_are_written_and_spilled(database, tmp_path):
    import numpy as np

    scores = (("refund", np.float32(0.75)), ("greeting", np.float32(0.25)))
    answer = Answer(confidence=np.float32(0.75), ranking=scores)
    recorder = make(database, tmp_path)
    recorder.start()
    first, second = new_interaction_id(), new_interaction_id()
    recorder.record_prediction(first, "intent", "refund", answer, 0.1)
    recorder.flush()
    _break(database)
    recorder.record_prediction(second, "intent", "refund", answer, 0.1)
    recorder.flush()  # spilled
    _repair(database)
    recorder.close()  # replays
    store = InteractionStore(database)
    for iid in (first, second):
        assert store.get(iid).ranking == (("refund", 0.75), ("greeting", 0.25))
