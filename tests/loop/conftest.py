"""Fixtures of the learning-loop tests: a deployed tiny project, and recorded answers.

``database`` (a migrated database on SQLite and on PostgreSQL) comes from the store tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import intently
from db.conftest import database, database_url  # noqa: F401  (SQLite and PostgreSQL)
from intently.db import Database
from intently.db.interactions import InteractionRecord, InteractionStore, new_interaction_id
from intently.deploy import validate_model
from intently.registry import Registry
from tiny_project import INTENTS, OOS_QUERIES, project_data


@dataclass(frozen=True)
class Deployed:
    path: Path  # the project file
    weak: str  # the active version: trained on two variations per intent, no oos

    @property
    def root(self) -> Path:
        return self.path.parent

    def write(self, **options: Any) -> None:
        """Rewrite the project file (the tiny project with oos, plus ``options``)."""
        data = project_data(oos=OOS_QUERIES, **options)
        self.path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="session")
def _deployed_template(tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    root = tmp_path_factory.mktemp("loop")
    path = root / "intently.yaml"
    weak_intents = {label: texts[:2] for label, texts in INTENTS.items()}
    path.write_text(yaml.safe_dump(project_data(intents=weak_intents)), encoding="utf-8")
    weak = intently.train(intently.load_project(path), write_reports=False, export=False)
    Registry(root / "models").deploy("intent", weak.version.id, check=validate_model)
    deployed = Deployed(path, weak.version.id)
    deployed.write(learning={"retrain_after": 5})
    return deployed


@pytest.fixture
def deployed(_deployed_template: Deployed, tmp_path: Path) -> Deployed:
    """A copy of the tiny project (retrain after 5 labels) whose active model is weak."""
    root = tmp_path / "project"
    shutil.copytree(_deployed_template.root, root)
    return Deployed(root / "intently.yaml", _deployed_template.weak)


Record = Callable[..., list[InteractionRecord]]


@pytest.fixture
def record(database: Database) -> Record:  # noqa: F811
    """``record(answers, task="intent", **fields)``: store (text, label) answers as if served."""

    def add(answers: Sequence[tuple[str, str]], task: str = "intent", **fields: Any) -> list[Any]:
        confidence = fields.pop("confidence", 0.5)
        fields.setdefault("model_version", "v1")
        records = [
            InteractionRecord(
                id=new_interaction_id(),
                task=task,
                text=text,
                label=label,
                confidence=confidence,
                ranking=((label, confidence),),
                **fields,
            )
            for text, label in answers
        ]
        InteractionStore(database).add_many(records)
        return records

    return add
