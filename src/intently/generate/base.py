"""The generator protocol: examples in, new examples out, each tied to the one it came from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from intently.data.example import Example, Source
from intently.spec.models import Project


class GeneratorParams(BaseModel):
    """Base of every generator's parameter table: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Generator(Protocol):
    """Makes new training examples from existing ones.

    ``generate`` must be deterministic given ``rng`` and must not return its inputs; every
    output is built with :func:`derived` (or carries ``source``, its default weight and
    ``meta.original`` the same way).
    """

    source: Source

    def generate(self, examples: Sequence[Example], rng: np.random.Generator) -> list[Example]: ...


@dataclass(frozen=True)
class GenerationContext:
    """What a generator may know beyond its parameters.

    ``protected`` holds lower-cased words and phrases no generator may alter: the surface
    forms of the project's entities plus the words the entry lists as protected.
    """

    project: Project
    task: str
    protected: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GeneratorType:
    """A registered generator: its name, its parameter table and how to build it."""

    name: str
    params: type[GeneratorParams]
    build: Callable[[Any, GenerationContext], Generator]


def derived(original: Example, text: str, source: Source, generator: str, **meta: Any) -> Example:
    """A new example made from ``original``: same label and agent, the default weight of
    ``source``, and ``meta.original`` / ``meta.generator`` saying where it came from."""
    return Example(
        text,
        original.label,
        source,
        agent_id=original.agent_id,
        meta={"original": original.text, "generator": generator, **meta},
    )


def entity_forms(project: Project) -> frozenset[str]:
    """Lower-cased values and synonyms of every entity in ``project``."""
    return frozenset(
        form.lower()
        for values in project.entities.values()
        for value in values
        for form in (value.value, *value.synonyms)
    )
