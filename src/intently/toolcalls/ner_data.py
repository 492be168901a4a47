"""Training sentences for the tool NER model, generated from the offered tools.

Each sentence mentions one tool and some of its arguments, and marks three entity types:
``TOOL_NAME`` (the tool's name as written, ``get_weather``, or spoken, ``get weather``),
``PARAM_NAME`` (a parameter's name, written or spoken) and ``PARAM_VALUE`` (its value). Three
families of templates, as the issue asks:

* direct calls: "call get_weather with city=Paris", "run the get weather tool, unit: celsius";
* natural-language requests: "can you get weather for Paris in celsius?" (values without
  their parameter names);
* parameter statements: "use get_weather. The city is Paris."

Values come from the JSON Schema: ``enum`` members, ``examples``, ``default``, then
type-appropriate ones (integers within ``minimum``/``maximum``, booleans, dates for
``format: date``, emails, and for plain strings a pool chosen by the parameter's name:
cities for ``city``/``location``, names for ``name``/``person``, otherwise short phrases).
Generation is deterministic given the seed, and pure: the tools are only read.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intently.toolcalls.records import Tool

TOOL_NAME, PARAM_NAME, PARAM_VALUE = "TOOL_NAME", "PARAM_NAME", "PARAM_VALUE"
LABELS = (TOOL_NAME, PARAM_NAME, PARAM_VALUE)

_CITIES = (
    "Paris", "Oslo", "Tokyo", "New York", "Berlin", "Lima", "Cairo", "Sydney", "Rome", "Seoul",
    "Buenos Aires", "Toronto", "Accra", "Hanoi", "San Francisco", "Kraków",
)  # fmt: skip
_NAMES = ("Alice", "Bob", "Maria Lopez", "Chen Wei", "Fatima", "John Smith", "Priya", "Ana")
_WORDS = ("alpha", "delta", "orange", "summit", "harbor", "violet", "ember", "granite", "42b")
# Free-text values are drawn as 1-4 word phrases, so the model learns where a multi-word value
# ends rather than a fixed list.
_ADJECTIVES = ("cheap", "new", "best", "quarterly", "red", "late", "open", "weekly", "local")
_NOUNS = (
    "report", "shoes", "meeting notes", "flights", "recipes", "budget", "invoice", "tutorial",
    "deadline", "hotels", "release notes", "football scores", "pizza", "team", "wine",
)  # fmt: skip
_LINKS = ("for", "to", "in", "about", "with", "near")
_FREE_TEXT = ("query", "text", "topic", "title", "subject", "message", "keyword", "search")
_POOLS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("city", "location", "place", "destination", "origin", "town"), _CITIES),
    (("name", "person", "user", "contact", "recipient", "author"), _NAMES),
)
_FILLERS = (("", ""), ("hey, ", ""), ("ok so ", ""), ("hi! ", " thanks"), ("", " please"),
            ("quick one: ", ""), ("", "!"), ("", " asap"))  # fmt: skip


def phrase(rng: random.Random) -> str:
    """A free-text value of one to four words."""
    shape = rng.randrange(4)
    if shape == 0:
        return rng.choice(_NOUNS)
    if shape == 1:
        return f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    place = rng.choice((rng.choice(_NOUNS), rng.choice(_CITIES)))
    if shape == 2:
        return f"{rng.choice(_NOUNS)} {rng.choice(_LINKS)} {place}"
    return f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} {rng.choice(_LINKS)} {place}"


# Templates: {tool} the tool, {args} "p=v" pairs, {pairs} "p v" pairs, {values} bare values.
_DIRECT = (
    "call {tool} with {args}",
    "run {tool} with {args}",
    "use the {tool} tool with {args}",
    "please invoke {tool} using {args}",
    "I'll call {tool}: {colon}",
    "execute {tool} {args}",
    "Let me use {tool} with {pairs}",
    "call the {tool} function, {colon}",
)
_REQUEST = (
    "can you {tool} for {values}?",
    "please {tool} {values}",
    "I need you to {tool} with {values}",
    "{tool} {values}",
    "could you {tool} for {values} now",
    "I'd like to {tool} for {values}, thanks",
    "for {values}, {tool}",
    "{tool}: {values}",
)
_STATEMENT = (
    "use {tool}. {statements}",
    "I want to run {tool}. {statements}",
    "{statements} Now call {tool}.",
)
_STATEMENT_PARTS = ("The {name} is {value}.", "Set {name} to {value}.", "{name} should be {value}.")


@dataclass(frozen=True)
class NerExample:
    """One generated sentence: its text, its entities ``(start, end, label)`` and the call it
    states (the tool and the arguments as written)."""

    text: str
    entities: tuple[tuple[int, int, str], ...]
    tool: str
    arguments: tuple[tuple[str, str], ...]
    family: str


def spoken(name: str) -> str:
    """``get_weather`` / ``getWeather`` → ``get weather``."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ")
    return " ".join(words.lower().split())


def _pool(name: str, rng: random.Random) -> tuple[str, ...]:
    lowered = name.lower()
    for keys, values in _POOLS:
        if any(key in lowered for key in keys):
            return values
    if any(key in lowered for key in _FREE_TEXT):
        return tuple(phrase(rng) for _ in range(24))
    return _WORDS


def values_for(name: str, schema: Mapping[str, Any], rng: random.Random) -> list[str]:
    """Candidate values (as text) for the parameter ``name`` with JSON Schema ``schema``."""
    declared = [
        *(schema.get("enum") or ()),
        *(schema.get("examples") or ()),
        *([schema["default"]] if "default" in schema else []),
    ]
    if declared:
        return [str(v).lower() if isinstance(v, bool) else str(v) for v in declared]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind in ("integer", "number"):
        low = int(schema.get("minimum", 1))
        high = int(schema.get("maximum", max(low + 1, 500)))
        ints = [str(rng.randint(low, high)) for _ in range(6)]
        return (
            ints
            if kind == "integer"
            else [*ints[:3], *(f"{rng.uniform(low, high):.1f}" for _ in range(3))]
        )
    if kind == "boolean":
        return ["true", "false"]
    fmt = schema.get("format")
    if fmt == "date":
        return [f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" for _ in range(4)]
    if fmt == "email":
        return ["alice@example.com", "bob.smith@example.org", "team@intently.dev"]
    return list(_pool(name, rng))


def _is_flag(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "boolean"


class _Builder:
    """Assembles a sentence piece by piece, recording entity offsets as it goes."""

    def __init__(self) -> None:
        self.text = ""
        self.entities: list[tuple[int, int, str]] = []

    def add(self, piece: str, label: str | None = None) -> None:
        if label is not None:
            self.entities.append((len(self.text), len(self.text) + len(piece), label))
        self.text += piece


def _render(
    template: str,
    tool_text: str,
    pairs: Sequence[tuple[str, str]],
    rng: random.Random,
) -> tuple[str, list[tuple[int, int, str]]]:
    builder = _Builder()
    for literal, field in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
        builder.add(literal)
        if field == "tool":
            builder.add(tool_text, TOOL_NAME)
        elif field in ("args", "colon", "pairs"):
            joiner = {"args": "=", "colon": ": ", "pairs": " "}[field]
            for index, (name, value) in enumerate(pairs):
                if index:
                    builder.add(rng.choice((", ", " and ", " ")) if field != "args" else ", ")
                builder.add(name if field != "pairs" else spoken(name), PARAM_NAME)
                builder.add(joiner)
                builder.add(value, PARAM_VALUE)
        elif field == "values":
            for index, (_name, value) in enumerate(pairs):
                if index:
                    builder.add(rng.choice((" and ", " in ", ", ")))
                builder.add(value, PARAM_VALUE)
        elif field == "statements":
            for index, (name, value) in enumerate(pairs):
                if index:
                    builder.add(" ")
                part = rng.choice(_STATEMENT_PARTS)
                head, rest = part.split("{name}")
                middle, tail = rest.split("{value}")
                builder.add(head)
                builder.add(spoken(name), PARAM_NAME)
                builder.add(middle)
                builder.add(value, PARAM_VALUE)
                builder.add(tail)
    text = builder.text
    if text and text[0].islower() and rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    return text, builder.entities


def generate_examples(
    tools: Sequence[Tool], *, per_tool: int = 60, seed: int = 13
) -> list[NerExample]:
    """``per_tool`` sentences for each tool, spread over the three template families."""
    rng = random.Random(seed)
    examples: list[NerExample] = []
    for tool in tools:
        properties = {
            name: schema for name, schema in tool.properties.items() if isinstance(schema, Mapping)
        }
        pools = {name: values_for(name, schema, rng) for name, schema in properties.items()}
        required = [name for name in tool.required if name in properties]
        for index in range(per_tool):
            family = ("direct", "request", "statement")[index % 3]
            chosen = list(required)
            optional = [name for name in properties if name not in chosen]
            rng.shuffle(optional)
            chosen += optional[: rng.randint(0, len(optional))]
            if not chosen and properties and rng.random() < 0.5:
                chosen = [rng.choice(list(properties))]
            if family == "request" and any(_is_flag(properties[n]) for n in required):
                family = "direct"  # "get weather for true" says nothing; name the flag
            if family == "request":  # bare values: a flag's "true" would be meaningless
                chosen = [name for name in chosen if not _is_flag(properties[name])]
            pairs = [(name, rng.choice(pools[name])) for name in chosen if pools[name]]
            templates = {"direct": _DIRECT, "request": _REQUEST, "statement": _STATEMENT}[family]
            if not pairs:  # a tool without parameters: "call X" only
                templates = ("call {tool}", "please run {tool}", "use the {tool} tool now")
            written = tool.name if family == "direct" and rng.random() < 0.6 else spoken(tool.name)
            text, entities = _render(rng.choice(templates), written, pairs, rng)
            before, after = rng.choice(_FILLERS)
            entities = [
                (start + len(before), end + len(before), lab) for start, end, lab in entities
            ]
            text = before + text + after
            examples.append(NerExample(text, tuple(entities), tool.name, tuple(pairs), family))
    rng.shuffle(examples)
    return examples
