"""Generators by name. A module registers its own in ``GENERATORS: dict[str, GeneratorType]``."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from intently.errors import did_you_mean
from intently.generate.base import GeneratorType

BUILTIN: Mapping[str, str] = {
    "templates": "intently.generate.templates",
    "augment": "intently.generate.augment",
    "paraphrase": "intently.generate.seq2seq",
    "backtranslate": "intently.generate.seq2seq",
}
"""Name → module. Modules are imported on first use, so torch loads only for seq2seq ones."""


class UnknownGenerator(LookupError):
    """No module registers this generator name; the message suggests the closest one."""


def get_generator(name: str, modules: Mapping[str, str] = BUILTIN) -> GeneratorType:
    """The registered generator ``name`` among ``modules`` (higher layers add their own)."""
    if name not in modules:
        raise UnknownGenerator(
            f"unknown generator '{name}'.{did_you_mean(name, list(modules))} "
            f"Known: {', '.join(sorted(modules))}."
        )
    registered: Mapping[str, GeneratorType] = importlib.import_module(modules[name]).GENERATORS
    return registered[name]
