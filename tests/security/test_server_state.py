"""Issue 8, the HTTP service over damaged state: a corrupt active pointer (11), a disk that
cannot be written while deploying (12), and a SQLite database that is locked, deleted or
replaced while serving (13)."""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

import intently
from intently.db import ApiKeyStore, Database
from intently.deploy import validate_model
from intently.registry import POINTER_FILE, Registry
from intently.server import Settings, create_app
from tiny_project import OOS_QUERIES, project_data

KEY = "security-admin-key"
ADMIN = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, list[str]]:
    """A trained project: versions v1 and v2 of `intent`, v1 deployed; copied per test."""
    root = tmp_path_factory.mktemp("served")
    path = root / "intently.yaml"
    path.write_text(yaml.safe_dump(project_data(oos=OOS_QUERIES)), encoding="utf-8")
    project = intently.load_project(path)
    versions = [intently.train(project, write_reports=False).version.id for _ in range(2)]
    Registry(root / "models").deploy("intent", versions[0], check=validate_model)
    return root, versions


@pytest.fixture
def root(template, tmp_path) -> Path:
    shutil.copytree(template[0], tmp_path / "project")
    return tmp_path / "project"


@pytest.fixture
def versions(template) -> list[str]:
    return template[1]


@pytest.fixture
def make_client(root: Path) -> Iterator[Callable[..., TestClient]]:
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            values: dict[str, Any] = {
                "project": root / "intently.yaml",
                "api_keys": f"admin:{KEY}",
                "database_url": f"sqlite:///{root / 'server.db'}",
                "reload_interval_s": 0.05,
                **overrides,
            }
            client = TestClient(create_app(Settings(_env_file=None, **values)))
            return stack.enter_context(client)

        yield make


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


def _pointer(root: Path) -> Path:
    return root / "models" / "intent" / POINTER_FILE


# -- 11. a corrupt active pointer ---------------------------------------------------------------


def test_a_corrupt_pointer_is_reported_listed_and_repaired_over_http(client, root, versions):
    _pointer(root).write_text("{ not json", encoding="utf-8")
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    problems = ready.json()["problems"]
    assert any("intent" in p and "unreadable" in p and "Deploy" in p for p in problems)

    listed = client.get("/v1/models", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert listed.json()["active"] is None and "unreadable" in listed.json()["problem"]
    assert {v["id"] for v in listed.json()["versions"]} == set(versions)

    deployed = client.post(f"/v1/models/{versions[1]}/deploy", headers=ADMIN)
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["active"] == versions[1]
    assert "unreadable pointer was replaced" in deployed.json()["reason"]
    assert json.loads(_pointer(root).read_text())["active"] == versions[1]
    assert client.get("/readyz").status_code == 200
    assert client.get("/v1/models", headers=ADMIN).json()["problem"] is None


def test_a_pointer_corrupt_at_start_is_not_ready_and_deploy_serves(make_client, root, versions):
    _pointer(root).write_text('{"active": "../../etc"}', encoding="utf-8")
    client = make_client()
    assert client.get("/readyz").status_code == 503
    response = client.post(f"/v1/models/{versions[0]}/deploy", headers=ADMIN)
    assert response.status_code == 200, response.text
    answer = client.post("/v1/classify", json={"text": "hello"}, headers=ADMIN)
    assert answer.status_code == 200 and answer.json()["model_version"] == versions[0]


# -- 12. a disk that cannot be written ----------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_storage_error_while_switching_is_507_and_changes_nothing(
    client, root, versions, monkeypatch, code
):
    def fail(*_args: object) -> None:
        raise OSError(code, "simulated")

    monkeypatch.setattr(Registry, "_replace_pointer", fail)
    before = _pointer(root).read_bytes()
    for route in (f"/v1/models/{versions[1]}/deploy", "/v1/models/rollback"):
        if route.endswith("rollback"):  # something to roll back to, written before the failure
            monkeypatch.undo()
            assert client.post(f"/v1/models/{versions[1]}/deploy", headers=ADMIN).is_success
            monkeypatch.setattr(Registry, "_replace_pointer", fail)
            before = _pointer(root).read_bytes()
        response = client.post(route, headers=ADMIN)
        assert response.status_code == 507, response.text
        error = response.json()["error"]
        assert error["code"] == "E900" and "simulated" in error["message"], route
        assert "previous state is unchanged" in error["hint"]
        assert _pointer(root).read_bytes() == before
        assert client.get("/readyz").status_code == 200


# -- 13. the SQLite database --------------------------------------------------------------------


def test_a_locked_database_does_not_hold_up_a_request_with_a_database_key(make_client, root):
    database = Database(f"sqlite:///{root / 'server.db'}")
    database.migrate()
    _, key = ApiKeyStore(database).create("predict")
    client = make_client(api_keys="")
    lock = sqlite3.connect(root / "server.db", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another process writing: every writer waits up to 5 s
    try:
        response = client.post("/v1/classify", json={"text": "hello"}, headers=_bearer(key))
        assert response.status_code == 200, response.text
        # Answered while the best-effort last_used_at write still waits for the lock.
        assert _last_used(database) is None
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert _wait(lambda: _last_used(database) is not None), "last_used_at was never written"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _last_used(database: Database) -> object:
    return ApiKeyStore(database).list()[0].last_used_at


def _wait(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return True
        done.wait(0.05)
    return condition()


@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_a_database_file_deleted_or_replaced_while_serving_is_not_ready_and_writes_fail(
    client, root, change
):
    assert client.get("/readyz").status_code == 200
    path = root / "server.db"
    path.unlink()
    if change == "replaced":
        path.write_bytes(b"")  # another file at the same path (a restored copy, a new file)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert any(f"{path} was {change}" in p for p in ready.json()["problems"]), ready.json()
    started = client.post("/v1/training/runs", json={"task": "intent"}, headers=ADMIN)
    assert started.status_code == 503, started.text
    error = started.json()["error"]
    assert error["code"] == "E710" and change in error["message"] and "restart" in error["hint"]
    assert client.get("/v1/training/runs", headers=ADMIN).status_code == 503
    assert client.post("/v1/classify", json={"text": "hello"}, headers=ADMIN).is_success
