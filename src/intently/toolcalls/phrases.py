"""The ``regex`` detector: calls stated in words.

"I'll call the get_weather tool with city=Paris and unit: celsius", "Calling
`search_flights(origin='SFO')` now", "Let me use get_time with timezone set to UTC".
Only registered tool names are looked for (one alternation, compiled when the registry
changes), and only argument names the tool declares are read, so ordinary prose rarely
matches. A sentence that talks *about* a call (a question, "you can call", "I could use",
"don't call") is a mention, not a call.
"""

from __future__ import annotations

import re
from typing import Any

from intently.toolcalls.records import Candidate, Span, Tool
from intently.toolcalls.registry import ToolRegistry
from intently.toolcalls.scan import balanced_end
from intently.toolcalls.values import CallArgs, python_calls

SCORE = 0.75
_VERBS = (
    r"(?:call|calling|use|using|run|running|invoke|invoking|execute|executing|trigger|"
    r"triggering|query|querying|hit|hitting)"
)
_MENTION = re.compile(
    r"\b(?:you|your|could|can|cannot|would|should|might|may|if|whether|not|never|"
    r"able|how|what|which|when|why|once|after|before|instead|example|e\.g|such as|shall|"
    r"supposed|to be|do|does|did)\b|n't\b|\?",
    re.I,
)
_LEAD = re.compile(
    r"(?:\s*(?:with|using|passing|where|for|and|:|,|-|—|→|(?:the )?(?:arguments?|parameters?|"
    r"args|inputs?)(?: of)?)\s*)*",
    re.I,
)
_REPORT = (
    r"returned|returns|failed|fails|gave|gives|showed|errored|worked|succeeded|timed out|"
    r"did not|didn't|earlier|yesterday|before"
)
_REPORTED = re.compile(rf"[^.!?\n]{{0,80}}?\b(?:{_REPORT})\b", re.I)
"""A sentence that goes on to say how the call went reports a past call."""
_PAIR = re.compile(
    r"[`'\"*]*(?P<key>[A-Za-z_][\w\-]*)[`'\"*]*\s*(?:=|:|\s(?:is|set to|of|as|equal to|equals|"
    r"to)\s)\s*(?P<value>\"[^\"\n]*\"|'[^'\n]*'|`[^`\n]*`|\[[^\]\n]*\]|\{[^}\n]*\}|[^,;\n]+?)"
    r"(?=\s*(?:,|;|\band\b|\.\s|\.$|\n|$|\)|\s(?:since|because|so|but|then|which|to "
    r"(?:get|find|see|check)|for (?:you|the)|now|please|{report})\b))".replace("{report}", _REPORT),
    re.I,
)
_SEPARATOR = re.compile(r"\s*(?:,|;|\band\b|&)?\s*(?:and\s+)?", re.I)
_PURPOSE = re.compile(r"\s*(?:in order )?to\b", re.I)  # "To call X with a=1, ..." explains
_SENTENCE_START = re.compile(r"[.!?\n]\s+|\n")


class PhraseDetector:
    """Candidates from "call/use/run the X tool with a=1, b: 2" sentences."""

    name = "regex"

    def __init__(self) -> None:
        self._version = -1
        self._pattern: re.Pattern[str] | None = None
        self._by_lower: dict[str, Tool] = {}

    def _compiled(self, registry: ToolRegistry) -> re.Pattern[str] | None:
        if self._version != registry.version or len(self._by_lower) != len(registry):
            names = sorted(registry.names, key=len, reverse=True)
            self._by_lower = {t.name.lower(): t for t in registry.tools}
            self._pattern = (
                re.compile(
                    rf"\b{_VERBS}\s+(?:the\s+|a\s+|my\s+|our\s+)?[`'\"*]*"
                    rf"(?P<name>{'|'.join(re.escape(n) for n in names)})(?![\w.\-])[`'\"*]*"
                    r"(?:\s+(?:tool|function|api|action|endpoint|command))?",
                    re.I,
                )
                if names
                else None
            )
            self._version = registry.version
        return self._pattern

    def candidates(self, text: str, registry: ToolRegistry) -> list[Candidate]:
        pattern = self._compiled(registry)
        if pattern is None:
            return []
        out = []
        for match in pattern.finditer(text):
            tool = self._by_lower[match.group("name").lower()]
            sentence_start = _sentence_start(text, match.start())
            if _MENTION.search(text, sentence_start, match.start()) or _PURPOSE.match(
                text, sentence_start, match.start()
            ):
                continue
            read = _arguments(text, match.end(), tool)
            if read is None:
                continue
            args, end = read
            if _MENTION.search(text[end : end + 2]) or text[end : end + 2].strip().startswith("?"):
                continue
            if _REPORTED.match(text, end):
                continue
            if not args and (tool.properties or tool.required):
                continue  # a name alone is a mention
            out.append(
                Candidate(
                    name=tool.name,
                    raw_arguments=args,
                    score=SCORE,
                    span=Span(match.start(), end),
                    detector=self.name,
                    context="phrase",
                    format="phrase",
                )
            )
        return out


def _sentence_start(text: str, position: int) -> int:
    """Where the sentence holding ``position`` starts, looking back 200 characters at most."""
    start = max(0, position - 200)
    for match in _SENTENCE_START.finditer(text, start, position):
        start = match.end()
    return start


def _arguments(text: str, position: int, tool: Tool) -> tuple[Any, int] | None:
    """``(arguments, end)`` stated after the tool name, or None when it reads as a question."""
    if text.startswith("(", position):
        end = balanced_end(text, position)
        if end is None:
            return None
        calls = python_calls(f"f{text[position:end]}")
        if calls:
            return calls[0][1], end
        # Not Python: "get_weather(city: Paris, days: 2)" is read as pairs.
        args, stop = _pairs(text, position + 1, end - 1, tool)
        return (CallArgs(args), end) if args and stop >= end - 1 else None
    lead = _LEAD.match(text, position)
    args, end = _pairs(text, lead.end() if lead else position, len(text), tool)
    if not args:
        end = position
    if text[end : end + 1] == "?":
        return None
    return (CallArgs(args) if args else {}), end


def _pairs(text: str, cursor: int, limit: int, tool: Tool) -> tuple[dict[str, Any], int]:
    """``key=value`` / ``key: value`` pairs naming the tool's parameters, from ``cursor``."""
    props = {p.lower(): p for p in tool.properties}
    args: dict[str, Any] = {}
    end = cursor
    while (pair := _PAIR.match(text, cursor, limit)) is not None:
        key = props.get(pair.group("key").lower())
        if key is None:
            break
        args[key] = _unquote(pair.group("value"))
        end = pair.end()
        cursor = _SEPARATOR.match(text, end, limit).end()  # type: ignore[union-attr]
    return args, end


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        return value[1:-1]
    return value.rstrip(".")
