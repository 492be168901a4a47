"""`intently retrain`, `intently ab ...` and `intently monitor` over the project's database,
and the service scheduler's tick."""

from __future__ import annotations

import json

import pytest

import intently
from conftest import Deployed
from intently.cli import main
from intently.db import Database, RunStatus, TrainingRunStore
from intently.db.interactions import InteractionRecord, InteractionStore, new_interaction_id
from intently.loop.monitor import snapshots
from intently.loop.scheduler import LearningScheduler
from tiny_project import INTENTS


def _run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    return code, capsys.readouterr().out


def _project_database(deployed: Deployed) -> Database:
    database = Database(f"sqlite:///{deployed.root / 'intently.db'}")
    database.migrate()
    return database


def _reviewed(database: Database, n: int) -> None:
    texts = [(f"{text} thanks", label) for label, items in INTENTS.items() for text in items][:n]
    store = InteractionStore(database)
    records = [
        InteractionRecord(new_interaction_id(), "intent", text, "refund", 0.4, (), "v")
        for text, _ in texts
    ]
    store.add_many(records)
    for record, (_, label) in zip(records, texts, strict=True):
        store.correct(record.id, label, reviewer="cli")


def test_retrain_if_needed_from_the_command_line(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    database = _project_database(deployed)
    code, printed = _run(capsys, "retrain", "--if-needed", "-p", deployed.path, "--json")
    assert code == 0
    assert json.loads(printed)[0]["started"] is False
    _reviewed(database, 6)
    code, printed = _run(capsys, "retrain", "-p", deployed.path, "--json", "--no-export")
    (outcome,) = json.loads(printed)
    assert code == 0 and outcome["started"] and outcome["deployed"]
    assert outcome["feedback"]["added"] == 6
    database.dispose()


def test_ab_commands_start_report_and_stop(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    project = intently.load_project(deployed.path)
    challenger = intently.train(project, write_reports=False, export=False).version.id
    code, printed = _run(capsys, "ab", "start", challenger, "--share", "0.2", "-p", deployed.path)
    assert code == 0 and challenger in printed
    code, printed = _run(capsys, "ab", "report", "-p", deployed.path)
    assert code == 0
    assert json.loads(printed)["arms"]["challenger"]["version"] == challenger
    assert _run(capsys, "ab", "stop", "-p", deployed.path)[0] == 0
    code, printed = _run(capsys, "ab", "list", "-p", deployed.path)
    assert "stopped" in printed
    assert _run(capsys, "ab", "stop", "-p", deployed.path)[0] == 1  # none runs now
    code, printed = _run(capsys, "monitor", "--hours", "1", "-p", deployed.path)
    assert code == 0 and json.loads(printed)["tasks"]["intent"]["volume"] == 0


def test_sticky_choices_of_the_cli_are_the_library_s() -> None:
    from intently.cli.learning import StickyChoice
    from intently.loop.ab import StickyBy

    assert {c.value for c in StickyChoice} == {s.value for s in StickyBy}


def test_scheduler_tick_retrains_when_due_and_stores_snapshots(deployed: Deployed) -> None:
    deployed.write(learning={"retrain_after": 5, "check_every_minutes": 1})
    database = _project_database(deployed)
    _reviewed(database, 5)
    now = [0.0]
    deployed_tasks: list[str] = []
    ticks: list[int] = []
    scheduler = LearningScheduler(
        deployed.path,
        database,
        on_deploy=deployed_tasks.append,
        on_tick=lambda: ticks.append(1),
        clock=lambda: now[0],
        export=False,
    )
    assert scheduler.tick() == []  # not due yet: a minute has not passed
    assert TrainingRunStore(database).list() == []
    now[0] = 61.0
    (outcome,) = scheduler.tick()
    assert outcome.started and outcome.deployed and deployed_tasks == ["intent"]
    assert TrainingRunStore(database).list()[0].status == RunStatus.SUCCEEDED
    assert len(ticks) == 2
    assert snapshots(database, "intent", "hour")  # the last complete hour, stored at once
    database.dispose()
