"""``intently init``: write a starter project file."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from intently.errors import SpecError
from intently.spec import DEFAULT_PROJECT_FILE

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def write_scaffold(name: str, directory: Path, *, force: bool = False) -> Path:
    """Write ``directory/intently.yaml`` for project ``name``; never overwrite unless ``force``."""
    if not _NAME.match(name):
        raise SpecError(
            f"project name {name!r} must start with a letter or digit and use only "
            "letters, digits, '.', '_' and '-'.",
            hint="e.g. `intently init my-assistant`.",
        )
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / DEFAULT_PROJECT_FILE
    if target.exists() and not force:
        raise SpecError(
            f"{target} already exists.",
            hint="pass --force to overwrite it, or --dir to write elsewhere.",
        )
    template = resources.files("intently").joinpath("templates/scaffold.yaml").read_text("utf-8")
    target.write_text(template.replace("{{name}}", name), encoding="utf-8")
    return target
