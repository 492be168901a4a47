"""Examples from the project's own definitions: agent examples, variations and templates."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from intently.data.example import Example, Source
from intently.spec.models import SLOT, Project

MAX_PER_TEMPLATE = 20


def definition_examples(project: Project) -> list[Example]:
    """Every example the project file itself defines, in file order."""
    out: list[Example] = []
    for agent in project.agents:
        for intent in agent.intents:
            out.extend(
                Example(text, intent.name, Source.VARIATION, agent_id=agent.id)
                for text in intent.variations
            )
        out.extend(
            Example(
                example.query,
                example.intent,
                Source.DEFINITION,
                agent_id=agent.id,
                meta={"entities": example.entities} if example.entities else {},
            )
            for example in agent.examples
        )
    agent_of = {intent.name: agent.id for agent in project.agents for intent in agent.intents}
    for intent_name, patterns in project.templates.items():
        for pattern in patterns:
            out.extend(
                Example(
                    fill.text,
                    intent_name,
                    Source.TEMPLATE,
                    agent_id=agent_of.get(intent_name),
                    meta={"template": pattern, "spans": list(fill.spans)}
                    if fill.spans
                    else {"template": pattern},
                )
                for fill in fill_template(pattern, project, seed=project.training.seed)
            )
    return out


@dataclass(frozen=True)
class TemplateFill:
    """One filled template: its text and where each entity value landed in it.

    ``spans`` are ``{"entity", "value", "start", "end"}`` dicts (character offsets into
    ``text``; ``value`` is the canonical entity value, the text may hold a synonym).
    """

    text: str
    spans: tuple[dict[str, Any], ...]


def expand_template(
    pattern: str, project: Project, *, seed: int = 13, limit: int = MAX_PER_TEMPLATE
) -> list[str]:
    """Fill ``{entity}`` slots with entity values and synonyms; at most ``limit`` texts.

    When the full product is larger than ``limit``, a seeded sample of it is taken.
    """
    return [fill.text for fill in fill_template(pattern, project, seed=seed, limit=limit)]


def fill_template(
    pattern: str, project: Project, *, seed: int = 13, limit: int = MAX_PER_TEMPLATE
) -> list[TemplateFill]:
    """:func:`expand_template` with the entity spans of every text."""
    slots = list(dict.fromkeys(SLOT.findall(pattern)))
    if not slots:
        return [TemplateFill(pattern, ())]
    choices = [_surface_forms(project, slot) for slot in slots]
    total = int(np.prod([len(c) for c in choices]))
    combos: Iterator[tuple[tuple[str, str], ...]] | list[tuple[tuple[str, str], ...]]
    if total <= limit:
        combos = itertools.product(*choices)
    else:
        rng = np.random.default_rng(seed)
        picked = sorted(rng.choice(total, size=limit, replace=False))
        combos = [_nth_product(choices, int(i)) for i in picked]
    return [_fill(pattern, dict(zip(slots, combo, strict=True))) for combo in combos]


def _fill(pattern: str, filling: dict[str, tuple[str, str]]) -> TemplateFill:
    """``pattern`` with each slot replaced by its (surface form, canonical value)."""
    parts: list[str] = []
    spans: list[dict[str, Any]] = []
    length = 0
    previous = 0
    for match in SLOT.finditer(pattern):
        literal = pattern[previous : match.start()]
        surface, value = filling[match.group(1)]
        parts += [literal, surface]
        length += len(literal)
        spans.append(
            {
                "entity": match.group(1),
                "value": value,
                "start": length,
                "end": length + len(surface),
            }
        )
        length += len(surface)
        previous = match.end()
    parts.append(pattern[previous:])
    return TemplateFill("".join(parts), tuple(spans))


def _surface_forms(project: Project, entity: str) -> list[tuple[str, str]]:
    """(surface form, canonical value) for every value and synonym of ``entity``."""
    return [
        (form, value.value)
        for value in project.entities[entity]
        for form in (value.value, *value.synonyms)
    ]


def _nth_product(choices: list[list[tuple[str, str]]], index: int) -> tuple[tuple[str, str], ...]:
    picked = []
    for options in reversed(choices):
        index, rest = divmod(index, len(options))
        picked.append(options[rest])
    return tuple(reversed(picked))
