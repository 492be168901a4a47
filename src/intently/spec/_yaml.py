"""YAML/JSON loading that remembers the line of every key and list item.

Anchors and aliases are allowed, within limits: an alias is the same node as its anchor, so
eight lines of nested aliases (a "billion laughs") stand for 9**8 values. Building those took
8 minutes and 9.8 GB before the composer learnt to count what aliases expand to; it now refuses
the file at the first alias past :data:`MAX_ALIAS_NODES`, before any value is built.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from intently.errors import Location, SpecError

KeyPath = tuple[str | int, ...]

_BOOL_TAG = "tag:yaml.org,2002:bool"
_SURROGATE = re.compile("[\ud800-\udfff]")

MAX_ALIAS_NODES = 10_000
"""Nodes that all aliases of one file may expand to; a few shared lists or mappings fit."""
MAX_DEPTH = 100
"""Nesting levels; a project file uses under ten, and Python's recursion limit is near 300."""


class _Refused(Exception):
    """A structural limit was hit while composing; ``load_with_lines`` adds the file."""

    def __init__(self, message: str, line: int, hint: str):
        super().__init__(message)
        self.message, self.line, self.hint = message, line, hint


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer bounds nesting depth and what aliases expand to."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0
        self._sizes: dict[int, int] = {}  # id(node) -> expanded node count; nodes stay alive

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._count_alias(event, target)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                f"the file nests more than {MAX_DEPTH} levels deep.",
                self.peek_event().start_mark.line + 1,
                "a project file needs only a few levels; flatten the structure.",
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _count_alias(self, event: yaml.AliasEvent, target: yaml.Node) -> None:
        line = event.start_mark.line + 1
        if isinstance(target, yaml.CollectionNode) and target.end_mark is None:
            raise _Refused(
                f"alias '*{event.anchor}' refers to the collection that contains it.",
                line,
                "a value cannot include itself; write the values out.",
            )
        self._expanded += self._size(target)
        if self._expanded > MAX_ALIAS_NODES:
            raise _Refused(
                f"aliases expand to more than {MAX_ALIAS_NODES:,} values (at '*{event.anchor}'); "
                "nested anchors and aliases like these can make a small file huge.",
                line,
                "write the values out, or alias only a few small lists or mappings.",
            )

    def _size(self, node: yaml.Node) -> int:
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._size(item) for item in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return size


def load_with_lines(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse a YAML (or JSON) file into plain Python data plus a ``path -> line`` map.

    Lines are 1-based. JSON is parsed by the same YAML loader, so its errors carry lines too.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            "project file not found.",
            where=Location(path),
            hint="run `intently init NAME` to scaffold one, or pass --project PATH.",
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"the file is not UTF-8 text ({exc.reason}).", where=Location(path)
        ) from None
    if path.suffix.lower() == ".json":
        # Valid JSON has tabs only between tokens, where YAML refuses them: make them spaces.
        text = text.replace("\t", " ")
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except _Refused as exc:
        raise SpecError(exc.message, where=Location(path, exc.line), hint=exc.hint) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "unparseable YAML"
        raise SpecError(
            f"malformed YAML: {problem}.",
            where=Location(path, line),
            hint="check indentation and quoting on that line (a ':' inside a value needs quotes).",
        ) from None
    lines: dict[KeyPath, int] = {}
    if root is None:
        return None, lines
    try:
        return _build(root, (), lines, path, yaml.constructor.SafeConstructor()), lines
    except yaml.MarkedYAMLError as exc:  # e.g. a merge key (<<) or a custom !tag
        mark = exc.problem_mark or exc.context_mark
        raise SpecError(
            f"unsupported YAML: {exc.problem or exc.context}.",
            where=Location(path, mark.line + 1 if mark is not None else None),
            hint="write the values out in full: merge keys (<<) and custom tags are not supported.",
        ) from None


def _build(
    node: yaml.Node,
    here: KeyPath,
    lines: dict[KeyPath, int],
    path: Path,
    scalars: yaml.constructor.SafeConstructor,
) -> Any:
    lines[here] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_scalar(key_node, scalars, here))
            if key in out:
                raise SpecError(
                    f"duplicate key '{key}'.",
                    where=Location(path, key_node.start_mark.line + 1, _dotted((*here, key))),
                    hint="remove one of the two entries.",
                )
            out[key] = _build(value_node, (*here, key), lines, path, scalars)
            lines[(*here, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*here, i), lines, path, scalars) for i, item in enumerate(node.value)]
    return _scalar(node, scalars, here)


def _scalar(node: yaml.Node, scalars: yaml.constructor.SafeConstructor, here: KeyPath) -> Any:
    # YAML 1.1 reads plain yes/no/on/off as booleans, but the schema has no boolean field: there
    # they are texts ("no" is a fine deny example), as in YAML 1.2. Backend params keep YAML 1.1.
    if (
        node.tag == _BOOL_TAG
        and node.style is None
        and node.value.lower() not in ("true", "false")
        and not _in_params(here)
    ):
        return node.value
    value = scalars.construct_object(node, deep=True)
    if isinstance(value, str) and _SURROGATE.search(value):
        # "\ud83d\ude00" escapes (JSON's default for emoji) decode to surrogate halves: join them.
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    return value


def _in_params(here: KeyPath) -> bool:
    """Inside a free-form ``training: params:`` mapping (passed to a backend as is)."""
    return any(a == "training" and b == "params" for a, b in pairwise(here))


def _dotted(key_path: KeyPath) -> str:
    text = ""
    for part in key_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def locate(path: Path, lines: dict[KeyPath, int], key_path: KeyPath) -> Location:
    """The location of the deepest known prefix of ``key_path``."""
    probe = tuple(key_path)
    while probe and probe not in lines:
        probe = probe[:-1]
    return Location(path, lines.get(probe), _dotted(tuple(key_path)) or None)
