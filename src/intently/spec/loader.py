"""Load and cross-check a project file; every error names file, line and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from intently.errors import Location, SearchSpaceError, SpecError, did_you_mean
from intently.spec._yaml import KeyPath, load_with_lines, locate
from intently.spec.models import DEFAULT_TASK, SLOT, Project, TrainingSpec
from intently.spec.params import find_param_problem
from intently.spec.search_space import space_problem

DEFAULT_PROJECT_FILE = "intently.yaml"


def load_project(path: str | Path = DEFAULT_PROJECT_FILE) -> Project:
    """Read ``intently.yaml`` (or a JSON file of the same shape) into a checked :class:`Project`.

    Raises :class:`~intently.errors.SpecError` naming the file, line and key of the first problem.
    """
    path = Path(path).resolve()
    if path.is_dir():
        path = path / DEFAULT_PROJECT_FILE
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise SpecError(
            "the project file must be a mapping with at least a 'name' key.",
            where=Location(path, 1),
            hint="start from `intently init NAME`.",
        )
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, path, lines) from None
    project._path = path
    _cross_check(project, path, lines)
    _check_params(project, path, lines)
    return project


def project_from_dict(data: dict[str, Any], *, root: Path | None = None) -> Project:
    """Build a project in code (tests, notebooks); ``root`` anchors relative dataset paths."""
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, Path("<dict>"), {}) from None
    if root is not None:
        project._path = Path(root).resolve() / DEFAULT_PROJECT_FILE
    _cross_check(project, project.path or Path("<dict>"), {})
    _check_params(project, project.path or Path("<dict>"), {})
    return project


def project_location(project: Project, key_path: KeyPath) -> Location:
    """File, line and key of ``key_path`` in the file ``project`` was loaded from, for checks
    that run after loading (generator parameters, whose tables live above this layer)."""
    if project.path is None or not project.path.is_file():
        return Location(project.path or "<dict>", None, ".".join(map(str, key_path)) or None)
    _, lines = load_with_lines(project.path)
    return locate(project.path, lines, key_path)


def _spec_error(exc: ValidationError, path: Path, lines: dict[KeyPath, int]) -> SpecError:
    first = exc.errors()[0]
    # A refused mapping key (a task name) comes as (..., key, "[key]"): point at the key.
    loc: KeyPath = tuple(part for part in first["loc"] if part != "[key]")
    kind = first["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _fields_at(Project, loc[:-1])
        hint = f"allowed keys here: {', '.join(sorted(allowed))}." if allowed else None
        message = f"unknown key '{key}'.{did_you_mean(key, allowed)}"
        return SpecError(message, where=locate(path, lines, loc), hint=hint)
    if kind == "missing":
        return SpecError(
            f"required key '{loc[-1]}' is missing.",
            where=locate(path, lines, loc[:-1]),
            hint=f"add '{loc[-1]}:' to this entry.",
        )
    readable = first["msg"].removeprefix("Value error, ")
    received = first.get("input")
    shown = "" if isinstance(received, dict | list) else f" (got {received!r})"
    extra = f" and {len(exc.errors()) - 1} more problem(s)" if len(exc.errors()) > 1 else ""
    return SpecError(f"{readable}{shown}{extra}.", where=locate(path, lines, loc))


def _fields_at(model: type[BaseModel], loc: KeyPath) -> list[str]:
    """Field names of the pydantic model that sits at ``loc`` (walking lists and dicts)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            continue  # a dict key such as a task name: stay on the value's model
        current = _innermost_model(field.annotation)
    return (
        list(current.model_fields)
        if isinstance(current, type) and issubclass(current, BaseModel)
        else []
    )


def _innermost_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _innermost_model(arg)
        if found is not None:
            return found
    return None


def _cross_check(project: Project, path: Path, lines: dict[KeyPath, int]) -> None:
    intents = project.intents
    seen: dict[str, KeyPath] = {}
    for a, agent in enumerate(project.agents):
        for i, intent in enumerate(agent.intents):
            here: KeyPath = ("agents", a, "intents", i, "name")
            if intent.name in seen:
                raise SpecError(
                    f"intent '{intent.name}' is defined twice.",
                    where=locate(path, lines, here),
                    hint=f"rename it or remove the copy at line {lines.get(seen[intent.name])}.",
                )
            seen[intent.name] = here
        for e, example in enumerate(agent.examples):
            if example.intent not in intents and example.intent != project.fallback.label:
                raise SpecError(
                    f"example refers to undefined intent '{example.intent}'."
                    + did_you_mean(example.intent, list(intents)),
                    where=locate(path, lines, ("agents", a, "examples", e, "intent")),
                    hint="define the intent under an agent's 'intents:' or fix the name.",
                )
    for intent_name, patterns in project.templates.items():
        if intent_name not in intents:
            raise SpecError(
                f"templates given for undefined intent '{intent_name}'."
                + did_you_mean(intent_name, list(intents)),
                where=locate(path, lines, ("templates", intent_name)),
                hint="use the name of an intent defined under agents.",
            )
        for p, pattern in enumerate(patterns):
            stray = next((c for c in SLOT.sub("", pattern) if c in "{}"), None)
            if stray is not None:
                raise SpecError(
                    f"template {pattern!r} has an unbalanced '{stray}'.",
                    where=locate(path, lines, ("templates", intent_name, p)),
                    hint="write slots as {entity} (letters, digits, _) with both braces.",
                )
            for slot in SLOT.findall(pattern):
                if slot not in project.entities:
                    raise SpecError(
                        f"template slot '{{{slot}}}' names no entity."
                        + did_you_mean(slot, list(project.entities)),
                        where=locate(path, lines, ("templates", intent_name, p)),
                        hint="declare it under 'entities:' or fix the slot name.",
                    )
    declared = {DEFAULT_TASK, *project.tasks}
    for g, entry in enumerate(project.generation):
        if entry.task not in declared:
            raise SpecError(
                f"generator '{entry.name}' is assigned to undeclared task '{entry.task}'."
                + did_you_mean(entry.task, declared),
                where=locate(path, lines, ("generation", g, "task")),
                hint="use a task declared under 'tasks:' (or the default, intent).",
            )
    for d, ref in enumerate(project.datasets):
        if ref.task not in declared:
            raise SpecError(
                f"dataset is assigned to undeclared task '{ref.task}'."
                + did_you_mean(ref.task, declared),
                where=locate(path, lines, ("datasets", d)),
                hint=f"declare it under 'tasks:' (e.g. `tasks: {{{ref.task}: {{}}}}`).",
            )


def _check_params(project: Project, path: Path, lines: dict[KeyPath, int]) -> None:
    """Each ``training.params`` against its backend's table (``intently.spec.params``), and
    each ``tuning.space`` against the same table, so a bad value stops the run before any data
    is read."""
    trainings: list[tuple[KeyPath, TrainingSpec]] = [(("training",), project.training)]
    trainings += [
        (("tasks", name, "training"), task.training)
        for name, task in project.tasks.items()
        if task.training is not None
    ]
    for here, training in trainings:
        problem = find_param_problem(training.backend, training.params)
        if problem is not None:
            raise SpecError(
                problem.message,
                where=locate(path, lines, (*here, "params", *problem.key)),
                hint=problem.hint,
            )
    for name in project.task_names:
        tuning = project.tuning_for(name)
        problem = space_problem(project.training_for(name).backend, tuning.space)
        if problem is not None:
            owner: KeyPath = ("tasks", name) if project.task(name).tuning is not None else ()
            raise SearchSpaceError(
                problem.message,
                where=locate(path, lines, (*owner, "tuning", "space", *problem.key)),
                hint=problem.hint,
            )
