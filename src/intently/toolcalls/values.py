"""Reading call-shaped values: JSON (strict, Python literals, then repaired), the many JSON
shapes of a call, and Python-style calls parsed with :mod:`ast` (literals only, never run)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAME_KEYS = (
    "name",
    "function",
    "tool",
    "tool_name",
    "function_name",
    "action",
    "recipient_name",
    "api_name",
    "toolName",
)
ARG_KEYS = (
    "arguments",
    "parameters",
    "args",
    "input",
    "tool_input",
    "action_input",
    "params",
    "kwargs",
    "argument",
    "arguments_json",
)
LIST_KEYS = ("tool_calls", "function_calls", "calls", "tool_uses", "actions", "functions")
_IDENTIFIER = re.compile(r"^[A-Za-z_][\w.\-]*$")


@dataclass(frozen=True)
class CallArgs:
    """Arguments of a Python-style call: keywords, and positionals mapped to the schema's
    properties in order once the tool is known."""

    keywords: dict[str, Any]
    positional: tuple[Any, ...] = ()


class Unreadable(ValueError):
    """The text is not a value even after repair."""


def load_value(text: str, *, closed: bool = True) -> tuple[Any, bool]:
    """``(value, repaired)`` from JSON, a Python literal, or (``closed`` only) JSON repaired by
    ``json-repair``. A truncated value (``closed=False``) is never repaired: completing it
    would invent the rest of the call."""
    try:
        return json.loads(text), False
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text), False
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if not closed:
        raise Unreadable(text[:80])
    import json_repair  # lazy: only broken outputs pay for it

    try:
        repaired = json_repair.loads(text)  # reads True/False/None itself, strings untouched
    except (ValueError, RecursionError) as exc:
        raise Unreadable(text[:80]) from exc
    if not isinstance(repaired, dict | list) or not repaired:
        raise Unreadable(text[:80])
    return repaired, True


def calls_in_value(value: Any, tool_names: Sequence[str] = ()) -> Iterator[tuple[str, Any]]:
    """Every ``(name, raw_arguments)`` a parsed value holds, in order.

    Accepts ``{name, arguments|parameters|args|input...}`` (either order), OpenAI's
    ``{"type": "function", "function": {...}}`` and ``{"tool_calls": [...]}``, LangChain's
    ``{"action", "action_input"}``, lists of those, and ``{"<registered name>": {...}}``. A
    tool *definition* (parameters holding a JSON Schema, or a description beside them) is not
    a call.
    """
    if isinstance(value, list):
        for item in value:
            yield from calls_in_value(item, tool_names)
        return
    if not isinstance(value, dict):
        return
    for key in LIST_KEYS:
        if isinstance(value.get(key), list):
            yield from calls_in_value(value[key], tool_names)
            return
    inner = value.get("function_call", value.get("function"))
    if isinstance(inner, dict):
        yield from calls_in_value(inner, tool_names)
        return
    name = next((value[k] for k in NAME_KEYS if isinstance(value.get(k), str)), None)
    if name is not None and (_IDENTIFIER.match(name.strip()) or name in tool_names):
        arg_key = next((k for k in ARG_KEYS if k in value), None)
        if arg_key is not None:
            args = value[arg_key]
            if not _is_definition(value, args):
                yield name.strip(), args
        elif set(value) <= {*NAME_KEYS, "id", "type", "index", "call_id"}:
            yield name.strip(), {}
        return
    if len(value) == 1:
        ((key, args),) = value.items()
        if key in tool_names and isinstance(args, dict):
            yield key, args


def _is_definition(value: Mapping[str, Any], args: Any) -> bool:
    if isinstance(args, dict) and args.get("type") == "object" and "properties" in args:
        return True
    return "description" in value and isinstance(args, dict) and "properties" in args


def python_calls(source: str) -> list[tuple[str, CallArgs]] | None:
    """``[(name, arguments)]`` when ``source`` is only calls (one call, a
    list or tuple of calls, or call statements one a line) with literal arguments; else None.
    ``module.func(...)`` keeps the dotted name."""
    try:
        tree = ast.parse(source.strip(), mode="exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    nodes: list[ast.expr] = []
    for statement in tree.body:
        if not isinstance(statement, ast.Expr):
            return None
        node = statement.value
        # Gemini's tool_code wraps calls in print(...): the call inside is the call.
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "print"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Call)
            and not node.keywords
        ):
            node = node.args[0]
        nodes.extend(node.elts if isinstance(node, ast.List | ast.Tuple) else [node])
    calls = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            return None
        name = _dotted(node.func)
        if name is None:
            return None
        try:
            keywords = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
            positional = [ast.literal_eval(arg) for arg in node.args]
        except (ValueError, SyntaxError, TypeError):
            return None
        if any(kw.arg is None for kw in node.keywords):
            return None  # **kwargs: not a literal call
        calls.append((name, CallArgs(keywords, tuple(positional))))
    return calls or None


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None
