"""Streamed content over the whole tool-call corpus: every case replayed in random chunks gives
the same calls and, assembled, the same content as the non-streaming path; no content piece
ever carries a call."""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path
from typing import Any

import pytest

from intently.proxy.stream_text import ContentStream
from intently.toolcalls import ToolCallDetector, remove_calls

CORPUS = Path(__file__).resolve().parents[1] / "data" / "toolcalls" / "cases.jsonl"
CASES = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def _replay(detector: ToolCallDetector, text: str, seed: int) -> tuple[str, list[Any], int]:
    rng = random.Random(seed)
    stream = ContentStream(detector.stream(), remove_calls)
    content, calls, pieces, position = "", [], 0, 0
    while position < len(text):
        size = rng.choice([1, 2, 3, 5, 8, 13, 40])
        for piece in stream.feed(text[position : position + size]):
            if isinstance(piece, str):
                content, pieces = content + piece, pieces + 1
            else:
                calls.append(piece)
        position += size
    for piece in stream.finish():
        if isinstance(piece, str):
            content += piece
        else:
            calls.append(piece)
    return content, calls, pieces


def test_every_corpus_case_streams_like_the_whole_answer() -> None:
    detectors: dict[str, ToolCallDetector] = {}
    early = 0
    for case in CASES:
        key = json.dumps(case["tools"], sort_keys=True)
        detector = detectors.setdefault(key, ToolCallDetector(case["tools"]))
        text = case["output"]
        whole = detector.analyze(text)
        content, calls, pieces = _replay(detector, text, zlib.crc32(case["id"].encode()))
        assert [(c.name, dict(c.arguments)) for c in calls] == [
            (c.name, dict(c.arguments)) for c in whole.calls
        ], case["id"]
        assert content == (whole.content if whole.calls else text), case["id"]
        early += pieces > 0
    assert early > len(CASES) // 4  # content streams before the end, not only at finish


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ('Sure. get_weather(city="Paris") is what I will run', "get_weather"),
        ("Thought: I need the weather for this one.\nAction: get_weather\nAction Input:", "Action"),
        ("Working on it now, please wait a moment. <tool_call>" + '{"name": "get_wea', "<tool"),
    ],
)
def test_text_that_may_become_a_call_is_held_back(text: str, held: str) -> None:
    detector = ToolCallDetector([{"name": "get_weather"}])
    stream = ContentStream(detector.stream(), remove_calls)
    sent = "".join(p for p in stream.feed(text + " " * 100) if isinstance(p, str))
    assert held not in sent
