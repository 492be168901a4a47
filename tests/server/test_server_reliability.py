"""The live service under hostile conditions: schema-driven fuzzing finds no 5xx and no status
the OpenAPI document does not list, and a server killed with SIGKILL in the middle of deploys
restarts on a version that loads and serves."""

from __future__ import annotations

import json
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance
from server_helpers import ADMIN, ADMIN_KEY, LiveServer, Served, http, start_server, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_server(
    _trained_template: Served, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("fuzzed") / "project"
    shutil.copytree(_trained_template.root, root)
    server = start_server(root / "intently.yaml", root.parent)
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_only_documented_statuses_never_a_server_error(
    live_server: LiveServer, mode: GenerationMode
):
    """Every operation of the served OpenAPI schema, fed schemathesis-generated requests with
    the admin key (so deploys, rollbacks and training runs are reachable) — valid ones, then
    ones that break the schema — answers below 500 with a status its operation documents.
    Generation is derandomized: the same cases every run."""
    schema = schemathesis.openapi.from_url(live_server.base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    calls: list[int] = []

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def documented_and_no_server_error(case) -> None:
            response = case.call_and_validate(
                headers=ADMIN, checks=[not_a_server_error, status_code_conformance], timeout=30
            )
            calls.append(response.status_code)

        try:
            documented_and_no_server_error()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise  # (negative: nothing about this operation can be made invalid)
        assert live_server.process.poll() is None, live_server.output()
    assert max(calls) < 500
    if mode is GenerationMode.POSITIVE:
        assert len(calls) >= 5 * len(operations)  # generation really exercised each operation
        assert 200 in calls
    else:
        assert {400, 422} & set(calls)


def _active(server: LiveServer) -> str | None:
    status, body = http(server.base + "/v1/models?task=intent")
    assert status == 200, body
    return json.loads(body)["active"]


def test_kill_9_during_deploys_restarts_on_a_working_version(served_project, tmp_path: Path):
    versions = (served_project.v1, served_project.v2)
    server = start_server(served_project.path, tmp_path)
    server.wait_ready()
    answers: list[int] = []
    stop = threading.Event()

    def deploy_back_and_forth() -> None:
        while not stop.is_set():
            version = versions[len(answers) % 2]
            status, _ = http(f"{server.base}/v1/models/{version}/deploy", {}, key=ADMIN_KEY)
            answers.append(status)

    deployer = threading.Thread(target=deploy_back_and_forth, daemon=True)
    deployer.start()
    try:
        assert wait_for(lambda: len(answers) >= 6, 60, 0.05), server.output()
        server.kill(signal.SIGKILL)  # mid-deploy: the next deploy request is in flight
    finally:
        stop.set()
        deployer.join(timeout=30)
    assert answers[:6] == [200] * 6
    pointer = json.loads((served_project.root / "models/intent/active.json").read_text())
    assert pointer["active"] in versions

    restarted = start_server(served_project.path, tmp_path)
    try:
        restarted.wait_ready()
        assert _active(restarted) == pointer["active"]
        status, body = http(restarted.base + "/v1/classify", {"text": "where is my order"})
        assert status == 200, body
        assert json.loads(body)["model_version"] == pointer["active"]
    finally:
        restarted.kill()
