"""The one training record, and where examples come from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Source(StrEnum):
    DEFINITION = "definition"
    VARIATION = "variation"
    TEMPLATE = "template"
    PARAPHRASE = "paraphrase"
    AUGMENTATION = "augmentation"
    INTERACTION_CORRECT = "interaction_correct"
    INTERACTION_CORRECTION = "interaction_correction"
    IMPORTED = "imported"
    SYNTHETIC = "synthetic"
    """Written by an LLM from the intent's description and examples."""
    LLM_LABELED = "llm_labeled"
    """A real text whose label an LLM gave and the trained model agreed with."""


# Trust in each source, used as the default sample weight. A human correction counts double.
DEFAULT_WEIGHT: Mapping[Source, float] = MappingProxyType(
    {
        Source.DEFINITION: 1.0,
        Source.VARIATION: 0.95,
        Source.TEMPLATE: 0.85,
        Source.PARAPHRASE: 0.8,
        Source.AUGMENTATION: 0.75,
        Source.INTERACTION_CORRECT: 0.9,
        Source.INTERACTION_CORRECTION: 1.9,
        Source.IMPORTED: 1.0,
        Source.SYNTHETIC: 0.7,
        Source.LLM_LABELED: 0.85,
    }
)


@dataclass(frozen=True, slots=True)
class Example:
    """One labeled text. ``weight`` defaults to the trust in its ``source``."""

    text: str
    label: str
    source: Source = Source.IMPORTED
    weight: float | None = None
    agent_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    origin: str | None = field(default=None, compare=False)
    """``file:line`` an imported example was read from (for error messages; not exported)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", Source(self.source))
        if self.weight is None:
            object.__setattr__(self, "weight", DEFAULT_WEIGHT[self.source])
        if not isinstance(self.meta, MappingProxyType):
            object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"text": self.text, "label": self.label, "source": str(self.source)}
        if self.weight != DEFAULT_WEIGHT[self.source]:
            row["weight"] = self.weight
        if self.agent_id is not None:
            row["agent_id"] = self.agent_id
        if self.meta:
            row["meta"] = dict(self.meta)
        return row
