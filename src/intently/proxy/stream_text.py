"""A streamed reply split into content and tool calls, neither ever half reported.

:class:`~intently.toolcalls.StreamingDetector` reports each call once it is complete. This
module decides which text may be streamed as ``content`` before the reply ends: only text
that cannot become part of a call. It holds back

* the last ``HOLDBACK`` characters (what the call detector itself has not settled yet);
* everything from the first call on: more calls may follow that the detector reads only as a
  sequence (``;``-joined JSON, a Mistral array), and the text between and after calls is
  short;
* everything from the first opener that may start a call: ``{``, ``[``, a code fence, a tag or
  special token (``<tool_call>``, ``<|python_tag|>``, ``<function=…>``), a ReAct ``Action:``
  line, or a name followed by ``(``; a parenthesis in prose holds only until it closes;
* the current sentence, because a call's name may stand before its opener
  (``[TOOL_CALLS]name{…}``) and phrase calls ("call the weather tool with city=Paris") span a
  sentence.

So prose before any call streams as it comes (about ``HOLDBACK`` characters behind), and a
reply that writes brackets early streams its content at the end. The content streamed is
always the growing prefix of what the non-streaming path answers for the text seen so far
(calls and their wrappers cut, whitespace trimmed), and at the end the rest of the
non-streaming content goes out, so a client assembles the same content either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from intently.toolcalls import StreamingDetector, ToolCall
from intently.toolcalls.streaming import HOLDBACK

_PAIRS = {"{": "}", "[": "]", "(": ")"}
_OPENERS = re.compile(r"\w\(|[{\[(]|```|~~~|<[|/A-Za-z｜]|^[ \t]*Action\s*:", re.MULTILINE)
_BOUNDARY = re.compile(r"\n|[.!?:;](?=\s)")

Piece = str | ToolCall


def _match(text: str, start: int) -> int | None:
    """Index just past the bracket that closes ``text[start]``; strings are skipped."""
    depth, quote, escaped = 0, "", False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char == '"':
            quote = char
        elif char in _PAIRS:
            depth += 1
        elif char in "}])":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


class ContentStream:
    """Feed a reply's text chunks; get back, in order, content strings and complete calls.

    ``content_of(text, calls)`` is the non-streaming rule for what is left of a text once its
    calls are cut out (wrappers such as a fence or ``[TOOL_CALLS]`` around nothing but calls
    go too); the content streamed so far is always a prefix of it.
    """

    def __init__(
        self, calls: StreamingDetector, content_of: Callable[[str, Sequence[ToolCall]], str]
    ) -> None:
        self._calls = calls
        self._content_of = content_of
        self._text = ""
        self._limit = 0
        self._found: list[ToolCall] = []
        self._sent = ""

    def feed(self, chunk: str) -> list[Piece]:
        self._text += chunk
        found = self._note(self._calls.feed(chunk))
        limit = self._safe_limit()
        if limit <= self._limit:
            return found
        self._limit = limit
        settled = [c for c in self._found if c.span.end <= limit]
        # trailing whitespace waits: the final content drops it when a call follows
        prefix = self._content_of(self._text[:limit], settled).rstrip()
        return [*found, *self._content(prefix)]

    def finish(self) -> list[Piece]:
        found = self._note(self._calls.finish())
        self._limit = len(self._text)
        final = self._content_of(self._text, self._found)
        return [*found, *self._content(final)]

    # -- internals ----------------------------------------------------------------------------
    def _note(self, calls: list[ToolCall]) -> list[Piece]:
        self._found = sorted([*self._found, *calls], key=lambda c: c.span.start)
        return list(calls)

    def _content(self, content: str) -> list[Piece]:
        """The part of ``content`` not yet sent. Content that no longer extends what was sent
        (a held-back rule missed a call's wrapper) is not sent: a stream cannot take text
        back, and the calls stay right."""
        if not content.startswith(self._sent):
            return []
        new, self._sent = content[len(self._sent) :], content
        return [new] if new else []

    def _safe_limit(self) -> int:
        """How far content may go: the settled text before the first call and before the first
        opener that may start one, cut back to a sentence or line boundary that is not inside
        a parenthesis."""
        text, limit = self._text, len(self._text) - HOLDBACK
        if self._found:
            # More calls may follow that the detector reads only as a sequence (``;``-joined
            # JSON, a Mistral array): from the first call on, text waits for the end.
            limit = min(limit, self._found[0].span.start)
        regions: list[tuple[int, int]] = []
        position = self._limit
        while position < limit:
            opener = _OPENERS.search(text, position, limit)
            if opener is None:
                break
            start = opener.start()
            if opener.group() != "(":  # may start a call: held until the end
                limit = start
                break
            end = _match(text, start)  # a parenthesis in prose: settled once closed
            if end is None or end > limit:
                limit = start
                break
            regions.append((start, end))
            position = end
        boundary = self._limit
        for found in _BOUNDARY.finditer(text, self._limit, max(limit, self._limit)):
            cut = found.end()
            if not any(begin < cut < end for begin, end in regions):
                boundary = cut
        return boundary
