"""Task names: safe slugs in the project file, and the one check every front door runs.

A task name becomes a folder under ``models/`` and a value of ``--task`` and ``?task=``, so it
is one lowercase path segment: ``../../x`` or ``/etc`` in ``tasks:`` used to make ``train
--all`` write versions outside the models folder. Lowercase only, so two tasks never share a
folder on a case-insensitive file system.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated

from pydantic import AfterValidator

from intently.errors import InputError, did_you_mean

TASK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
TASK_NAME_RULE = "1 to 64 lowercase letters, digits, '_' or '-', starting with a letter or digit"


def _safe(name: str) -> str:
    if not TASK_NAME.fullmatch(name):
        raise ValueError(f"a task name must be {TASK_NAME_RULE}")
    return name


TaskName = Annotated[str, AfterValidator(_safe)]
"""A ``str`` field or key that must be a safe task name (pydantic checks it at load)."""


def require_task(name: str, tasks: Collection[str]) -> str:
    """``name`` when it is a safe name among ``tasks`` (a project's ``task_names``).

    The check behind ``--task`` on the command line and ``task`` in HTTP requests; raises
    :class:`~intently.errors.InputError` naming the tasks there are, with a did-you-mean.
    """
    if not TASK_NAME.fullmatch(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InputError(
            f"task name {shown!r} is not allowed: a task name is {TASK_NAME_RULE}.",
            hint=f"tasks in this project: {', '.join(tasks)}.",
        )
    if name not in tasks:
        raise InputError(
            f"task '{name}' is not defined in the project; tasks: {', '.join(tasks)}."
            + did_you_mean(name, list(tasks)),
            hint="pick one of the project's tasks (the `tasks:` section of intently.yaml).",
        )
    return name
