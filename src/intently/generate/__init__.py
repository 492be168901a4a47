"""Training examples generated from definitions and templates."""

from intently.generate.definitions import definition_examples, expand_template

__all__ = ["definition_examples", "expand_template"]
