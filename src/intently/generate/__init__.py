"""Training examples generated from definitions and templates, and the generator protocol."""

from intently.generate.definitions import (
    TemplateFill,
    definition_examples,
    expand_template,
    fill_template,
)

__all__ = ["TemplateFill", "definition_examples", "expand_template", "fill_template"]
