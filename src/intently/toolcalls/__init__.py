"""Tool calls in any model's text: offered tools, detectors, schema-checked arguments.

    from intently.toolcalls import ToolCallDetector, ToolRegistry
    detector = ToolCallDetector(ToolRegistry([{"name": "get_weather", "parameters": {...}}]))
    detector.detect(text)            # -> list[ToolCall], the calls that may be executed
    detector.analyze(text)           # -> Detection: calls, rejected (with problems), content
    stream = detector.stream()       # incremental: stream.feed(chunk) -> newly complete calls

See :mod:`intently.toolcalls.detector` for how the detectors are combined.
"""

from intently.toolcalls.detector import Detection, Detector, ToolCallDetector, remove_calls
from intently.toolcalls.records import Candidate, Span, Tool, ToolCall
from intently.toolcalls.registry import RegistryChange, ToolRegistry
from intently.toolcalls.streaming import StreamingDetector

__all__ = [
    "Candidate",
    "Detection",
    "Detector",
    "RegistryChange",
    "Span",
    "StreamingDetector",
    "Tool",
    "ToolCall",
    "ToolCallDetector",
    "ToolRegistry",
    "remove_calls",
]
