"""Every corpus case through the detector, and through the streaming detector in random
chunks: the same calls, exactly (name and arguments), and the refusals the case names."""

from __future__ import annotations

import json
import random
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from intently.toolcalls import ToolCallDetector
from intently.toolcalls.render import FORMATS

CORPUS = Path(__file__).resolve().parents[1] / "data" / "toolcalls" / "cases.jsonl"
CASES = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
_DETECTORS: dict[str, ToolCallDetector] = {}


def detector_for(case: dict[str, Any]) -> ToolCallDetector:
    key = json.dumps(case["tools"], sort_keys=True)
    if key not in _DETECTORS:
        _DETECTORS[key] = ToolCallDetector(case["tools"])
    return _DETECTORS[key]


def canonical(calls: list[Any]) -> Counter[str]:
    return Counter(json.dumps([c[0], c[1]], sort_keys=True) for c in calls)


def test_corpus_covers_every_format_and_enough_negatives() -> None:
    with_calls = [c for c in CASES if c["expected"]]
    without = [c for c in CASES if not c["expected"]]
    assert len(with_calls) >= 300 and len(without) >= 100
    assert set(FORMATS) <= {c["format"] for c in CASES}
    assert len({c["id"] for c in CASES}) == len(CASES)
    kinds = {c["format"] for c in without}
    assert {
        "mention",
        "fenced_example",
        "hallucinated",
        "explanation",
        "truncated",
        "code_definition",
    } <= kinds


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    result = detector_for(case).analyze(case["output"])
    found = [(c.name, dict(c.arguments)) for c in result.calls]
    assert canonical(found) == canonical([(e["name"], e["arguments"]) for e in case["expected"]])
    for refusal in case.get("rejected", ()):
        assert any(
            r.name == refusal["name"] and any(refusal["problem"] in p for p in r.problems)
            for r in result.rejected
        ), result.rejected


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_streaming_in_random_chunks_gives_the_same_calls(case: dict[str, Any]) -> None:
    detector = detector_for(case)
    text = case["output"]
    rng = random.Random(zlib.crc32(case["id"].encode()))
    stream = detector.stream()
    reported = []
    position = 0
    while position < len(text):
        size = rng.choice([1, 2, 3, 5, 8, 13, 40])
        for call in stream.feed(text[position : position + size]):
            # Reported only once complete: the whole call is already in the text seen so far.
            assert call.span.end <= position + size
            reported.append(call)
        position += size
    reported.extend(stream.finish())
    whole = detector.detect(text)
    assert [(c.name, dict(c.arguments)) for c in reported] == [
        (c.name, dict(c.arguments)) for c in whole
    ]
