"""``templates``: every entity value found in an example becomes a slot, refilled with the
entity's other values and synonyms ("fly to paris" → "fly to nyc", "fly to london")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from intently.data.example import Example, Source
from intently.generate.base import GenerationContext, GeneratorParams, GeneratorType, derived
from intently.generate.definitions import fill_template
from intently.spec.models import Project

NAME = "templates"


class TemplateParams(GeneratorParams):
    per_example: int = Field(default=10, ge=1, description="New texts at most per example.")


@dataclass(frozen=True)
class TemplateGenerator:
    """Slot filling from examples; the texts a template expands to are drawn with ``rng``."""

    project: Project
    per_example: int
    source: Source = Source.TEMPLATE

    def generate(self, examples: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        finder = _entity_finder(self.project)
        if finder is None:
            return []
        seen = {e.text.lower() for e in examples}
        out: list[Example] = []
        for example in examples:
            pattern = _as_template(example.text, finder)
            seed = int(rng.integers(2**31))  # drawn for every example: one's output never
            if pattern is None:  # depends on whether an earlier one had entities
                continue
            # One more than wanted, as one fill usually is the original text itself.
            fills = fill_template(pattern, self.project, seed=seed, limit=self.per_example + 1)
            made = 0
            for fill in fills:
                if made == self.per_example or fill.text.lower() in seen:
                    continue
                seen.add(fill.text.lower())
                made += 1
                out.append(
                    derived(
                        example,
                        fill.text,
                        self.source,
                        NAME,
                        template=pattern,
                        spans=list(fill.spans),
                    )
                )
        return out


@dataclass(frozen=True)
class _Finder:
    pattern: re.Pattern[str]
    entity_of: dict[str, str]


def _entity_finder(project: Project) -> _Finder | None:
    entity_of: dict[str, str] = {}
    for entity, values in project.entities.items():
        for value in values:
            for form in (value.value, *value.synonyms):
                entity_of.setdefault(form.lower(), entity)
    if not entity_of:
        return None
    # Longest first so "new york city" wins over "new york"; whole words only.
    alternatives = "|".join(re.escape(form) for form in sorted(entity_of, key=len, reverse=True))
    return _Finder(re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE), entity_of)


def _as_template(text: str, finder: _Finder) -> str | None:
    """``text`` with each entity value replaced by its ``{slot}``; None when it has none.

    Braces already in the text would read as slots, so such texts are left alone.
    """
    if "{" in text or "}" in text:
        return None
    pattern, count = finder.pattern.subn(
        lambda match: "{" + finder.entity_of[match.group(0).lower()] + "}", text
    )
    return pattern if count else None


def _build(params: Any, context: GenerationContext) -> TemplateGenerator:
    return TemplateGenerator(context.project, params.per_example)


GENERATORS = {NAME: GeneratorType(NAME, TemplateParams, _build)}
