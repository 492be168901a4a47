import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from intently.db import RunConflict, RunNotFound, RunStatus, TrainingRunRecord, TrainingRunStore
from intently.db.runs import INTERRUPTED, current_owner, default_owner_alive
from intently.errors import IntentlyError


@pytest.fixture
def runs(database):
    return TrainingRunStore(database)


def test_create_queues_a_run_owned_by_this_process(runs):
    run = runs.create("intent")
    assert isinstance(run, TrainingRunRecord)
    assert run.status is RunStatus.QUEUED and run.status == "queued"
    assert run.task == "intent"
    assert run.owner == f"{socket.gethostname()}:{os.getpid()}" == current_owner()
    assert run.log == "" and run.error is None and run.version is None and run.passed is None
    assert run.started_at is None and run.finished_at is None
    assert run.created_at.utcoffset().total_seconds() == 0
    assert runs.get(run.id) == run


def test_second_run_of_the_same_task_conflicts_but_other_tasks_do_not(runs):
    first = runs.create("intent")
    with pytest.raises(RunConflict) as info:
        runs.create("intent")
    assert isinstance(info.value, IntentlyError)
    assert info.value.run_id == first.id
    assert first.id in str(info.value) and "intent" in str(info.value)
    runs.mark_running(first.id)
    with pytest.raises(RunConflict, match="running"):
        runs.create("intent")
    other = runs.create("sentiment")  # a different task is independent
    assert other.status is RunStatus.QUEUED
    assert [run.id for run in runs.list("intent")] == [first.id]


@pytest.mark.parametrize("outcome", ["finish", "fail"])
def test_a_new_run_may_start_once_the_previous_one_ended(runs, outcome):
    first = runs.create("intent")
    if outcome == "finish":
        runs.finish(first.id, version="v1", passed=True, metrics={})
    else:
        runs.fail(first.id, "boom")
    second = runs.create("intent")
    assert second.id != first.id and second.status is RunStatus.QUEUED


@pytest.mark.parametrize("workers", [2, 6])
def test_racing_creators_exactly_one_wins(open_database, workers):
    """Every thread has its own Database (its own connections), like separate processes."""
    open_database().migrate()
    stores = [TrainingRunStore(open_database()) for _ in range(workers)]
    for round_ in range(5):
        task = f"task-{round_}"
        barrier = threading.Barrier(workers)
        results: list[object] = []

        def start(store: TrainingRunStore, task: str = task, barrier=barrier, results=results):
            barrier.wait()
            try:
                results.append(store.create(task))
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=start, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        winners = [r for r in results if isinstance(r, TrainingRunRecord)]
        losers = [r for r in results if not isinstance(r, TrainingRunRecord)]
        assert len(results) == workers
        assert len(winners) == 1, results
        assert all(isinstance(r, RunConflict) for r in losers), losers
        assert len(stores[0].list(task)) == 1


def test_lifecycle_running_log_and_finish(runs):
    run = runs.create("intent")
    running = runs.mark_running(run.id)
    assert running.status is RunStatus.RUNNING
    assert running.started_at is not None and running.started_at >= run.created_at
    with pytest.raises(RunConflict, match="not queued"):
        runs.mark_running(run.id)
    runs.append_log(run.id, "loading data")
    runs.append_log(run.id, "fitting linear\n")
    runs.append_log(run.id, "ünïcödé ✓")
    assert runs.get(run.id).log == "loading data\nfitting linear\nünïcödé ✓\n"
    metrics = {"accuracy": 0.93, "per_intent": {"greeting": {"f1": 1.0}}, "labels": ["a", "b"]}
    done = runs.finish(run.id, version="20250101-000000-abc", passed=False, metrics=metrics)
    assert done.status is RunStatus.SUCCEEDED
    assert done.version == "20250101-000000-abc"
    assert done.passed is False
    assert done.metrics == metrics
    assert done.finished_at >= done.started_at
    assert runs.get(run.id) == done


def test_fail_records_the_error(runs):
    run = runs.create("intent")
    runs.mark_running(run.id)
    failed = runs.fail(run.id, "[E300] the backend could not fit")
    assert failed.status is RunStatus.FAILED
    assert failed.error == "[E300] the backend could not fit"
    assert failed.finished_at is not None
    assert failed.version is None and failed.metrics is None


def test_unknown_run_ids(runs):
    assert runs.get("run_missing") is None
    for call in (
        lambda: runs.mark_running("run_missing"),
        lambda: runs.append_log("run_missing", "x"),
        lambda: runs.finish("run_missing", version="v", passed=True, metrics={}),
        lambda: runs.fail("run_missing", "x"),
    ):
        with pytest.raises(RunNotFound, match="run_missing"):
            call()


def test_list_is_newest_first_filtered_and_limited(runs):
    made = []
    for task in ("a", "b", "a", "c"):
        run = runs.create(task)
        runs.finish(run.id, version="v", passed=True, metrics={})
        made.append(run.id)
        time.sleep(0.002)
    assert [run.id for run in runs.list()] == made[::-1]
    assert [run.id for run in runs.list("a")] == [made[2], made[0]]
    assert [run.id for run in runs.list(limit=2)] == [made[3], made[2]]
    assert runs.list("missing") == []


def test_recover_interrupted_fails_runs_of_dead_owners(runs):
    alive = runs.create("alive-task", owner="host-a:1")
    dead_queued = runs.create("dead-queued", owner="host-a:2")
    dead_running = runs.create("dead-running", owner="host-b:3")
    runs.mark_running(dead_running.id)  # now owned by this process
    done = runs.create("done", owner="host-a:2")
    runs.finish(done.id, version="v", passed=True, metrics={})

    asked: list[str] = []

    def owner_alive(owner: str) -> bool:
        asked.append(owner)
        return owner in ("host-a:1",)

    assert runs.recover_interrupted(owner_alive) == 2
    assert sorted(asked) == sorted(["host-a:1", "host-a:2", current_owner()])  # active only
    assert runs.get(alive.id).status is RunStatus.QUEUED
    for run_id in (dead_queued.id, dead_running.id):
        recovered = runs.get(run_id)
        assert recovered.status is RunStatus.FAILED
        assert recovered.error == INTERRUPTED
        assert recovered.finished_at is not None
    assert runs.get(done.id).status is RunStatus.SUCCEEDED
    assert runs.recover_interrupted(owner_alive) == 0  # idempotent
    runs.create("dead-queued")  # the task is free again


def test_recover_interrupted_default_keeps_this_process_runs(runs):
    mine = runs.create("mine")
    gone = runs.create("gone", owner=f"{socket.gethostname()}:{_dead_pid()}")
    assert runs.recover_interrupted() == 1
    assert runs.get(mine.id).status is RunStatus.QUEUED
    assert runs.get(gone.id).error == INTERRUPTED


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_default_owner_alive():
    host = socket.gethostname()
    assert default_owner_alive(current_owner())
    assert default_owner_alive(f"{host}:{os.getppid()}")  # another live process
    assert not default_owner_alive(f"{host}:{_dead_pid()}")
    assert not default_owner_alive(f"not-{host}:{os.getpid()}")  # another host: unknown, gone
    assert not default_owner_alive("")
    assert not default_owner_alive(f"{host}:notapid")


def test_run_status_values():
    assert [status.value for status in RunStatus] == ["queued", "running", "succeeded", "failed"]
    assert RunStatus.QUEUED.active and RunStatus.RUNNING.active
    assert not RunStatus.SUCCEEDED.active and not RunStatus.FAILED.active
