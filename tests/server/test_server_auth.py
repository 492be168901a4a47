"""API keys: env keys, database keys, revoked keys, roles, and refusing to start without keys."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from server_helpers import ADMIN, PREDICT, settings_for

from intently.db import ApiKeyStore, Database, Role
from intently.server import ServerConfigError, Settings, create_app
from intently.server.auth import Authenticator
from intently.server.settings import parse_api_keys

TEXT = {"text": "where is my order"}


def _db_keys(served) -> ApiKeyStore:
    database = Database(served.database_url)
    database.migrate()
    return ApiKeyStore(database)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_missing_malformed_and_unknown_keys_get_401_with_error_body(client):
    for headers in ({}, {"Authorization": "Token abc"}, {"Authorization": "Bearer"}, _bearer("x")):
        response = client.post("/v1/classify", json=TEXT, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["code"] == "E701" and error["message"] and error["hint"]


def test_predict_role_classifies_and_reads_but_may_not_change(client, served_project):
    assert client.post("/v1/classify", json=TEXT, headers=PREDICT).status_code == 200
    assert client.get("/v1/models", headers=PREDICT).status_code == 200
    assert client.get("/v1/training/runs", headers=PREDICT).status_code == 200
    for method, url, body in (
        ("POST", f"/v1/models/{served_project.v2}/deploy", None),
        ("POST", "/v1/models/rollback", None),
        ("POST", "/v1/training/runs", {"task": "intent"}),
    ):
        response = client.request(method, url, json=body, headers=PREDICT)
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "E702"
        assert "admin" in response.json()["error"]["message"]
    assert served_project.registry.pointer("intent").active == served_project.v1


def test_admin_role_may_do_everything(client, served_project):
    assert client.post("/v1/classify", json=TEXT, headers=ADMIN).status_code == 200
    response = client.post(f"/v1/models/{served_project.v2}/deploy", headers=ADMIN)
    assert response.status_code == 200 and response.json()["deployed"] is True


def test_database_keys_authenticate_with_their_role(make_client, served_project):
    store = _db_keys(served_project)
    _, predict_key = store.create(Role.PREDICT, name="app")
    _, admin_key = store.create(Role.ADMIN, name="ops")
    client = make_client(api_keys="")  # database keys only
    assert client.post("/v1/classify", json=TEXT, headers=_bearer(predict_key)).status_code == 200
    deploy = f"/v1/models/{served_project.v2}/deploy"
    assert client.post(deploy, headers=_bearer(predict_key)).status_code == 403
    assert client.post(deploy, headers=_bearer(admin_key)).status_code == 200


def test_revoked_database_keys_are_refused(make_client, served_project):
    store = _db_keys(served_project)
    revoked, revoked_key = store.create(Role.PREDICT)
    live, live_key = store.create(Role.PREDICT)
    store.revoke(revoked.id)
    client = make_client(auth_cache_s=0)
    assert client.post("/v1/classify", json=TEXT, headers=_bearer(revoked_key)).status_code == 401
    assert client.post("/v1/classify", json=TEXT, headers=_bearer(live_key)).status_code == 200
    store.revoke(live.id)  # without a cache, revocation applies to the next request
    assert client.post("/v1/classify", json=TEXT, headers=_bearer(live_key)).status_code == 401


class CountingStore:
    def __init__(self, keys: dict[str, Role]):
        self.keys = keys
        self.calls = 0

    def verify(self, key: str, *, later: object = None) -> Role | None:
        self.calls += 1
        return self.keys.get(key)


def test_database_answers_are_cached_hits_for_the_ttl_misses_briefly():
    now = [0.0]
    store = CountingStore({"good": Role.PREDICT})
    auth = Authenticator([], store, cache_s=30.0, clock=lambda: now[0])  # type: ignore[arg-type]

    def role(key: str) -> Role | None:
        return asyncio.run(auth.role_of(key))

    assert role("good") is Role.PREDICT and role("good") is Role.PREDICT
    assert role("bad") is None and role("bad") is None
    assert store.calls == 2  # one database check per key
    now[0] = 6.0  # misses expire after 5 s, hits after 30 s
    assert role("bad") is None and role("good") is Role.PREDICT
    assert store.calls == 3
    store.keys.clear()  # revoked
    now[0] = 31.0
    assert role("good") is None
    assert store.calls == 4


def test_env_keys_are_matched_without_the_database():
    store = CountingStore({})
    auth = Authenticator(parse_api_keys("predict:p, admin:a"), store)  # type: ignore[arg-type]
    assert asyncio.run(auth.role_of("a")) is Role.ADMIN
    assert asyncio.run(auth.role_of("p")) is Role.PREDICT
    assert store.calls == 0


@pytest.mark.parametrize("text", ["nocolon", "root:abc", "predict:", ":abc"])
def test_malformed_api_key_lists_are_refused(text):
    with pytest.raises(ValidationError, match="role:key"):
        Settings(_env_file=None, api_keys=text)


def test_refuses_to_start_without_any_key(served_project):
    with pytest.raises(ServerConfigError, match="no API key") as info:
        create_app(settings_for(served_project, api_keys=""))
    assert "--insecure-no-auth" in str(info.value)


def test_revoked_database_keys_do_not_count_as_configured(served_project):
    store = _db_keys(served_project)
    record, _ = store.create(Role.ADMIN)
    store.revoke(record.id)
    with pytest.raises(ServerConfigError):
        create_app(settings_for(served_project, api_keys=""))


def test_insecure_no_auth_serves_without_keys(make_client):
    client = make_client(api_keys="", insecure_no_auth=True)
    assert client.post("/v1/classify", json=TEXT).status_code == 200
    assert client.post("/v1/models/rollback").status_code == 409  # past auth: nothing to undo
