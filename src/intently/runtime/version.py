"""``metadata.json`` and ``labels.json`` of a model version: the record every layer reads.

The runtime needs it to load a version; the registry writes it (``registry.store``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from intently.errors import ModelError

METADATA_FILE = "metadata.json"
LABELS_FILE = "labels.json"
MODEL_FORMAT = "intently.model.v1"


class Status(StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ModelVersion:
    """What ``metadata.json`` records about one trained model."""

    id: str
    task: str
    backend: str
    labels: tuple[str, ...]
    params: dict[str, Any]
    metrics: dict[str, Any]
    dataset_fingerprint: str
    created_at: str
    status: Status
    fallback: dict[str, Any]
    versions: dict[str, str] = field(default_factory=dict)
    parent: str | None = None
    format: str = MODEL_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["status"] = str(self.status)
        return data


def read_version(model_dir: Path) -> ModelVersion:
    """Read and check ``metadata.json`` and ``labels.json`` of a model directory."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(
            f"no model directory at {model_dir}.",
            hint="train one with `intently train` or pass the path of a version "
            "under models/<task>/.",
        )
    try:
        meta = json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
        labels = json.loads((model_dir / LABELS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(
            f"{model_dir} is not a model directory: {Path(exc.filename).name} is missing.",
            hint="point at a version folder under models/<task>/.",
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"model metadata in {model_dir} is corrupt ({exc}).",
            hint="re-train, or deploy another version.",
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelError(
            f"{model_dir} has model format {found!r}; this Intently reads {MODEL_FORMAT}.",
            hint="re-train with this version of Intently.",
        )
    if labels != meta.get("labels"):
        raise ModelError(
            f"labels.json and metadata.json of {model_dir} disagree.",
            hint="the directory was edited or damaged; re-train.",
        )
    try:
        return ModelVersion(
            **{**meta, "labels": tuple(meta["labels"]), "status": Status(meta["status"])}
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelError(
            f"model metadata in {model_dir} is incomplete ({exc}).", hint="re-train the model."
        ) from None
