"""The aggregator: candidates in, checked and scored calls out.

Decisions, in order, for each candidate:

* **overlap**: a ``phrase``/``ner``/``semantic`` candidate over the text of a structural one
  is evidence for it (same tool: confidence up), never a second call;
* **framing**: a call the prose presents as an example ("for example:", "the format is",
  "you could call", "is just an example" right after) or that sits inline in a sentence or in
  backticks is dropped silently: it was never meant to run;
* **name**: resolved against the registry (exact, then ``functions.``/``default_api.``
  prefixes dropped, then case and separators ignored, then a fuzzy match above
  ``name_cutoff``); otherwise the problem ``unknown_tool``;
* **truncation**: a call whose text ends before its arguments do is refused, never completed;
* **arguments**: :func:`~intently.toolcalls.arguments.check_arguments`.

Confidence starts from the detector's score for its context (a marked block 0.97, ReAct
0.93, a whole-output JSON call 0.95, JSON in prose 0.85, a phrase 0.75) and moves with the
evidence: corroboration by another detector raises it, a fuzzy name match multiplies it by
the similarity, repaired JSON and coerced types lower it a little. ``bench-toolcalls``
reports how well these numbers match the observed precision (calibration table).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from difflib import SequenceMatcher

from intently.toolcalls.arguments import check_arguments
from intently.toolcalls.records import Candidate, Tool, ToolCall
from intently.toolcalls.registry import ToolRegistry
from intently.toolcalls.scan import inline_code_spans, line_bounds

AFTER_WINDOW = 80
"""Characters after a call read for "... is just an example" (the stream waits for them)."""
BEFORE_WINDOW = 160
SOFT_CONTEXTS = frozenset({"phrase", "semantic", "ner"})
_PREFIXES = ("functions.", "default_api.", "tools.", "tool.", "api.", "function.")
_EXAMPLE_BEFORE = re.compile(
    r"\b(?:for example|for instance|e\.g\.|examples?(?!\.\w)|sample|such as|like this|like so|"
    r"in this format|format\s*:|how to|(?:you|i|we)'d|you'll|"
    r"the format (?:is|looks|should)|format (?:is|looks) like|syntax|schema (?:is|looks)|"
    r"template|looks? like|(?:you|i|we|it) (?:called|used|ran|sent)|previously|last time|"
    r"in the logs?|was called|were called|"
    r"would look|should look|could look|might look|usage|for reference|as shown|"
    r"you (?:can|could|should|would|may|might|need to|must|will)|"
    r"to call (?:a|the|this|any) tool|(?:the )?model (?:should|"
    r"would|will|must|can)|assistant (?:should|would|can|will)|if (?:you|i|we|the)|"
    r"hypothetical|illustrat\w*|demonstrat\w*|don'?t|do not|never|instead of|incorrect|"
    r"wrong|invalid|avoid|not valid|expects? (?:a |an )?\w* ?like|such a call|documentation|"
    r"docs say)\b|\blike\s*:?\s*$",
    re.I,
)
_EXAMPLE_AFTER = re.compile(
    r"^\s*(?:[.,:;)]\s*)?(?:(?:this|that|the above|above|it|which)(?:\s+[\w-]+){0,2}?\s+"
    r"(?:is|was|would be|shows?|illustrates?|demonstrates?)\b[^.\n]{0,40}?\b"
    r"(?:example|illustration|sample|format|template|how|structure|shape|syntax)|"
    r"(?:is|was) (?:just |only |merely )?(?:an? )?(?:example|illustration|sample)|"
    r"(?:for|as an?) (?:example|illustration)|e\.g\.)",
    re.I,
)
_SENTENCE_BREAK = re.compile(r"(?:[.!?](?:\s|$)|\n\s*\n)")
_NORMAL = re.compile(r"[^a-z0-9]")


class Aggregator:
    """Turns one output's candidates into calls; see the module docstring."""

    def __init__(
        self, registry: ToolRegistry, *, name_cutoff: float = 0.85, fill_defaults: bool = True
    ) -> None:
        self.registry = registry
        self.fill_defaults = fill_defaults
        self.name_cutoff = name_cutoff
        self._normal_version = -1
        self._normal: dict[str, str] = {}

    def decide(self, text: str, candidates: Sequence[Candidate]) -> list[ToolCall]:
        hard = sorted(
            (c for c in candidates if c.context not in SOFT_CONTEXTS), key=lambda c: c.span.start
        )
        hard_starts = [c.span.start for c in hard]
        support: dict[int, float] = {}  # id(hard candidate) -> best corroborating score
        leftover: list[Candidate] = []
        spoken = sorted(
            (c for c in candidates if c.context in SOFT_CONTEXTS and c.context != "semantic"),
            key=lambda c: c.span.start,
        )
        for candidate in spoken:
            other = _overlapping(candidate, hard, hard_starts)
            if other is not None:
                if _same_name(candidate.name, other.name):
                    support[id(other)] = max(support.get(id(other), 0.0), candidate.score)
            elif leftover and _overlaps(candidate, leftover[-1]):
                if candidate.score > leftover[-1].score:  # two readings of one sentence
                    leftover[-1] = candidate
            else:
                leftover.append(candidate)
        semantic = {c.name: c.score for c in candidates if c.context == "semantic"}
        inline = inline_code_spans(text)
        defines: dict[str, bool] = {}
        calls = []
        for candidate in sorted([*hard, *leftover], key=lambda c: c.span.start):
            if _framed_as_example(text, candidate, inline):
                continue
            if candidate.context != "tagged":
                if candidate.name not in defines:
                    defines[candidate.name] = _defines(text, candidate.name)
                if defines[candidate.name]:
                    continue  # code that defines the function shows it; it does not call it
            boost = max(support.get(id(candidate), 0.0), semantic.get(candidate.name, 0.0) * 0.5)
            call = self._call(candidate, boost)
            if call is not None:
                calls.append(call)
        return calls

    def _call(self, candidate: Candidate, boost: float) -> ToolCall | None:
        tool, similarity = self.resolve(candidate.name)
        confidence = candidate.score + (1.0 - candidate.score) * boost * 0.6
        if tool is None and len(self.registry):
            if candidate.context in SOFT_CONTEXTS or (
                candidate.format in ("pythonic", "tool_code") and candidate.context != "tagged"
            ):
                return None  # a word that looks like a call is not worth a reply
            return self._refused(
                candidate,
                confidence,
                (
                    f"unknown_tool: '{candidate.name}' is not one of the offered tools "
                    f"({', '.join(sorted(self.registry.names)) or 'none'})",
                ),
            )
        name = tool.name if tool else candidate.name
        confidence *= similarity
        if candidate.truncated:
            return self._refused(
                candidate,
                confidence,
                (f"truncated: the call to '{name}' ends before its arguments are complete",),
                name=name,
            )
        checked = check_arguments(candidate.raw_arguments, tool, defaults=self.fill_defaults)
        confidence -= 0.05 * (checked.repaired or candidate.repaired) + 0.02 * checked.coerced
        return ToolCall(
            name=name,
            arguments=checked.arguments,
            confidence=max(0.0, confidence),
            span=candidate.span,
            detector=candidate.detector,
            problems=checked.problems,
        )

    @staticmethod
    def _refused(
        candidate: Candidate,
        confidence: float,
        problems: tuple[str, ...],
        *,
        name: str | None = None,
    ) -> ToolCall:
        raw = candidate.raw_arguments
        return ToolCall(
            name=name or candidate.name,
            arguments=raw if isinstance(raw, dict) else {},
            confidence=confidence,
            span=candidate.span,
            detector=candidate.detector,
            problems=problems,
        )

    def resolve(self, name: str) -> tuple[Tool | None, float]:
        """The registered tool ``name`` means, and how sure (1.0 exact)."""
        registry = self.registry
        tool = registry.get(name)
        if tool is not None:
            return tool, 1.0
        for prefix in _PREFIXES:
            if name.startswith(prefix) and (tool := registry.get(name[len(prefix) :])):
                return tool, 1.0
        if name.endswith(".call") and (tool := registry.get(name[:-5])):
            return tool, 1.0  # Llama 3.1 built-in style: brave_search.call(query=...)
        if not len(registry):
            return None, 1.0
        if self._normal_version != registry.version or len(self._normal) != len(registry):
            self._normal = {_NORMAL.sub("", n.lower()): n for n in registry.names}
            self._normal_version = registry.version
        key = _NORMAL.sub("", name.lower().rsplit(".", 1)[-1])
        if key in self._normal:
            return registry.get(self._normal[key]), 0.97
        best, score = None, 0.0
        for normal, original in self._normal.items():
            ratio = SequenceMatcher(None, key, normal).ratio()
            if ratio > score:
                best, score = original, ratio
        if best is not None and score >= self.name_cutoff:
            return registry.get(best), score
        return None, 1.0


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.span.start < b.span.end and b.span.start < a.span.end


def _overlapping(
    candidate: Candidate, hard: Sequence[Candidate], starts: Sequence[int]
) -> Candidate | None:
    """A structural candidate over the same text (the few that start before its end)."""
    index = bisect_left(starts, candidate.span.end) - 1
    for other in hard[max(0, index - 7) : index + 1][::-1]:
        if _overlaps(candidate, other):
            return other
    return None


def _same_name(a: str, b: str) -> bool:
    return _NORMAL.sub("", a.lower()) == _NORMAL.sub("", b.lower())


def _framed_as_example(text: str, candidate: Candidate, inline: list[tuple[int, int]]) -> bool:
    """The prose presents this call as an example, or it sits inside a sentence."""
    start, end = candidate.span.start, candidate.span.end
    index = bisect_right(inline, (start, len(text))) - 1
    if index >= 0 and inline[index][0] <= start and end <= inline[index][1]:
        return True
    line_start, line_end = line_bounds(text, start)
    before_on_line = text[line_start:start].strip()
    after_on_line = text[end:line_end].strip() if end <= line_end else ""
    if candidate.context == "tagged":
        # A marked block is a call unless it sits inside a sentence (a literal <tool_call> in
        # prose) or the prose right before it on its line says it is an example.
        if before_on_line and after_on_line and after_on_line[:1].isalpha():
            return True
        intro = before_on_line or _introducing_line(text, line_start)
        return bool(intro) and bool(_EXAMPLE_BEFORE.search(_last_sentence(intro)))
    if candidate.context == "phrase":
        return False  # the phrase detector reads its own sentence
    lead = text[max(0, start - BEFORE_WINDOW) : start]
    if candidate.context == "fenced":
        fence_open = text.rfind("```", 0, start)
        lead = (
            text[max(0, fence_open - BEFORE_WINDOW) : max(fence_open, 0)]
            if fence_open >= 0
            else lead
        )
        tail_from = text.find("```", end)
        tail = text[tail_from + 3 : tail_from + 3 + AFTER_WINDOW] if tail_from >= 0 else ""
    else:
        if before_on_line and after_on_line and after_on_line[:1].isalpha():
            return True  # JSON inside a sentence is spoken about, not sent
        tail = text[end : end + AFTER_WINDOW]
    if _EXAMPLE_BEFORE.search(_last_sentence(lead)):
        return True
    return bool(_EXAMPLE_AFTER.search(tail))


def _introducing_line(text: str, line_start: int) -> str:
    """The previous non-empty line when it ends with a colon ("Here is a sample call:")."""
    previous = text[:line_start].rstrip()
    line = previous[previous.rfind("\n") + 1 :].strip()
    return line if line.endswith(":") else ""


def _defines(text: str, name: str) -> bool:
    """``text`` holds code that defines a function called ``name``."""
    short = re.escape(name.rsplit(".", 1)[-1])
    return bool(
        re.search(
            rf"\b(?:def|function|func|fn|fun|sub)\s+{short}\s*[(<]|\b{short}\s*=\s*(?:lambda|"
            rf"function|async|\()",
            text,
        )
    )


def _last_sentence(lead: str) -> str:
    """The sentence (or the paragraph tail) that leads into a call: prose only, so whatever
    precedes it in JSON or markup (an earlier call of the same block) is not read as words."""
    cut = max(lead.rfind(ch) for ch in "}]>`")
    stripped = lead[cut + 1 :].rstrip()
    breaks = list(_SENTENCE_BREAK.finditer(stripped[:-1] if stripped.endswith(".") else stripped))
    return stripped[breaks[-1].end() :] if breaks else stripped
