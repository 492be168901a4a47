"""Incremental detection: feed chunks of a streamed output, get each call once complete.

A call is reported only when the text already holds ``HOLDBACK`` characters after its end
(or the stream is finished): the aggregator reads a short window after a call (an "is an
example" remark, the closing tag), so a call is reported only once nothing still to come can
change it. A marked block that ends with its closing token, outside any code fence, is
settled sooner, at the end of its line: for those the aggregator reads that line only.
Calls are reported in order of appearance. The calls reported over a whole stream are
exactly those of :meth:`ToolCallDetector.detect` on the full text; the tests replay every
corpus case in random chunks to check it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from intently.toolcalls.aggregate import AFTER_WINDOW
from intently.toolcalls.records import ToolCall

if TYPE_CHECKING:
    from intently.toolcalls.detector import ToolCallDetector

HOLDBACK = AFTER_WINDOW + 16  # the window, plus a closing fence before it
_CLOSERS = frozenset("}])>\n|｜")
_BLOCK_ENDS = (
    "</tool_call>",
    "</tool_calls>",
    "<|call|>",
    "<|tool_call_end|>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁calls▁end｜>",
    "<|tool_calls_section_end|>",
    "</function>",
    "<|python_end|>",
    "<|action_end|>",
    "</invoke>",
    "</minimax:tool_call>",
    "</seed:tool_call>",
    "</function_call>",
    "<|eom_id|>",
)


class StreamingDetector:
    """Feed text chunks with :meth:`feed`; :meth:`finish` when the output ends.

    >>> stream = detector.stream()  # doctest: +SKIP
    >>> for chunk in chunks:
    ...     for call in stream.feed(chunk):
    ...         run(call)
    >>> stream.finish()  # the calls not yet reported
    """

    def __init__(self, detector: ToolCallDetector) -> None:
        self._detector = detector
        self._parts: list[str] = []
        self._length = 0
        self._analyzed_at = 0
        self._reported: list[ToolCall] = []
        self._keys: set[tuple[int, str]] = set()
        self._finished = False

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def calls(self) -> list[ToolCall]:
        """Every call reported so far, in order of appearance."""
        return sorted(self._reported, key=lambda c: c.span.start)

    def feed(self, chunk: str) -> list[ToolCall]:
        """Add ``chunk``; return the calls that became complete with it."""
        if self._finished:
            raise RuntimeError("feed() after finish(): start a new stream")
        self._parts.append(chunk)
        self._length += len(chunk)
        # Analysing again is needed only when something may have closed, or when the holdback
        # window moved past text that was not yet settled.
        if not (_CLOSERS.intersection(chunk) or self._length - self._analyzed_at >= HOLDBACK):
            return []
        return self._report(final=False)

    def finish(self) -> list[ToolCall]:
        """End of the output: return the calls not yet reported."""
        if self._finished:
            return []
        self._finished = True
        return self._report(final=True)

    def _report(self, *, final: bool) -> list[ToolCall]:
        text = "".join(self._parts)
        self._parts = [text]
        self._analyzed_at = len(text)
        settled = len(text) if final else len(text) - HOLDBACK
        new: list[ToolCall] = []
        for call in self._detector.detect(text):
            key = (call.span.start, call.name)
            if key in self._keys:
                continue
            if not (call.span.end <= settled or _closed_block(text, call)):
                break  # calls are reported in order: a later one waits for this one
            self._keys.add(key)
            new.append(call)
        self._reported.extend(new)
        return new


def _closed_block(text: str, call: ToolCall) -> bool:
    """The call is a marked block, closed, outside a code fence, and its line has ended."""
    return (
        text.endswith(_BLOCK_ENDS, 0, call.span.end)
        and "\n" in text[call.span.end :]
        and text.count("```", 0, call.span.start) % 2 == 0
    )
