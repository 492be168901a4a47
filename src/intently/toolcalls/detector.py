"""``ToolCallDetector``: every detector's candidates, merged into checked calls.

The pipeline for one output:

1. reasoning blocks (``<think>…</think>``) are blanked out, offsets kept (:mod:`.scan`);
2. each detector proposes :class:`~intently.toolcalls.records.Candidate` calls with a score
   and a span: ``structure`` (every tool-call format engines emit, :mod:`.structure`),
   ``regex`` ("I'll call the X tool with a=1", :mod:`.phrases`), ``semantic`` (opt-in,
   embedding similarity, :mod:`.semantic`) and any plugged-in :class:`Detector` (the ``ner``
   model);
3. the aggregator (:mod:`.aggregate`) drops examples, mentions and overlaps, resolves names
   against the registry, parses, repairs, coerces and validates the arguments
   (:mod:`.arguments`) and turns the evidence into a calibrated confidence.

A call is returned by :meth:`ToolCallDetector.detect` only with no problem and a confidence
at or above ``threshold``; :meth:`ToolCallDetector.analyze` also returns the refused calls,
each with the reasons, ready to be sent back to the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from intently.toolcalls.aggregate import Aggregator
from intently.toolcalls.phrases import PhraseDetector
from intently.toolcalls.records import Candidate, ToolCall
from intently.toolcalls.registry import ToolLike, ToolRegistry
from intently.toolcalls.scan import mask_reasoning
from intently.toolcalls.structure import StructureDetector

if TYPE_CHECKING:
    from intently.toolcalls.semantic import Encoder
    from intently.toolcalls.streaming import StreamingDetector


@runtime_checkable
class Detector(Protocol):
    """A source of candidate calls. ``text`` has its reasoning blocks blanked out (same
    length as the original, so spans index the original output)."""

    name: str

    def candidates(self, text: str, registry: ToolRegistry) -> list[Candidate]: ...


@dataclass(frozen=True)
class Detection:
    """The outcome for one output: accepted ``calls``, ``rejected`` calls (each with its
    ``problems``), and ``content``: the text with the accepted calls' spans removed."""

    calls: tuple[ToolCall, ...]
    rejected: tuple[ToolCall, ...]
    content: str


class ToolCallDetector:
    """Find the tool calls in a model's output.

    Parameters
    ----------
    registry : ToolRegistry or iterable of tools
        The offered tools. With no tool at all, any well-formed call is accepted as is
        (nothing to check it against).
    detectors : sequence of str, default ("structure", "regex")
        Built-in detectors to run; add ``"semantic"`` for embedding similarity (needs an
        encoder; see ``encoder``).
    plugins : sequence of Detector
        Extra detectors (the ``ner`` model), run after the built-in ones.
    threshold : float, default 0.5
        Lowest confidence of a returned call.
    fill_defaults : bool, default True
        Complete the arguments with the schema's defaults (after validation).
    name_cutoff : float, default 0.85
        Similarity above which an unknown tool name is read as a registered one.
    encoder : callable, optional
        ``encoder(texts) -> array (n, dim)`` of L2-normalised embeddings for ``semantic``;
        loaded lazily from :mod:`intently.backends` when not given.

    Examples
    --------
    >>> d = ToolCallDetector([{"name": "get_time", "parameters": {"type": "object"}}])
    >>> [c.name for c in d.detect('<tool_call>{"name": "get_time", "arguments": {}}</tool_call>')]
    ['get_time']
    """

    def __init__(
        self,
        registry: ToolRegistry | Iterable[ToolLike] = (),
        *,
        detectors: Sequence[str] = ("structure", "regex"),
        plugins: Sequence[Detector] = (),
        threshold: float = 0.5,
        name_cutoff: float = 0.85,
        fill_defaults: bool = True,
        encoder: Encoder | None = None,
    ) -> None:
        self.registry = registry if isinstance(registry, ToolRegistry) else ToolRegistry(registry)
        self.threshold = threshold
        self.name_cutoff = name_cutoff
        unknown = set(detectors) - {"structure", "regex", "semantic"}
        if unknown:
            from intently.errors import ToolCallError

            raise ToolCallError(
                f"unknown detector(s) {sorted(unknown)}; built-in ones: regex, semantic, "
                "structure (plug others in with plugins=)."
            )
        self._detectors: list[Detector] = []
        if "structure" in detectors:
            self._detectors.append(StructureDetector())
        if "regex" in detectors:
            self._detectors.append(PhraseDetector())
        if "semantic" in detectors:
            from intently.toolcalls.semantic import SemanticDetector

            self._detectors.append(SemanticDetector(encoder))
        self._detectors.extend(plugins)
        self._aggregator = Aggregator(
            self.registry, name_cutoff=name_cutoff, fill_defaults=fill_defaults
        )

    @property
    def detector_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self._detectors)

    def add_detector(self, detector: Detector) -> None:
        """Plug in another detector (e.g. the ``ner`` model once trained)."""
        self._detectors.append(detector)

    def remove_detector(self, name: str) -> None:
        self._detectors = [d for d in self._detectors if d.name != name]

    def candidates(self, text: str) -> list[Candidate]:
        """Every detector's raw proposals for ``text`` (reasoning blanked out)."""
        masked = mask_reasoning(text)
        found: list[Candidate] = []
        for detector in self._detectors:
            found.extend(detector.candidates(masked, self.registry))
        return found

    def analyze(self, text: str) -> Detection:
        """Accepted and refused calls in ``text``, and the text left once calls are removed."""
        masked = mask_reasoning(text)
        found: list[Candidate] = []
        for detector in self._detectors:
            found.extend(detector.candidates(masked, self.registry))
        decided = self._aggregator.decide(masked, found)
        calls = tuple(c for c in decided if c.ok and c.confidence >= self.threshold)
        rejected = tuple(c for c in decided if not c.ok)
        return Detection(calls=calls, rejected=rejected, content=remove_calls(text, calls))

    def detect(self, text: str) -> list[ToolCall]:
        """The calls in ``text`` that may be executed, in order of appearance."""
        return list(self.analyze(text).calls)

    def stream(self) -> StreamingDetector:
        """An incremental detector: feed it chunks, get each call once it is complete."""
        from intently.toolcalls.streaming import StreamingDetector

        return StreamingDetector(self)


def remove_calls(text: str, calls: Sequence[ToolCall]) -> str:
    """``text`` less the calls, and less what only wrapped them: the brackets and commas of a
    call array, a code fence or a marker token left with nothing inside."""
    if not calls:
        return text
    parts: list[str] = []
    position = 0
    for call in sorted(calls, key=lambda c: c.span.start):
        parts.append(text[position : call.span.start])
        parts.append(_CUT)
        position = max(position, call.span.end)
    parts.append(text[position:])
    content = _BETWEEN_CUTS.sub(_CUT, "".join(parts))
    content = _WRAPPER_TOKENS.sub(_CUT, content)
    content = _EMPTY_FENCE.sub(_CUT, content)
    return content.replace(_CUT, "").strip()


_CUT = "\x00"
_BETWEEN_CUTS = re.compile(r"[\[\s]*\x00(?:[\s,;]*\x00)*[\s,;]*\]?")
_WRAPPER_TOKENS = re.compile(
    r"(?:\[TOOL_CALLS\]|<\|python_tag\|>|<\|python_start\|>|functools|<\|tool_call\|>|"
    r"<[｜|]tool[▁_ ]calls[▁_ ]begin[｜|]>|<\|tool_calls_section_begin\|>|"
    r"<tool_calls>|<function_calls>|<[｜|]DSML[｜|]function_calls>|<\|start\|>assistant|<\|channel\|>\w+)?\s*\x00\s*"
    r"(?:<[｜|]tool[▁_ ]calls[▁_ ]end[｜|]>|<\|tool_calls_section_end\|>|</tool_calls>|"
    r"</function_calls>|</[｜|]DSML[｜|]function_calls>|<\|python_end\|>|<\|eom_id\|>|<\|eot_id\|>)?"
)
_EMPTY_FENCE = re.compile(r"(```+|~~~+)[\w+.\-]*[ \t]*\n?\s*\x00\s*\1")
