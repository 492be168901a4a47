"""Fixtures of the HTTP service tests: a tiny project with two trained versions, once.

``served_project`` copies that project (models included) into the test's own folder, so each
test may deploy, roll back or corrupt versions freely; ``make_client`` builds an app over it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from server_helpers import Served, project_data, settings_for

import intently
from intently.deploy import validate_model
from intently.registry import Registry
from intently.server import create_app


@pytest.fixture(scope="session")
def _trained_template(tmp_path_factory: pytest.TempPathFactory) -> Served:
    root = tmp_path_factory.mktemp("served")
    path = root / "intently.yaml"
    data = project_data()
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    project = intently.load_project(path)
    first = intently.train(project, write_reports=False).version.id
    second = intently.train(project, write_reports=False).version.id
    Registry(root / "models").deploy("intent", first, check=validate_model)
    return Served(path, first, second)


@pytest.fixture
def served_project(_trained_template: Served, tmp_path: Path) -> Served:
    root = tmp_path / "project"
    shutil.copytree(_trained_template.root, root)
    return Served(root / "intently.yaml", _trained_template.v1, _trained_template.v2)


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(served_project: Served) -> Iterator[MakeClient]:
    """``make_client(**settings)``: a started TestClient (lifespan run) over the project."""
    with ExitStack() as stack:

        def make(served: Served | None = None, **overrides: Any) -> TestClient:
            app = create_app(settings_for(served or served_project, **overrides))
            return stack.enter_context(TestClient(app, raise_server_exceptions=False))

        yield make


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()
