"""Trainers behind one protocol, registered by name."""

from intently.backends.base import (
    Backend,
    ProgressFn,
    backend_class,
    backend_names,
    make_backend,
    register_backend,
)


def _linear() -> type[Backend]:
    from intently.backends.linear import LinearBackend

    return LinearBackend


def _embedding() -> type[Backend]:
    from intently.backends.embedding import EmbeddingBackend

    return EmbeddingBackend


def _zeroshot() -> type[Backend]:
    from intently.backends.zeroshot import ZeroShotBackend

    return ZeroShotBackend


def _transformer() -> type[Backend]:
    from intently.backends.transformer import TransformerBackend

    return TransformerBackend


def _spacy() -> type[Backend]:
    from intently.backends.spacy_textcat import SpacyBackend

    return SpacyBackend


def _stack() -> type[Backend]:
    from intently.backends.stack import StackBackend

    return StackBackend


register_backend("linear", _linear)
register_backend("embedding", _embedding)
register_backend("zeroshot", _zeroshot)
register_backend("transformer", _transformer)
register_backend("spacy", _spacy)
register_backend("stack", _stack)

__all__ = [
    "Backend",
    "ProgressFn",
    "backend_class",
    "backend_names",
    "make_backend",
    "register_backend",
]
