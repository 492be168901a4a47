"""The ``structure`` detector: calls written in a machine format, marked or not.

Marked formats go first (:mod:`.formats`); a block they claim is not read again. Then the
unmarked shapes: ReAct ``Action:``/``Action Input:``, XML functions outside a tag, JSON
objects and arrays of calls (bare or in a code fence), and Python-style calls (a bracketed
list anywhere; bare calls only when they are the whole output or fill a code fence). A
candidate inside a code fence gets the ``fenced`` context, so the aggregator can tell a call
from an example; a ``tool_code``/``tool_call`` fence is a marker itself (Gemma).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence

from intently.toolcalls.formats import (
    TAG_OPEN,
    TAGGED,
    _cand,
    deepseek,
    function_gemma,
    harmony,
    invokes,
    json_values,
    kimi,
    mistral,
    python_block,
    tag_blocks,
    xml_functions,
)
from intently.toolcalls.records import Candidate, Span
from intently.toolcalls.registry import ToolRegistry
from intently.toolcalls.scan import Fence, balanced_end, fences
from intently.toolcalls.values import CallArgs

BARE = 0.85
WHOLE = 0.95
REACT = 0.93
TOOL_FENCES = frozenset({"tool_code", "tool_call", "tool_calls", "function_call", "tool"})
PYTHON_FENCES = frozenset({"", "python", "py", "python3", "tool_code", "tool_call"})

_MARKED: tuple[tuple[str, Callable[[str, Sequence[str]], list[Candidate]]], ...] = (
    ("tool▁call", deepseek),
    ("tool_call▁", deepseek),
    ("<|tool_call_begin|>", kimi),
    ("<|message|>", harmony),
    ("[TOOL_CALLS]", mistral),
    ("<start_function_call>", function_gemma),
)
_TRIGGERS = re.compile(r"[{\[<(]|Action|\|>")
_JSON_START = re.compile(r"[\[{]\s*[\"'{]")
_PY_LIST = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_REACT = re.compile(
    r"^[ \t]*Action[ \t]*\d*[ \t]*:[ \t]*[`*]*([A-Za-z_][\w.\-]*)[`*]*[ \t]*\n+"
    r"[ \t]*Action[ \t]*Input[ \t]*\d*[ \t]*:[ \t]*",
    re.M,
)
# "Tool: NAME" / "Function: NAME" over "Arguments: {...}": a labelled call, read only with a
# JSON object (a plain-text line under such labels is usually documentation).
_LABELLED = re.compile(
    r"^[ \t]*[*_]*(?:Tool|Function|Tool name|Function name)[ \t]*[*_]*:[*_]*[ \t]*[`*]*"
    r"([A-Za-z_][\w.\-]*)[`*]*[ \t]*\n[ \t]*[*_]*(?:Arguments|Args|Parameters|Input|Tool input)"
    r"[ \t]*[*_]*:[*_]*[ \t]*(?=\{)",
    re.M | re.I,
)
_FUNCTIONARY = re.compile(r"(?:^|\n)>>>[ \t]*([A-Za-z_][\w.\-]*)[ \t]*\n\s*(?=[{\[])")
_CALL_LINE = re.compile(
    r"^(?:[^\n`]*?:[ \t]*)?[ \t]*`?([A-Za-z_][\w.]*)[ \t]*\(.*\)`?[ \t]*[.;]?[ \t]*$", re.M
)
_REACT_END = re.compile(r"\n[ \t]*(?:Observation|Thought|Action|Final Answer)\b|\n\s*\n")


class StructureDetector:
    """Candidates from every machine format (see the module docstring)."""

    name = "structure"

    def candidates(self, text: str, registry: ToolRegistry) -> list[Candidate]:
        if not _TRIGGERS.search(text):
            return []
        names = registry.names
        claims = _Claims()
        for trigger, extract in _MARKED:
            if trigger in text:
                claims.take(extract(text, names))
        if "<|" in text or TAG_OPEN.search(text) or "functools[" in text:
            claims.take(tag_blocks(text, names))
            claims.hold(_open_blocks(text))
        if "<function=" in text:
            claims.take(xml_functions(text, 0, len(text), "", names))
        if "invoke" in text:
            claims.take(invokes(text, 0, len(text), ""))
        if "Action" in text:
            claims.take(_react(text))
        if ":" in text and "{" in text:
            claims.take(_json_after(_LABELLED, text, "labelled", REACT))
        if ">>>" in text:
            claims.take(_json_after(_FUNCTIONARY, text, "functionary_v3", TAGGED))
        blocks = fences(text)
        whole = _whole_output_calls(text)
        if whole:
            claims.take(whole)
        elif "(" in text:
            claims.take(_call_lines(text, set(names), claims, blocks))
        for fence in blocks:
            if fence.lang in PYTHON_FENCES and claims.free(fence.body_start, fence.body_end):
                claims.take(
                    python_block(
                        text,
                        fence.body_start,
                        fence.body_end,
                        "tool_code" if fence.lang in TOOL_FENCES else "pythonic",
                    )
                )
        claims.take(_bare_json(text, names, claims))
        if "(" in text:
            claims.take(_python_lists(text, claims))
        return [_in_context(c, blocks, text) for c in claims.taken]


class _Claims:
    """Candidates kept so far, and the text they cover (merged, sorted intervals, so that a
    check is a binary search even with thousands of calls in one output)."""

    def __init__(self) -> None:
        self.taken: list[Candidate] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    def free(self, start: int, end: int) -> bool:
        index = bisect_right(self._starts, start) - 1
        if index >= 0 and self._ends[index] > start:
            return False
        following = index + 1
        return following >= len(self._starts) or self._starts[following] >= end

    def _cover(self, start: int, end: int) -> None:
        index = bisect_right(self._starts, start) - 1
        if index >= 0 and self._ends[index] >= start:
            start = self._starts[index]
            end = max(end, self._ends[index])
            del self._starts[index], self._ends[index]
        else:
            index += 1
        while index < len(self._starts) and self._starts[index] <= end:
            end = max(end, self._ends[index])
            del self._starts[index], self._ends[index]
        self._starts.insert(index, start)
        self._ends.insert(index, end)

    def hold(self, regions: list[tuple[int, int]]) -> None:
        """Text no later reader may take (the inside of a block still being written)."""
        for start, end in regions:
            self._cover(start, end)

    def take(self, candidates: list[Candidate]) -> None:
        # Checked against earlier batches only: calls of one block may share its span.
        fresh = [c for c in candidates if self.free(c.span.start, c.span.end)]
        self.taken.extend(fresh)
        for candidate in fresh:
            self._cover(candidate.span.start, candidate.span.end)


def _in_context(candidate: Candidate, blocks: list[Fence], text: str) -> Candidate:
    for fence in blocks:
        if fence.body_start <= candidate.span.start and candidate.span.end <= fence.body_end:
            if fence.lang in TOOL_FENCES:
                return candidate
            return _with(candidate, context="fenced", score=min(candidate.score, BARE))
    return candidate


def _with(candidate: Candidate, **changes: object) -> Candidate:
    from dataclasses import replace

    return replace(candidate, **changes)  # type: ignore[arg-type]


_BODY_START = re.compile(r"\s*(?:[\[{<]|[A-Za-z_][\w.]*[ \t]*[(\n]|$)")
_UNCLOSED_OK = frozenset({"functioncall", "function_call"})  # Glaive and Granite-20B never close


def _open_blocks(text: str) -> list[tuple[int, int]]:
    """Tags opened and not (yet) closed: what follows belongs to the block, so a line inside
    it is never read as a call of its own (the stream would otherwise report it twice)."""
    held = []
    for match in TAG_OPEN.finditer(text):
        tag = match.group("tag")
        if (
            tag.lower() not in _UNCLOSED_OK
            and f"</{tag}>" not in text[match.end() :]
            and _BODY_START.match(text, match.end())  # a block, not "<tool_call> tags" in prose
        ):
            held.append((match.start(), len(text)))
    return held


def _react(text: str) -> list[Candidate]:
    out = []
    for match in _REACT.finditer(text):
        start = match.end()
        if text.startswith(("{", "["), start):
            end = balanced_end(text, start)
            if end is None:
                out.append(
                    _cand(
                        match.group(1),
                        None,
                        match.start(),
                        len(text),
                        "react",
                        truncated=True,
                        score=REACT,
                    )
                )
                continue
            raw: object = text[start:end]
        else:
            stop = _REACT_END.search(text, start)
            end = len(text) if stop is None else stop.start()
            line_end = text.find("\n", start)
            end = min(end, len(text) if line_end < 0 else line_end)
            value = text[start:end].strip().strip("`").strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            raw = CallArgs({}, (value,)) if value else {}
        out.append(_cand(match.group(1), raw, match.start(), end, "react", score=REACT))
    return out


def _json_after(pattern: re.Pattern[str], text: str, fmt: str, score: float) -> list[Candidate]:
    """Calls whose name ``pattern`` reads (group 1) and whose JSON arguments start where the
    match ends: Functionary v3.2 ``>>>name`` lines, ``Tool:``/``Arguments:`` labels."""
    out = []
    for match in pattern.finditer(text):
        end = balanced_end(text, match.end())
        if end is None:
            out.append(
                _cand(
                    match.group(1), None, match.start(), len(text), fmt, truncated=True, score=score
                )
            )
        else:
            out.append(
                _cand(match.group(1), text[match.end() : end], match.start(), end, fmt, score=score)
            )
    return out


def _call_lines(
    text: str, names: set[str], claims: _Claims, blocks: list[Fence]
) -> list[Candidate]:
    """A line that is nothing but a call of an offered tool (``get_weather(city="Oslo")``)
    outside code fences, as pythonic models write after a sentence of prose."""
    out: list[Candidate] = []
    for match in _CALL_LINE.finditer(text):
        name = match.group(1)
        if name not in names and name.rsplit(".", 1)[-1] not in names:
            continue
        start, end = match.start(1), match.end()
        if any(f.start <= start < f.end for f in blocks) or not claims.free(start, end):
            continue
        line = text[start:end].rstrip().rstrip(".;").rstrip().rstrip("`")
        out.extend(
            _with(c, context="bare", score=BARE)
            for c in python_block(text, start, start + len(line), "pythonic")
        )
    return out


def _whole_output_calls(text: str) -> list[Candidate]:
    stripped = text.strip()
    if not stripped or not (stripped[0].isalpha() or stripped[0] in "_[") or "(" not in stripped:
        return []
    start = text.index(stripped[0])
    return [
        _with(c, score=WHOLE, context="bare")
        for c in python_block(text, start, start + len(stripped), "pythonic")
    ]


def _bare_json(text: str, names: Sequence[str], claims: _Claims) -> list[Candidate]:
    out: list[Candidate] = []
    position = 0
    stripped = text.strip()
    budget = _scan_budget(text)
    while (match := _JSON_START.search(text, position)) is not None and budget > 0:
        start = match.start()
        if not claims.free(start, start + 1):
            position = start + 1
            continue
        limit = _value_limit(text, start)
        budget -= limit - start
        found = list(json_values(text, start, limit, closed=False, names=names))
        if not found:
            position = start + 1
            continue
        end = max(e for *_, e, _ in found)
        whole = text[start:end].strip() == stripped
        for name, args, s, e, state in found:
            out.append(
                _cand(
                    name,
                    args,
                    s,
                    e,
                    "json",
                    state=state,
                    context="bare",
                    score=WHOLE if whole else BARE,
                )
            )
        position = end
        if any(c.truncated for c in out):
            break
    return [c for c in out if claims.free(c.span.start, c.span.end)]


def _value_limit(text: str, start: int) -> int:
    end = balanced_end(text, start)
    return len(text) if end is None else end


def _scan_budget(text: str) -> int:
    """Characters the nested-value scans may read in all: each start that does not hold a
    call is scanned again from inside, and text such as ``{{{{…`` would make that quadratic."""
    return 8 * len(text) + 4096


def _python_lists(text: str, claims: _Claims) -> list[Candidate]:
    out: list[Candidate] = []
    budget = _scan_budget(text)
    for match in _PY_LIST.finditer(text):
        start = match.start()
        if budget <= 0:
            break
        if not claims.free(start, start + 1) or any(
            c.span.start <= start < c.span.end for c in out
        ):
            continue
        end = balanced_end(text, start)
        budget -= (len(text) if end is None else end) - start
        if end is None:
            continue
        calls = python_block(text, start, end, "pythonic")
        if calls and claims.free(start, end):
            out.extend(_with(c, context="bare", score=0.9) for c in calls)
    return out


__all__ = ["Span", "StructureDetector"]
