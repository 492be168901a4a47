import json
from pathlib import Path

import pytest

import intently
from intently.backends.linear import LinearBackend
from intently.errors import StorageError
from intently.registry import list_versions, read_version

PNG_MAGIC = b"\x89PNG"

# Two intents drawn from the same words, labels assigned without a pattern: never learnable.
_WORDS = ["red", "blue", "green", "small", "large", "round", "flat", "soft", "hard", "warm"]
CONFUSABLE = {
    "alpha": [f"{_WORDS[i]} {_WORDS[(i * 3 + 1) % 10]} thing" for i in range(10)],
    "beta": [f"{_WORDS[(i * 7 + 2) % 10]} {_WORDS[i]} thing" for i in range(10)],
}


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_train_writes_a_complete_version(make_project):
    project = intently.load_project(make_project())
    run = intently.train(project)
    model_dir = run.model_dir
    assert model_dir.parent == project.root / "models" / "intent"
    assert model_dir.name == run.version.id
    assert run.passed
    names = {p.name for p in model_dir.iterdir()}
    assert {
        "labels.json",
        "metadata.json",
        "report.json",
        "report.html",
        "confusion.png",
        "confidence.png",
        "linear_vocabulary.json",
        "linear_weights.npz",
    } <= names
    assert sorted(p.name for p in run.report_files) == sorted(
        ["report.json", "report.html", "confusion.png", "confidence.png"]
    )
    for png in ("confusion.png", "confidence.png"):
        assert (model_dir / png).read_bytes().startswith(PNG_MAGIC)
    assert json.loads((model_dir / "report.json").read_text(encoding="utf-8"))["n"] == run.report.n
    labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    assert labels == ["cancel_order", "goodbye", "greeting", "order_status", "refund"]

    meta = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["id"] == model_dir.name
    assert meta["task"] == "intent"
    assert meta["backend"] == "linear"
    assert meta["labels"] == labels
    assert meta["params"]["seed"] == 13
    assert meta["params"]["C"] == 1.0
    assert {"intently", "python", "numpy", "scikit-learn"} <= set(meta["versions"])
    assert meta["dataset_fingerprint"].startswith("sha256:")
    assert meta["dataset_fingerprint"] == run.dataset.fingerprint
    assert {"accuracy", "macro_f1", "min_intent_f1", "coverage", "ece"} <= set(meta["metrics"])
    assert meta["metrics"]["accuracy"] == pytest.approx(run.report.accuracy)
    assert meta["fallback"]["label"] == "oos"
    assert meta["fallback"]["threshold"] == 0.0  # no out-of-scope data: nothing to tune
    assert meta["fallback"]["tuning"] is None
    assert meta["created_at"].startswith("20")
    assert meta["status"] == "candidate"
    assert meta["extra"]["dataset"]["evaluated_on"] == "test"
    assert [g["name"] for g in meta["extra"]["gates"]] == [
        "accuracy",
        "macro_f1",
        "min_intent_f1",
        "coverage",
    ]
    assert read_version(model_dir) == run.version


def test_same_project_trains_the_same_model(make_project, tmp_path):
    project = intently.load_project(make_project())
    first = intently.train(project, write_reports=False)
    second = intently.train(project, write_reports=False)
    assert first.version.id != second.version.id
    assert first.version.dataset_fingerprint == second.version.dataset_fingerprint
    assert (first.model_dir / "linear_weights.npz").read_bytes() == (
        second.model_dir / "linear_weights.npz"
    ).read_bytes()
    assert list_versions(project.model_root() / "intent") == sorted(
        [first.model_dir, second.model_dir]
    )


def test_failed_gates_store_a_rejected_version_with_weak_intents(make_project):
    project = intently.load_project(
        make_project(
            intents={**CONFUSABLE, "greeting": ["hello", "hi", "hey there", "good morning"]},
            gates={"accuracy": 0.0, "macro_f1": 0.0, "min_intent_f1": 1.0, "coverage": 0.0},
        )
    )
    run = intently.train(project, write_reports=False)
    assert not run.passed
    assert run.version.status == "rejected"
    assert run.weak_intents
    assert {w.label for w in run.weak_intents} <= {"alpha", "beta", "greeting"}
    assert all(w.more_examples >= 1 for w in run.weak_intents)
    meta = json.loads((run.model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["status"] == "rejected"
    assert meta["extra"]["weak_intents"][0]["label"] == run.weak_intents[0].label
    failed = [g for g in meta["extra"]["gates"] if not g["passed"]]
    assert [g["name"] for g in failed] == ["min_intent_f1"]


def test_out_of_scope_examples_tune_the_threshold(make_project, oos_queries):
    project = intently.load_project(make_project(oos=oos_queries))
    run = intently.train(project, write_reports=False)
    assert "oos" in run.version.labels
    assert any(e.label == "oos" for e in run.dataset.valid)
    tuning = run.version.fallback["tuning"]
    assert tuning is not None
    assert set(tuning) >= {
        "objective",
        "valid_in_scope_accuracy",
        "valid_oos_recall",
        "valid_in_scope_accuracy_without_threshold",
        "probability_threshold",
    }
    assert tuning["probability_threshold"] == run.version.fallback["threshold"]  # no novelty
    assert 0.0 <= run.version.fallback["threshold"] <= 1.0
    assert run.report.oos is not None
    assert run.version.metrics["oos_recall"] == pytest.approx(run.report.oos.oos_recall)


def test_fixed_threshold_is_used_as_given(make_project, oos_queries):
    project = intently.load_project(
        make_project(oos=oos_queries, fallback={"threshold": 0.33, "ambiguity_threshold": 0.05})
    )
    run = intently.train(project, write_reports=False)
    assert run.version.fallback["threshold"] == 0.33
    assert run.version.fallback["ambiguity_threshold"] == 0.05
    assert run.version.fallback["tuning"] is None


def test_crash_while_saving_leaves_previous_versions_untouched(make_project, monkeypatch):
    project = intently.load_project(make_project())
    previous = intently.train(project, write_reports=False)
    task_dir = previous.model_dir.parent
    before = _snapshot(task_dir)

    def broken_save(self, directory):
        (Path(directory) / "linear_weights.npz").write_bytes(b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(LinearBackend, "save", broken_save)
    with pytest.raises(StorageError, match="No space left") as info:
        intently.train(project, write_reports=False)
    assert info.value.code == "E900"
    assert [p.name for p in task_dir.iterdir()] == [previous.model_dir.name]
    assert _snapshot(task_dir) == before


def test_a_second_task_from_csv_trains_under_its_own_folder(make_project, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    urgent = ["server is down now", "urgent: payment failed", "site outage please help asap"]
    urgent += ["everything is broken", "critical error in production", "help immediately"]
    normal = ["update my address sometime", "question about invoices", "how do I change my name"]
    normal += ["feature request for later", "small typo on the page", "when convenient, call me"]
    rows = ["text,label"] + [f'"{t}",urgent' for t in urgent] + [f'"{t}",normal' for t in normal]
    (data / "urgency.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    path = make_project(
        datasets=[{"path": "data/urgency.csv", "task": "urgency"}],
        tasks={"urgency": {"labels": ["normal", "urgent"], "description": "How urgent"}},
    )
    project = intently.load_project(path)
    assert project.task_names == ("intent", "urgency")
    intent_run = intently.train(project, write_reports=False)
    urgency_run = intently.train(project, "urgency", write_reports=False)
    assert urgency_run.model_dir.parent == tmp_path / "models" / "urgency"
    assert urgency_run.version.task == "urgency"
    assert urgency_run.version.labels == ("normal", "urgent")
    assert intent_run.model_dir.parent == tmp_path / "models" / "intent"
    assert list_versions(tmp_path / "models" / "intent") == [intent_run.model_dir]
    assert list_versions(tmp_path / "models" / "urgency") == [urgency_run.model_dir]
    classifier = intently.Classifier.load(urgency_run.model_dir)
    assert set(classifier.labels) == {"normal", "urgent"}


def test_unknown_task_is_a_spec_error(make_project):
    project = intently.load_project(make_project())
    with pytest.raises(intently.SpecError, match="unknown task 'intnet'"):
        intently.train(project, "intnet")


def test_a_project_without_examples_is_a_data_error(make_project):
    project = intently.load_project(make_project(intents={}))
    with pytest.raises(intently.DataError, match="has no examples"):
        intently.train(project)


def test_progress_reaches_done(make_project):
    project = intently.load_project(make_project())
    steps = []
    intently.train(project, progress=lambda s, d: steps.append((s, d)), write_reports=False)
    assert steps[0] == ("building dataset", 0.0)
    assert steps[-1] == ("done", 1.0)
    fractions = [d for _, d in steps]
    assert fractions == sorted(fractions)
