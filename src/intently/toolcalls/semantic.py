"""The ``semantic`` detector: how close the output is to each tool's description.

It proposes no arguments, so it never makes a call on its own: the aggregator uses it as
evidence for a call another detector found (same tool: confidence up). Embeddings come from
any ``encoder(texts) -> array (n, dim)`` of L2-normalised rows; by default the project's
sentence encoder (all-MiniLM-L6-v2 from :mod:`intently.backends`), loaded on first use only,
so the torch stack is never imported unless this detector runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from intently.toolcalls.records import Candidate, Span
from intently.toolcalls.registry import ToolRegistry

if TYPE_CHECKING:
    import numpy as np

Encoder = Callable[[Sequence[str]], "np.ndarray"]
MAX_CHARS = 1_000
"""Characters of the output embedded (the start says what the model is doing)."""


def default_encoder() -> Encoder:
    """The project's default sentence encoder, loaded now (torch and the MiniLM weights)."""
    from intently.backends.bodies import resolve_body
    from intently.backends.encoder import SentenceEncoder

    encoder = SentenceEncoder.load(resolve_body(None))
    return lambda texts: encoder.encode(list(texts)).embeddings


class SemanticDetector:
    """A ``semantic`` candidate for the tool whose description is nearest the output."""

    name = "semantic"

    def __init__(self, encoder: Encoder | None = None, *, min_similarity: float = 0.35) -> None:
        self.encoder = encoder
        self.min_similarity = min_similarity
        self._version = -1
        self._names: list[str] = []
        self._matrix: Any = None

    def _encode(self, texts: Sequence[str]) -> Any:
        if self.encoder is None:
            self.encoder = default_encoder()
        return self.encoder(texts)

    def candidates(self, text: str, registry: ToolRegistry) -> list[Candidate]:
        stripped = text.strip()[:MAX_CHARS]
        if not stripped or not len(registry):
            return []
        if self._version != registry.version or len(self._names) != len(registry):
            tools = registry.tools
            self._names = [t.name for t in tools]
            self._matrix = self._encode(
                [f"{t.name.replace('_', ' ')}: {t.description}".strip() for t in tools]
            )
            self._version = registry.version
        similarities = self._matrix @ self._encode([stripped])[0]
        best = int(similarities.argmax())
        score = float(similarities[best])
        if score < self.min_similarity:
            return []
        return [
            Candidate(
                name=self._names[best],
                raw_arguments={},
                score=score,
                span=Span(0, len(text)),
                detector=self.name,
                context="semantic",
                format="semantic",
            )
        ]
