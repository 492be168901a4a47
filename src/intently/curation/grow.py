"""Grow a training split with the project's configured generators, then filter what they made.

Generators run on the examples they are given — the train split only, so the evaluation split
is never augmented and nothing made from a test example reaches training. Each ``generation:``
entry draws from its own seeded stream, its output passes the duplicate/length filters and its
per-intent cap, and the union then passes the consistency filter (``generation_filters``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import ValidationError

from intently.curation.consistency import consistency_filter
from intently.data import Example
from intently.errors import SpecError, did_you_mean
from intently.generate.base import GenerationContext, Generator, entity_forms
from intently.generate.filters import FilterBounds, filter_generated
from intently.generate.registry import BUILTIN, UnknownGenerator, get_generator
from intently.spec import Project
from intently.spec.loader import project_location
from intently.spec.models import GeneratorEntry

MergeTrain = Callable[[Sequence[Example], Sequence[Example]], Sequence[Example]]
"""``(train part, held-out part) -> train part``, as ``intently.pipeline.train`` takes it."""

GENERATOR_MODULES = {**BUILTIN, "llm": "intently.curation.llm_generate"}


@dataclass(frozen=True)
class EntryReport:
    """What one ``generation:`` entry added per intent, and what its filters dropped."""

    name: str
    added: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Growth:
    """The new examples (never the originals) and a report per entry."""

    examples: tuple[Example, ...]
    entries: tuple[EntryReport, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "generated": len(self.examples),
            "entries": [
                {
                    "name": e.name,
                    "added": sum(e.added.values()),
                    "dropped": dict(sorted(e.dropped.items())),
                }
                for e in self.entries
            ],
        }


@dataclass(frozen=True)
class Grower:
    """The built generators of one task, ready to grow any train split."""

    project: Project
    task: str
    generators: tuple[tuple[GeneratorEntry, Generator], ...]
    seed: int

    def grow(self, train: Sequence[Example], held_out: Sequence[Example] = ()) -> Growth:
        """New examples made from ``train``; none repeats a ``held_out`` (evaluation) text."""
        filters = self.project.generation_filters
        bounds = FilterBounds(filters.min_words, filters.max_words, filters.near_duplicate)
        made: list[Example] = []
        entry_of: list[int] = []
        dropped: list[Counter[str]] = []
        for index, (entry, generator) in enumerate(self.generators):
            rng = np.random.default_rng([self.seed, index])
            new = generator.generate(train, rng)
            if entry.weight is not None:
                new = [replace(e, weight=entry.weight) for e in new]
            filtered = filter_generated([*train, *held_out, *made], new, bounds)
            kept, over = cap_per_intent(filtered.kept, entry.per_intent, rng)
            dropped.append(filtered.dropped + Counter({"cap": over}))
            made += kept
            entry_of += [index] * len(kept)
        if filters.consistency is not None:
            rejected = consistency_filter(
                train,
                made,
                threshold=filters.consistency,
                backend=filters.consistency_backend,
                seed=self.seed,
            )
            gone = {r.index for r in rejected}
            for i in gone:
                dropped[entry_of[i]]["consistency"] += 1
            made = [e for i, e in enumerate(made) if i not in gone]
            entry_of = [n for i, n in enumerate(entry_of) if i not in gone]
        reports = tuple(
            EntryReport(
                entry.name,
                Counter(e.label for e, n in zip(made, entry_of, strict=True) if n == index),
                +dropped[index],
            )
            for index, (entry, _) in enumerate(self.generators)
        )
        return Growth(tuple(made), reports)


class GrowingMerge:
    """``pipeline.train``'s ``merge_train`` hook that adds generated examples.

    ``then`` (e.g. reviewed feedback) merges first; the generators then grow the merged train
    part. Called once for the split and once per cross-validation fold; ``growths`` keeps
    each call's report, the split's first.
    """

    def __init__(self, grower: Grower, then: MergeTrain | None = None):
        self.grower = grower
        self.then = then
        self.growths: list[Growth] = []

    def __call__(self, train: Sequence[Example], held: Sequence[Example]) -> tuple[Example, ...]:
        base = tuple(self.then(train, held)) if self.then is not None else tuple(train)
        growth = self.grower.grow(base, held_out=held)
        self.growths.append(growth)
        return (*base, *growth.examples)


def cap_per_intent(
    examples: Sequence[Example], cap: int | None, rng: np.random.Generator
) -> tuple[list[Example], int]:
    """At most ``cap`` examples per label (a seeded sample, order kept); and how many went."""
    if cap is None:
        return list(examples), 0
    by_label: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        by_label.setdefault(example.label, []).append(i)
    keep: set[int] = set()
    for indices in by_label.values():
        if len(indices) <= cap:
            keep.update(indices)
        else:
            keep.update(int(i) for i in rng.choice(indices, size=cap, replace=False))
    return [e for i, e in enumerate(examples) if i in keep], len(examples) - len(keep)


def grower_for(project: Project, task: str) -> Grower | None:
    """The task's generators built and their parameters checked; None when it has none.

    Raises SpecError naming the file, line and key of an unknown generator or a bad parameter.
    """
    context = GenerationContext(project, task, entity_forms(project))
    built: list[tuple[GeneratorEntry, Generator]] = []
    for index, entry in enumerate(project.generation):
        if entry.task != task:
            continue
        try:
            kind = get_generator(entry.name, GENERATOR_MODULES)
        except UnknownGenerator as exc:
            raise SpecError(
                str(exc.args[0]), where=project_location(project, ("generation", index, "name"))
            ) from None
        try:
            params = kind.params.model_validate(entry.params)
        except ValidationError as exc:
            raise _params_error(
                exc, project, index, entry, list(kind.params.model_fields)
            ) from None
        built.append((entry, kind.build(params, context)))
    if not built:
        return None
    return Grower(project, task, tuple(built), project.training_for(task).seed)


def _params_error(
    exc: ValidationError, project: Project, index: int, entry: GeneratorEntry, allowed: list[str]
) -> SpecError:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    where = project_location(project, ("generation", index, "params", *loc))
    if first["type"] == "extra_forbidden":
        key = str(loc[-1])
        return SpecError(
            f"generator '{entry.name}' has no parameter '{key}'.{did_you_mean(key, allowed)}",
            where=where,
            hint=f"its parameters: {', '.join(allowed)}.",
        )
    if first["type"] == "missing":
        return SpecError(
            f"generator '{entry.name}' needs the parameter '{loc[-1]}'.",
            where=project_location(project, ("generation", index)),
            hint="add it under 'params:' of this entry.",
        )
    received = first.get("input")
    shown = "" if isinstance(received, dict | list) else f" (got {received!r})"
    message = first["msg"].removeprefix("Value error, ")
    return SpecError(f"generator '{entry.name}': {message}{shown}.", where=where)
