"""`intently review`, `data export --reviewed|--recorded`, `data import` (Label Studio round
trip and JSONL corrections) and `db prune`, over a project with one deployed model."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from intently.cli import app, main
from intently.db import Database, InteractionRecord, InteractionStore
from intently.db.interactions import new_interaction_id
from intently.registry import Registry

runner = CliRunner()
TEXTS = ["hello there", "where is my parcel", "bye now", "refund me", "hi hi"]
RANKING = (("order_status", 0.2), ("greeting", 0.15), ("goodbye", 0.1))


@pytest.fixture
def project(make_project, trained_model_dir, tmp_path):
    """A project whose task 'intent' serves the tiny model, and five recorded answers with
    confidences 0.1 .. 0.5 (all answered 'order_status')."""
    path = make_project()
    models = tmp_path / "models" / "intent"
    shutil.copytree(trained_model_dir, models / trained_model_dir.name)
    Registry(tmp_path / "models").deploy("intent", trained_model_dir.name, check=lambda _: None)
    database = Database(f"sqlite:///{tmp_path / 'intently.db'}")
    database.migrate()
    records = [
        InteractionRecord(
            id=new_interaction_id(),
            task="intent",
            text=text,
            label="order_status",
            confidence=0.1 * (i + 1),
            ranking=RANKING,
            model_version=trained_model_dir.name,
            created_at=datetime.now(UTC) - timedelta(days=100 * (i == 4)),
        )
        for i, text in enumerate(TEXTS)
    ]
    InteractionStore(database).add_many(records)
    database.dispose()
    return path, [r.id for r in records]


def fails(capsys, *args: str) -> tuple[int, str]:
    """Run ``intently ARGS`` through the console entry point; (exit code, flat stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code), " ".join(capsys.readouterr().err.split())


def _store(project_path):
    return InteractionStore(Database(f"sqlite:///{project_path.parent / 'intently.db'}"))


def invoke(*args: str, input: str | None = None):
    result = runner.invoke(app, list(args), input=input)
    result.flat = " ".join(result.output.split())  # rich wraps long lines
    return result


def test_review_queue_keys(project):
    path, ids = project
    keys = "2\nx\na\ns\nn\ncancel_order\nq\n"  # x: unknown key, asked again
    result = invoke("review", "-p", str(path), "--reviewer", "ana", input=keys)
    assert result.exit_code == 0, result.output
    assert result.output.index(TEXTS[0]) < result.output.index(TEXTS[1])  # lowest first
    assert "'x'?" in result.output
    assert "1 approved, 2 corrected, 1 skipped" in result.output
    store = _store(path)
    got = {iid: store.get(iid) for iid in ids}
    assert got[ids[0]].reviewed_label == "greeting" and got[ids[0]].review_status == "corrected"
    assert got[ids[1]].review_status == "approved" and got[ids[1]].reviewer == "ana"
    assert got[ids[2]].review_status == "skipped"
    assert got[ids[3]].reviewed_label == "cancel_order"
    assert store.corrections(ids[3])[0].is_new_label
    assert got[ids[4]].review_status == "pending"
    store.db.dispose()


def test_review_ends_when_the_queue_or_the_input_does(project):
    path, _ = project
    result = invoke("review", "-p", str(path), input="a\na\na\na\na\n")
    assert "The review queue is empty." in result.output and "5 approved" in result.output
    again = invoke("review", "-p", str(path), input="")
    assert again.exit_code == 0 and "The review queue is empty." in again.output


def test_export_reviewed_in_each_format(project, tmp_path):
    path, ids = project
    invoke("review", "-p", str(path), input="2\na\nq\n")  # 2: the second-ranked label
    out = tmp_path / "reviewed.jsonl"
    result = invoke("data", "export", "-p", str(path), "--reviewed", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(r["interaction_id"], r["label"]) for r in rows} == {
        (ids[0], "greeting"),
        (ids[1], "order_status"),
    }
    table = tmp_path / "all.csv"
    invoke(
        "data",
        "export",
        "-p",
        str(path),
        "--recorded",
        "all",
        "--format",
        "csv",
        "--out",
        str(table),
    )
    assert len(list(csv.DictReader(table.open()))) == 5
    bad = invoke("data", "export", "-p", str(path), "--reviewed", "--format", "xml", "--out", "x")
    assert bad.exit_code == 2 and "label-studio" in bad.output


def test_label_studio_round_trip(project, tmp_path):
    path, ids = project
    tasks_file = tmp_path / "tasks.json"
    result = invoke(
        "data",
        "export",
        "-p",
        str(path),
        "--recorded",
        "pending",
        "--format",
        "label-studio",
        "--out",
        str(tasks_file),
    )
    assert result.exit_code == 0, result.output
    tasks = json.loads(tasks_file.read_text())
    assert len(tasks) == 5
    assert tasks[0]["predictions"][0]["result"][0]["value"]["choices"] == ["order_status"]
    # what Label Studio exports after annotating: a correction, an approval, a cancelled one
    by_id = {t["data"]["interaction_id"]: t for t in tasks}

    def annotate(iid, label, **extra):
        result = [
            {
                "from_name": "intent",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [label]},
            }
        ]
        by_id[iid]["annotations"] = [
            {"result": result, "completed_by": {"email": "lee@x.io"}, **extra}
        ]

    annotate(ids[0], "greeting")
    annotate(ids[1], "order_status")
    annotate(ids[2], "goodbye", was_cancelled=True)
    exported = tmp_path / "ls-export.json"
    exported.write_text(json.dumps(list(by_id.values())))
    imported = invoke("data", "import", str(exported), "-p", str(path))
    assert imported.exit_code == 0, imported.output
    assert "2 labels" in imported.flat and "1 approved, 1 corrected" in imported.flat
    store = _store(path)
    assert store.get(ids[0]).reviewed_label == "greeting"
    assert store.get(ids[0]).reviewer == "label-studio:lee@x.io"
    assert store.get(ids[1]).review_status == "approved"
    assert store.get(ids[2]).review_status == "pending"
    store.db.dispose()
    back = tmp_path / "back.json"
    invoke(
        "data",
        "export",
        "-p",
        str(path),
        "--reviewed",
        "--format",
        "label-studio",
        "--out",
        str(back),
    )
    reviewed = {t["data"]["interaction_id"]: t for t in json.loads(back.read_text())}
    assert reviewed[ids[0]]["annotations"][0]["result"][0]["value"]["choices"] == ["greeting"]


def test_jsonl_import_checks_every_label_first(project, tmp_path, capsys):
    path, ids = project
    lines = tmp_path / "fixes.jsonl"
    lines.write_text(
        json.dumps({"interaction_id": ids[0], "label": "greeting"})
        + "\n"
        + json.dumps({"interaction_id": ids[1], "label": "greting"})
        + "\n"
    )
    code, message = fails(capsys, "data", "import", str(lines), "-p", str(path))
    assert code == 1 and "fixes.jsonl:2" in message and "E721" in message
    store = _store(path)
    assert store.get(ids[0]).review_status == "pending"  # nothing was written
    lines.write_text(
        json.dumps({"interaction_id": ids[0], "label": "greeting", "reviewer": "kim"})
        + "\n"
        + json.dumps({"interaction_id": ids[1], "label": "billing", "new_label": True})
        + "\n"
        + json.dumps({"interaction_id": "f" * 32, "label": "greeting"})
        + "\n"
    )
    result = invoke("data", "import", str(lines), "-p", str(path))
    assert result.exit_code == 0, result.output
    assert "0 approved, 2 corrected, 1 unknown ids" in result.flat
    assert store.get(ids[0]).reviewer == "kim" and store.get(ids[1]).reviewed_label == "billing"
    store.db.dispose()
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"interaction_id": "x"}\n')
    code, message = fails(capsys, "data", "import", str(broken), "-p", str(path))
    assert code == 1 and "broken.jsonl:1" in message and "E722" in message


def test_db_prune(project, capsys):
    path, ids = project
    result = invoke("db", "prune", "--older-than", "90d", "-p", str(path))
    assert result.exit_code == 0, result.output
    assert "Deleted 1 recorded answers" in result.flat
    store = _store(path)
    assert store.get(ids[4]) is None and store.get(ids[0]) is not None
    store.db.dispose()
    code, message = fails(capsys, "db", "prune", "--older-than", "ninety days", "-p", str(path))
    assert code == 1 and "E723" in message


def test_in_a_terminal_keys_act_without_enter(project):
    """A real pseudo-terminal: '2' corrects and 'q' quits, no Enter pressed."""
    import os
    import pty
    import subprocess
    import sys

    path, ids = project
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "intently.cli", "review", "-p", str(path)],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    os.close(follower)
    os.write(leader, b"2q")
    output, _ = child.communicate(timeout=60)
    os.close(leader)
    assert child.returncode == 0, output.decode()
    assert "1 corrected" in output.decode()
    store = _store(path)
    assert store.get(ids[0]).reviewed_label == "greeting"
    assert store.get(ids[1]).review_status == "pending"
    store.db.dispose()
