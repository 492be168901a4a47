"""Arguments: parsed, repaired, coerced to the schema's types, defaulted and validated.

Order matters: the raw value is read (JSON, Python literal, then ``json-repair`` when the
call is closed), positional values of a Python-style call are given the schema's property
names in order, each value is coerced to its declared type only where the conversion is
lossless (``"5"`` → 5 for an integer, ``"true"`` → True, a JSON-encoded list → the list,
``"CELSIUS"`` → ``"celsius"`` for an enum), missing properties with a ``default`` get it, and
``jsonschema`` checks the result. Every problem is a sentence meant for the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from intently.toolcalls.records import Tool
from intently.toolcalls.values import CallArgs, Unreadable, load_value

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


@dataclass(frozen=True)
class Checked:
    """The arguments as they will be sent, the problems, and whether they were repaired or
    coerced (each lowers the confidence a little)."""

    arguments: dict[str, Any]
    problems: tuple[str, ...] = ()
    repaired: bool = False
    coerced: bool = False


def read_arguments(raw: Any, tool: Tool | None) -> tuple[dict[str, Any] | None, bool, str | None]:
    """``(arguments, repaired, problem)`` from what the text held."""
    repaired = False
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return {}, False, None
        try:
            raw, repaired = load_value(text, closed=True)
        except Unreadable:
            return None, False, f"the arguments are not valid JSON: {text[:60]!r}"
        if isinstance(raw, str):  # doubly encoded
            return read_arguments(raw, tool)
    if isinstance(raw, CallArgs):
        if tool is not None and not raw.keywords and len(raw.positional) == 1:
            pairs = _pairs(raw.positional[0], tool)
            if pairs:
                return pairs, False, None
        args = dict(raw.keywords)
        if raw.positional:
            names = [n for n in (tool.properties if tool else {}) if n not in args]
            if len(raw.positional) > len(names):
                return (
                    None,
                    False,
                    (
                        f"{len(raw.positional)} positional argument(s) but the tool has "
                        f"{len(names)} unnamed parameter(s) left; pass arguments by name"
                    ),
                )
            args.update(zip(names, raw.positional, strict=False))
        return args, repaired, None
    if raw is None:
        return {}, False, None
    if not isinstance(raw, Mapping):
        return None, False, f"the arguments must be an object, got {type(raw).__name__}"
    return dict(raw), repaired, None


_PAIR = re.compile(r"\s*([A-Za-z_][\w\-]*)\s*[=:]\s*(\"[^\"]*\"|'[^']*'|[^,;&\n]*)\s*[,;&]?")


def _pairs(value: Any, tool: Tool) -> dict[str, Any] | None:
    """``city=Paris, unit=celsius`` (a ReAct input written as pairs) when every key is one
    of the tool's parameters."""
    if not isinstance(value, str) or ("=" not in value and ":" not in value):
        return None
    out: dict[str, Any] = {}
    position = 0
    while position < len(value):
        match = _PAIR.match(value, position)
        if match is None or match.group(1) not in tool.properties or match.end() == position:
            return None
        raw = match.group(2).strip()
        out[match.group(1)] = raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] in "\"'" else raw
        position = match.end()
    return out or None


def check_arguments(raw: Any, tool: Tool | None, *, defaults: bool = True) -> Checked:
    """Read, coerce, default and validate; ``tool`` None means there is no schema."""
    args, repaired, problem = read_arguments(raw, tool)
    if args is None:
        return Checked({}, (problem or "unreadable arguments",))
    if tool is None:
        return Checked(args, repaired=repaired)
    # The model is judged on what it wrote; defaults are filled in afterwards (a schema whose
    # default breaks its own enum is the schema's problem, not the call's).
    written, coerced = coerce(args, tool.parameters, defaults=False)
    problems = tuple(_problems(written, tool))
    final = coerce(written, tool.parameters)[0] if defaults else written
    return Checked(final, problems, repaired=repaired, coerced=coerced)


def coerce(value: Any, schema: Mapping[str, Any], *, defaults: bool = True) -> tuple[Any, bool]:
    """``value`` converted to ``schema``'s type where lossless, with defaults filled in
    (``defaults``); returns ``(new value, changed)``. The input is never mutated."""
    if not isinstance(schema, Mapping):
        return value, False
    types = schema.get("type")
    wanted = [types] if isinstance(types, str) else list(types) if isinstance(types, list) else []
    changed = False
    if wanted and not any(_is(value, t) for t in wanted):
        for kind in wanted:
            converted = _convert(value, kind)
            if converted is not _NO:
                value, changed = converted, True
                break
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum and isinstance(value, str):
        matches = [e for e in enum if isinstance(e, str) and e.lower() == value.strip().lower()]
        if len(matches) == 1:
            value, changed = matches[0], True
    if isinstance(value, dict):
        props = schema.get("properties")
        if isinstance(props, Mapping):
            out = {}
            for key, item in value.items():
                sub = props.get(key)
                out[key], sub_changed = (
                    coerce(item, sub, defaults=defaults)
                    if isinstance(sub, Mapping)
                    else (item, False)
                )
                changed = changed or sub_changed
            for key, sub in props.items():
                # A null default means "absent" in most schemas (and BFCL's): not filled in.
                if (
                    defaults
                    and key not in out
                    and isinstance(sub, Mapping)
                    and sub.get("default") is not None
                ):
                    out[key] = sub["default"]
            value = out
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        items = [coerce(item, schema["items"], defaults=defaults) for item in value]
        changed = changed or any(c for _, c in items)
        value = [v for v, _ in items]
    return value, changed


_NO = object()


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(
        value,
        {"string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}.get(
            kind, object
        ),
    )


def _convert(value: Any, kind: str) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if kind == "integer" and _INT.match(text):
            return int(text)
        if kind == "number" and _FLOAT.match(text):
            number = float(text)
            return int(number) if _INT.match(text) else number
        if kind == "boolean" and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        if kind == "null" and text.lower() in ("null", "none"):
            return None
        if kind in ("array", "object") and text[:1] in "[{":
            try:
                parsed, _ = load_value(text, closed=True)
            except Unreadable:
                return _NO
            return parsed if _is(parsed, kind) else _NO
        if kind == "array" and text:
            return [text]
        return _NO
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"  # an enum of "True"/"False" is matched next
    if kind == "string" and isinstance(value, int | float):
        return str(value)
    if kind == "array" and isinstance(value, tuple):
        return list(value)
    return _NO


_VALIDATORS: dict[str, Draft202012Validator | None] = {}


def _validator(tool: Tool) -> Draft202012Validator | None:
    key = json.dumps(tool.parameters, sort_keys=True, default=str)
    if key not in _VALIDATORS:
        try:
            Draft202012Validator.check_schema(tool.parameters)
            _VALIDATORS[key] = Draft202012Validator(tool.parameters)
        except SchemaError:
            _VALIDATORS[key] = None  # a schema we cannot use checks nothing
        if len(_VALIDATORS) > 4096:
            _VALIDATORS.pop(next(iter(_VALIDATORS)))
    return _VALIDATORS[key]


def _problems(args: dict[str, Any], tool: Tool) -> list[str]:
    validator = _validator(tool)
    if validator is None:
        return []
    problems = []
    for error in sorted(validator.iter_errors(args), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            prefix = f"{where}." if where else ""
            problems.append(f"missing required parameter '{prefix}{missing}' of tool '{tool.name}'")
        elif error.validator == "type":
            problems.append(
                f"parameter '{where}' of tool '{tool.name}' must be of type "
                f"{error.validator_value}, got {error.instance!r}"
            )
        elif error.validator == "enum":
            problems.append(
                f"parameter '{where}' of tool '{tool.name}' must be one of "
                f"{error.validator_value}, got {error.instance!r}"
            )
        elif error.validator == "additionalProperties":
            problems.append(
                f"tool '{tool.name}' has no parameter(s) "
                f"{sorted(set(error.instance) - set(tool.properties))}; it takes "
                f"{sorted(tool.properties)}"
            )
        else:
            problems.append(
                f"parameter '{where or '(arguments)'}' of tool '{tool.name}': {error.message}"
            )
    return problems
