"""Low-level text scanning shared by the detectors: reasoning blocks, balanced brackets,
code fences. Every function keeps character offsets of the original output."""

from __future__ import annotations

import re
from dataclasses import dataclass

_THINK = re.compile(
    r"<(think|thinking|reasoning)>.*?(?:</\1>|\Z)|\[THINK\].*?(?:\[/THINK\]|\Z)"
    r"|<\|channel\|>analysis<\|message\|>.*?(?:<\|end\|>|(?=<\|start\|>)|\Z)",
    re.S,
)
_THINK_END = re.compile(r"</(?:think|thinking|reasoning)>")
_FENCE = re.compile(
    r"^[ \t]*(```+|~~~+)[ \t]*([\w+.\-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.S | re.M
)
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_OPEN = {"{": "}", "[": "]", "(": ")"}


def mask_reasoning(text: str) -> str:
    """``text`` with reasoning blocks replaced by spaces (same length).

    A ``</think>`` without its opening tag (chat templates put ``<think>`` in the prompt) hides
    everything before it; an unclosed ``<think>`` hides everything after it.
    """
    if (
        "think>" not in text
        and "reasoning>" not in text
        and "THINK]" not in text
        and ("analysis<|message|>" not in text)
    ):
        return text
    first_close = _THINK_END.search(text)
    first_open = _THINK.search(text)
    if first_close and (first_open is None or first_close.start() < first_open.start()):
        text = " " * first_close.end() + text[first_close.end() :]
    return _THINK.sub(lambda m: " " * len(m.group(0)), text)


MAX_DEPTH = 64
"""Deeper nesting is not a tool call; refusing it keeps parsing out of deep recursion."""


def balanced_end(text: str, start: int, end: int | None = None) -> int | None:
    """End (exclusive) of the bracketed value opening at ``text[start]``, or None when the
    text ends first (a truncated value) or nests deeper than :data:`MAX_DEPTH`. Strings in
    double or single quotes are skipped, with backslash escapes, so brackets inside them do
    not count. ``end`` bounds the scan (the text is read as if it stopped there)."""
    stack: list[str] = []
    quote = ""
    i = start
    n = len(text) if end is None else min(end, len(text))
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            # An apostrophe inside a word ("don't") is not a quote in Python-ish literals.
            if ch == '"' or not (
                i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalpha()
            ):
                quote = ch
        elif ch in _OPEN:
            if len(stack) >= MAX_DEPTH:
                return None
            stack.append(_OPEN[ch])
        elif ch in "}])":
            if not stack or stack[-1] != ch:
                return None  # mismatched: not a value
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    return None


@dataclass(frozen=True)
class Fence:
    """A fenced code block: the whole block ``[start, end)`` and its body ``[body_start,
    body_end)``; ``lang`` is the info string's first word, lower-cased."""

    start: int
    end: int
    body_start: int
    body_end: int
    lang: str


def fences(text: str) -> list[Fence]:
    if "```" not in text and "~~~" not in text:
        return []
    return [
        Fence(m.start(), m.end(), m.start(3), m.end(3), m.group(2).lower())
        for m in _FENCE.finditer(text)
    ]


def inline_code_spans(text: str) -> list[tuple[int, int]]:
    if "`" not in text:
        return []
    return [(m.start(), m.end()) for m in _INLINE_CODE.finditer(text)]


def line_bounds(text: str, position: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return start, len(text) if end < 0 else end
