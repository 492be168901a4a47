import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from intently.errors import ModelError
from intently.registry import (
    LABELS_FILE,
    METADATA_FILE,
    ModelVersion,
    Status,
    latest_version,
    library_versions,
    list_versions,
    new_version_id,
    read_version,
    write_version,
)

START = datetime(2021, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def _version(version_id: str, status: Status = Status.CANDIDATE) -> ModelVersion:
    return ModelVersion(
        id=version_id,
        task="intent",
        backend="linear",
        labels=("a", "b"),
        params={"C": 1.0},
        metrics={"accuracy": 0.9},
        dataset_fingerprint="sha256:0",
        created_at="2026-01-02T03:04:05+00:00",
        status=status,
        fallback={"label": "oos", "threshold": 0.0, "ambiguity_threshold": 0.0},
        versions={"intently": "0"},
    )


def _write_model(directory: Path) -> None:
    (directory / "weights.bin").write_bytes(b"\x00\x01")


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_version_ids_sort_by_creation_time():
    times = [START + timedelta(milliseconds=ms) for ms in (0, 1, 999, 1000, 60_000, 86_400_000)]
    ids = [new_version_id(t) for t in times]
    assert sorted(ids) == ids
    assert len(set(ids)) == len(ids)
    assert ids[0].startswith("20210102T030405678Z-")
    assert len(ids[0].rsplit("-", 1)[1]) == 4
    assert new_version_id() > ids[0]  # the clock has moved past 2021-01-02


def test_write_and_read_version_round_trip(tmp_path):
    version = _version(new_version_id(START))
    final = write_version(tmp_path / "intent", version, _write_model)
    assert final == tmp_path / "intent" / version.id
    assert sorted(p.name for p in final.iterdir()) == [LABELS_FILE, METADATA_FILE, "weights.bin"]
    assert json.loads((final / LABELS_FILE).read_text(encoding="utf-8")) == ["a", "b"]
    assert read_version(final) == version
    assert [p.name for p in (tmp_path / "intent").iterdir()] == [version.id]


def test_write_version_failure_leaves_nothing_behind(tmp_path):
    task_dir = tmp_path / "intent"
    existing = write_version(task_dir, _version(new_version_id(START)), _write_model)
    before = _snapshot(task_dir)

    def crash(directory: Path) -> None:
        (directory / "half-written.bin").write_bytes(b"partial")
        raise RuntimeError("disk full")

    failed = _version(new_version_id(START + timedelta(seconds=1)))
    with pytest.raises(RuntimeError, match="disk full"):
        write_version(task_dir, failed, crash)
    assert [p.name for p in task_dir.iterdir()] == [existing.name]
    assert not (task_dir / failed.id).exists()
    assert not list(task_dir.glob(".staging-*"))
    assert _snapshot(task_dir) == before


def test_write_version_interrupted_leaves_nothing_behind(tmp_path):
    task_dir = tmp_path / "intent"

    def interrupted(directory: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_version(task_dir, _version(new_version_id(START)), interrupted)
    assert list(task_dir.iterdir()) == []


def test_existing_version_is_never_overwritten(tmp_path):
    version = _version(new_version_id(START))
    final = write_version(tmp_path, version, _write_model)
    before = _snapshot(final)
    with pytest.raises(ModelError, match="already exists"):
        write_version(tmp_path, version, lambda d: (d / "weights.bin").write_bytes(b"new"))
    assert _snapshot(final) == before
    assert not list(tmp_path.glob(".staging-*"))


def test_list_versions_ignores_staging_hidden_and_foreign_entries(tmp_path):
    ids = [new_version_id(START + timedelta(minutes=m)) for m in (2, 0, 1)]
    for version_id in ids:
        write_version(tmp_path, _version(version_id), _write_model)
    staging = tmp_path / f".staging-{new_version_id(START + timedelta(hours=1))}"
    staging.mkdir()
    (staging / METADATA_FILE).write_text("{}", encoding="utf-8")
    (tmp_path / "notes").mkdir()  # no metadata.json
    (tmp_path / "README.txt").write_text("hi", encoding="utf-8")
    assert [p.name for p in list_versions(tmp_path)] == sorted(ids)
    assert list_versions(tmp_path / "missing") == []


def test_latest_version_skips_rejected_and_unreadable(tmp_path):
    assert latest_version(tmp_path) is None
    old = write_version(tmp_path, _version(new_version_id(START)), _write_model)
    rejected = write_version(
        tmp_path,
        _version(new_version_id(START + timedelta(minutes=1)), Status.REJECTED),
        _write_model,
    )
    assert latest_version(tmp_path) == old
    assert latest_version(tmp_path, usable_only=False) == rejected

    broken = tmp_path / new_version_id(START + timedelta(minutes=2))
    broken.mkdir()
    (broken / METADATA_FILE).write_text("{broken", encoding="utf-8")
    assert latest_version(tmp_path) == old
    assert latest_version(tmp_path, usable_only=False) == broken

    newer = write_version(
        tmp_path, _version(new_version_id(START + timedelta(minutes=3))), _write_model
    )
    assert latest_version(tmp_path) == newer


def test_only_rejected_versions_means_none_usable(tmp_path):
    write_version(tmp_path, _version(new_version_id(START), Status.REJECTED), _write_model)
    assert latest_version(tmp_path) is None


def test_read_version_checks_labels_agree(tmp_path):
    final = write_version(tmp_path, _version(new_version_id(START)), _write_model)
    (final / LABELS_FILE).write_text('["b", "a"]', encoding="utf-8")
    with pytest.raises(ModelError, match="disagree"):
        read_version(final)


def test_library_versions_records_the_stack():
    found = library_versions()
    assert {"intently", "python", "numpy", "scikit-learn"} <= set(found)
