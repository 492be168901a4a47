import re

import pytest
from typer.testing import CliRunner

from intently.cli import app
from intently.db import ApiKeyStore, Database, Role, default_database_url

runner = CliRunner()
KEY = re.compile(r"ik_[A-Za-z0-9_-]{32}")


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'keys.db'}"


def _store(url: str) -> tuple[Database, ApiKeyStore]:
    db = Database(url)
    return db, ApiKeyStore(db)


def test_create_prints_a_key_once_that_then_verifies(url):
    result = runner.invoke(
        app, ["keys", "create", "--role", "admin", "--name", "ci", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert KEY.fullmatch(result.stdout.strip()), result.stdout  # stdout holds the key alone
    assert "will not be shown again" in _flat(result.stderr)
    assert "admin key key_" in _flat(result.stderr)
    db, store = _store(url)
    try:
        assert store.verify(result.stdout.strip()) is Role.ADMIN
        assert [record.name for record in store.list()] == ["ci"]
    finally:
        db.dispose()


def test_list_shows_keys_but_never_the_key_itself(url):
    created = runner.invoke(app, ["keys", "create", "--role", "predict", "--database-url", url])
    plaintext = created.stdout.strip()
    result = runner.invoke(app, ["keys", "list", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert plaintext not in result.output
    assert not KEY.search(result.output)
    assert "key_" in result.output and "predict" in result.output and "active" in result.output


def test_list_when_empty(url):
    result = runner.invoke(app, ["keys", "list", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "No API keys yet" in _flat(result.output)


def test_revoke_then_the_key_no_longer_verifies(url):
    created = runner.invoke(app, ["keys", "create", "--role", "predict", "--database-url", url])
    plaintext = created.stdout.strip()
    db, store = _store(url)
    try:
        (record,) = store.list()
        result = runner.invoke(app, ["keys", "revoke", record.id, "--database-url", url])
        assert result.exit_code == 0, result.output
        assert f"Revoked key {record.id}" in _flat(result.output)
        assert store.verify(plaintext) is None
        again = runner.invoke(app, ["keys", "revoke", record.id, "--database-url", url])
        assert again.exit_code == 0 and "already revoked" in again.output
    finally:
        db.dispose()
    listed = runner.invoke(app, ["keys", "list", "--database-url", url])
    assert "revoked" in listed.output


def test_revoke_unknown_key_fails(url):
    result = runner.invoke(app, ["keys", "revoke", "key_nope", "--database-url", url])
    assert result.exit_code == 1
    assert "no key key_nope" in _flat(result.stderr)


def test_invalid_role_is_a_usage_error(url):
    result = runner.invoke(app, ["keys", "create", "--role", "boss", "--database-url", url])
    assert result.exit_code == 2
    assert "predict" in result.output and "admin" in result.output


def test_database_url_from_environment(url, monkeypatch):
    monkeypatch.setenv("INTENTLY_DATABASE_URL", url)
    created = runner.invoke(app, ["keys", "create", "--role", "predict"])
    assert created.exit_code == 0, created.output
    db, store = _store(url)
    try:
        assert store.verify(created.stdout.strip()) is Role.PREDICT
    finally:
        db.dispose()


def test_default_database_is_next_to_the_project(make_project, tmp_path, monkeypatch):
    monkeypatch.delenv("INTENTLY_DATABASE_URL", raising=False)
    project = make_project(tmp_path / "proj")
    created = runner.invoke(app, ["keys", "create", "--role", "admin", "--project", str(project)])
    assert created.exit_code == 0, created.output
    assert (project.parent / "intently.db").is_file()
    db, store = _store(default_database_url(project.parent))
    try:
        assert store.verify(created.stdout.strip()) is Role.ADMIN
    finally:
        db.dispose()


def test_unreachable_database_is_a_clean_error_with_masked_password(capsys):
    from intently.cli import EXIT_DATABASE, main

    with pytest.raises(SystemExit) as info:
        main(["keys", "list", "--database-url", "postgresql://u:hunter2@127.0.0.1:1/db"])
    assert info.value.code == EXIT_DATABASE == 6
    message = _flat(capsys.readouterr().err)
    assert "[E710]" in message and "u:***@127.0.0.1:1/db" in message
    assert "hunter2" not in message


def test_commands_have_examples():
    for command in ("create", "list", "revoke"):
        result = runner.invoke(app, ["keys", command, "--help"])
        assert result.exit_code == 0
        assert "Example: intently keys" in _flat(result.output)
