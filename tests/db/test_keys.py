import hashlib
import re
import time
from datetime import UTC

import pytest
from sqlalchemy import text

from intently.db import ApiKeyRecord, ApiKeyStore, InvalidRole, Role
from intently.errors import IntentlyError


@pytest.fixture
def keys(database):
    return ApiKeyStore(database)


@pytest.mark.parametrize("role", [Role.PREDICT, Role.ADMIN, "predict", "ADMIN"])
def test_created_key_verifies_to_its_role(keys, role):
    record, plaintext = keys.create(role, name="web")
    assert isinstance(record, ApiKeyRecord)
    assert record.role is Role.parse(role)
    assert record.name == "web"
    assert keys.verify(plaintext) is Role.parse(role)
    assert keys.verify(plaintext.encode()) is Role.parse(role)  # headers may arrive as bytes


def test_key_format_and_record_fields(keys):
    record, plaintext = keys.create(Role.PREDICT)
    assert re.fullmatch(r"ik_[A-Za-z0-9_-]{32}", plaintext)
    assert re.fullmatch(r"key_[0-9a-f]{12}", record.id)
    assert record.created_at.tzinfo is not None
    assert record.created_at.utcoffset().total_seconds() == 0
    assert record.revoked_at is None and record.active
    assert record.name == ""
    assert not hasattr(record, "key") and not hasattr(record, "key_hash")


def test_keys_are_unique(keys):
    plaintexts = {keys.create(Role.PREDICT)[1] for _ in range(20)}
    assert len(plaintexts) == 20


def test_plaintext_is_not_stored_anywhere(keys, database):
    _, plaintext = keys.create(Role.ADMIN, name="ci")
    keys.verify(plaintext)  # also after a verify (last_used_at)
    with database.session() as session:
        rows = session.execute(text("SELECT * FROM api_keys")).all()
    assert len(rows) == 1
    dumped = " ".join(str(value) for value in rows[0])
    assert plaintext not in dumped
    assert plaintext[3:] not in dumped
    assert hashlib.sha256(plaintext.encode()).hexdigest() in dumped


def test_wrong_or_empty_keys_do_not_verify(keys):
    _, plaintext = keys.create(Role.ADMIN)
    assert keys.verify("ik_" + "x" * 32) is None
    assert keys.verify(plaintext[:-1]) is None
    assert keys.verify(plaintext + "x") is None
    assert keys.verify(plaintext.upper()) is None
    assert keys.verify("") is None
    assert keys.verify(b"") is None


def test_revoked_key_no_longer_verifies(keys):
    record, plaintext = keys.create(Role.ADMIN)
    _, other_plaintext = keys.create(Role.PREDICT)
    assert keys.revoke(record.id) is True
    assert keys.verify(plaintext) is None
    assert keys.verify(other_plaintext) is Role.PREDICT  # only that key
    assert keys.revoke(record.id) is False  # already revoked
    assert keys.revoke("key_000000000000") is False  # unknown
    revoked = keys.get(record.id)
    assert revoked is not None and not revoked.active
    assert revoked.revoked_at.tzinfo == UTC


def test_list_shows_every_key_oldest_first_without_secrets(keys):
    first, _ = keys.create(Role.ADMIN, name="first")
    second, plaintext = keys.create(Role.PREDICT, name="second")
    keys.revoke(first.id)
    listed = keys.list()
    assert [record.id for record in listed] == [first.id, second.id]
    assert [record.active for record in listed] == [False, True]
    assert plaintext not in repr(listed)


def test_verify_records_last_used_at_most_once_a_minute(keys, database):
    record, plaintext = keys.create(Role.PREDICT)
    assert keys.get(record.id).last_used_at is None
    keys.verify(plaintext)
    used = keys.get(record.id).last_used_at
    assert used is not None and used >= record.created_at
    keys.verify(plaintext)
    assert keys.get(record.id).last_used_at == used  # throttled: no second write
    fresh_process = ApiKeyStore(database)
    fresh_process.verify(plaintext)
    assert keys.get(record.id).last_used_at == used  # the database value is recent too


def test_verify_is_fast(keys):
    _, plaintext = keys.create(Role.PREDICT)
    keys.verify(plaintext)
    started = time.perf_counter()
    for _ in range(200):
        assert keys.verify(plaintext) is Role.PREDICT
    per_call = (time.perf_counter() - started) / 200
    assert per_call < 0.01, f"verify took {per_call * 1000:.2f} ms per call"


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.PREDICT, True),
        (Role.PREDICT, Role.PREDICT, True),
        (Role.PREDICT, Role.ADMIN, False),
        (Role.REVIEWER, Role.PREDICT, True),
        (Role.REVIEWER, Role.REVIEWER, True),
        (Role.REVIEWER, Role.ADMIN, False),
        (Role.PREDICT, Role.REVIEWER, False),
        (Role.ADMIN, Role.REVIEWER, True),
        (Role.PREDICT, "predict", True),
        (Role.PREDICT, "admin", False),
    ],
)
def test_admin_implies_predict_but_not_the_reverse(role, required, allowed):
    assert role.allows(required) is allowed


@pytest.mark.parametrize("bad", ["boss", "", "predictor"])
def test_invalid_role_lists_the_valid_ones(bad):
    with pytest.raises(InvalidRole) as info:
        Role.parse(bad)
    assert isinstance(info.value, IntentlyError) and isinstance(info.value, ValueError)
    message = str(info.value)
    assert "predict" in message and "admin" in message
    assert info.value.code.startswith("E7")


def test_creating_with_an_invalid_role_stores_nothing(keys):
    with pytest.raises(InvalidRole, match="predict, admin"):
        keys.create("root")
    assert keys.list() == []


def test_roles_are_plain_strings():
    assert Role.ADMIN == "admin" and f"{Role.PREDICT}" == "predict"
    assert [role.value for role in Role] == ["predict", "admin", "reviewer"]
