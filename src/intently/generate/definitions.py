"""Examples from the project's own definitions: agent examples, variations and templates."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

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
                    text,
                    intent_name,
                    Source.TEMPLATE,
                    agent_id=agent_of.get(intent_name),
                    meta={"template": pattern},
                )
                for text in expand_template(pattern, project, seed=project.training.seed)
            )
    return out


def expand_template(
    pattern: str, project: Project, *, seed: int = 13, limit: int = MAX_PER_TEMPLATE
) -> list[str]:
    """Fill ``{entity}`` slots with entity values and synonyms; at most ``limit`` texts.

    When the full product is larger than ``limit``, a seeded sample of it is taken.
    """
    slots = list(dict.fromkeys(SLOT.findall(pattern)))
    if not slots:
        return [pattern]
    choices = [_surface_forms(project, slot) for slot in slots]
    total = int(np.prod([len(c) for c in choices]))
    combos: Iterator[tuple[str, ...]] | list[tuple[str, ...]]
    if total <= limit:
        combos = itertools.product(*choices)
    else:
        rng = np.random.default_rng(seed)
        picked = sorted(rng.choice(total, size=limit, replace=False))
        combos = [_nth_product(choices, int(i)) for i in picked]
    texts = []
    for combo in combos:
        filling = dict(zip(slots, combo, strict=True))
        texts.append(SLOT.sub(lambda match, filling=filling: filling[match.group(1)], pattern))
    return texts


def _surface_forms(project: Project, entity: str) -> list[str]:
    return [form for value in project.entities[entity] for form in (value.value, *value.synonyms)]


def _nth_product(choices: list[list[str]], index: int) -> tuple[str, ...]:
    picked = []
    for options in reversed(choices):
        index, rest = divmod(index, len(options))
        picked.append(options[rest])
    return tuple(reversed(picked))
