"""Shared fixtures: a tiny hand-written project and one model trained from it per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tiny_project import INTENTS, LENIENT_GATES, OOS_QUERIES, project_data  # noqa: F401

ProjectFactory = Callable[..., Path]


@pytest.fixture
def base_intents() -> dict[str, list[str]]:
    """The tiny project's intents, as a copy a test may extend."""
    return {label: list(texts) for label, texts in INTENTS.items()}


@pytest.fixture
def oos_queries() -> list[str]:
    return list(OOS_QUERIES)


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Write ``intently.yaml`` (default: under ``tmp_path``) and return its path."""

    def write(root: Path | None = None, **options: Any) -> Path:
        root = tmp_path if root is None else root
        root.mkdir(parents=True, exist_ok=True)
        path = root / "intently.yaml"
        path.write_text(yaml.safe_dump(project_data(**options), sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model of the tiny project (5 intents + oos), trained once; treat it as read-only."""
    import intently

    root = tmp_path_factory.mktemp("trained")
    path = root / "intently.yaml"
    path.write_text(yaml.safe_dump(project_data(oos=OOS_QUERIES)), encoding="utf-8")
    run = intently.train(intently.load_project(path), write_reports=False)
    return run.model_dir


@pytest.fixture(params=["blank", "trained"])
def spacy_nlp(request: pytest.FixtureRequest) -> Any:
    """spaCy's blank English pipeline, then the first installed trained one (that case is
    skipped, saying so, where none is installed)."""
    spacy = pytest.importorskip("spacy")
    if request.param == "blank":
        return spacy.blank("en")
    installed = spacy.util.get_installed_models()
    if not installed:
        pytest.skip("no trained spaCy pipeline installed")
    return spacy.load(sorted(installed)[0])
