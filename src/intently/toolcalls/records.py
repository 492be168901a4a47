"""The records of tool calling: an offered :class:`Tool`, a detected :class:`ToolCall`.

A tool is accepted in the three shapes callers already hold: the plain
``{"name", "description", "parameters"}``, MCP's ``{"name", "description", "inputSchema"}``
and OpenAI's ``{"type": "function", "function": {...}}``. Every record is frozen, so a call can
be handed to another thread or cached without copying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from intently.errors import ToolSpecError

EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Tool:
    """One offered tool: ``parameters`` is the JSON Schema of its arguments object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: dict(EMPTY_SCHEMA))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "<tool>") -> Tool:
        """A tool from the plain, MCP (``inputSchema``) or OpenAI (``function``) shape."""
        if not isinstance(data, Mapping):
            raise ToolSpecError(f"{where}: a tool must be an object, got {type(data).__name__}.")
        if data.get("type") == "function" and isinstance(data.get("function"), Mapping):
            data = data["function"]
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ToolSpecError(
                f"{where}: a tool needs a non-empty string 'name'.",
                hint="write {name, description, parameters} (or MCP inputSchema, or OpenAI "
                '{"type": "function", "function": {...}}).',
            )
        schema = data.get("parameters", data.get("inputSchema", data.get("input_schema")))
        if schema is None:
            schema = dict(EMPTY_SCHEMA)
        if not isinstance(schema, Mapping):
            raise ToolSpecError(
                f"{where}: the parameters of tool '{name}' must be a JSON Schema object."
            )
        description = data.get("description") or ""
        return cls(name=name.strip(), description=str(description), parameters=dict(schema))

    @property
    def properties(self) -> Mapping[str, Any]:
        props = self.parameters.get("properties")
        return props if isinstance(props, Mapping) else {}

    @property
    def required(self) -> tuple[str, ...]:
        req = self.parameters.get("required")
        return tuple(r for r in req if isinstance(r, str)) if isinstance(req, list | tuple) else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
        }

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {"type": "function", "function": self.to_dict()}


@dataclass(frozen=True)
class Span:
    """Character offsets ``[start, end)`` of the text a call was read from."""

    start: int
    end: int


@dataclass(frozen=True)
class ToolCall:
    """A call found in a model's output.

    ``problems`` is empty for a call that may be executed; otherwise each entry is a sentence
    that says why it was refused (``unknown_tool: ...``, ``missing required parameter ...``),
    written to be sent back to the model as is.
    """

    name: str
    arguments: Mapping[str, Any]
    confidence: float
    span: Span
    detector: str
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": dict(self.arguments),
            "confidence": round(self.confidence, 4),
            "span": [self.span.start, self.span.end],
            "detector": self.detector,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Candidate:
    """What one detector proposes before the aggregator decides.

    ``raw_arguments`` is what the text held (an object, a JSON string, a list of pairs);
    ``context`` names where it was found (``tagged`` inside a tool-call marker, ``fenced`` in a
    code fence, ``bare`` in prose), which the aggregator uses to tell a call from an example.
    """

    name: str
    raw_arguments: Any
    score: float
    span: Span
    detector: str
    context: str = "tagged"
    format: str = ""
    truncated: bool = False
    repaired: bool = False
