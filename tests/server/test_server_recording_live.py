"""Recording in real `intently serve` processes: two workers record every answered request
exactly once and flush on SIGTERM; a database outage is spilled and replayed."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
from server_helpers import http, start_server, wait_for
from sqlalchemy import text

from intently.db import Database, InteractionStore
from pg_database import postgres_schema, postgres_unavailable

pytestmark = pytest.mark.slow
TEXTS = ["hello", "where is my order", "refund please", "tell me a joke"]


def classify_many(base: str, n: int) -> list[str]:
    """``n`` requests from 8 threads; the interaction ids of the answers."""

    def one(i: int) -> str:
        status, body = http(base + "/v1/classify", {"text": TEXTS[i % len(TEXTS)]})
        assert status == 200, body
        return json.loads(body)["interaction_id"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def recorded(url: str) -> list[str]:
    db = Database(url)
    try:
        return [record.id for record in InteractionStore(db).iter_records()]
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_workers_record_each_answer_once_and_flush_on_sigterm(
    served_project, tmp_path, backend
):
    if backend == "postgresql" and postgres_unavailable():
        pytest.skip(postgres_unavailable())
    with postgres_schema() if backend == "postgresql" else _sqlite(tmp_path) as url:
        # nothing is written before shutdown: the flush interval and batch are out of reach
        settings = {"database_url": url, "record_flush_interval_s": "600"}
        server = start_server(
            served_project.path,
            tmp_path,
            workers=2,
            settings=settings | {"record_batch_size": "100000"},
        )
        try:
            server.wait_ready()
            ids = classify_many(server.base, 240)
            assert recorded(url) == []  # all still buffered in the two workers
        finally:
            server.kill(signal.SIGTERM)
        assert server.process.returncode == 0, server.output()
        rows = recorded(url)
        assert len(rows) == len(ids) == len(set(ids)) == 240
        assert set(rows) == set(ids)


class _sqlite:
    def __init__(self, folder):
        self.url = f"sqlite:///{folder / 'live.db'}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


def test_an_outage_of_the_live_database_loses_nothing(served_project, tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    settings = {"database_url": url, "record_flush_interval_s": "0.1"}
    server = start_server(served_project.path, tmp_path, settings=settings)
    db = Database(url)
    try:
        server.wait_ready()
        first = classify_many(server.base, 20)
        assert wait_for(lambda: len(recorded(url)) == 20)
        with db.engine.begin() as connection:  # the table disappears: every write fails
            connection.execute(text("ALTER TABLE interactions RENAME TO away"))
        during = classify_many(server.base, 30)
        spill = served_project.root / ".intently" / "spill"
        assert wait_for(
            lambda: sum(len(p.read_bytes().splitlines()) for p in spill.glob("*.jsonl")) == 30
        )
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE away RENAME TO interactions"))
        after = classify_many(server.base, 10)
        assert wait_for(lambda: len(recorded(url)) == 60, timeout=15), server.output()
    finally:
        server.kill(signal.SIGTERM)
        db.dispose()
    assert sorted(recorded(url)) == sorted(first + during + after)
