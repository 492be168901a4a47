"""The tools offered to a model, and who is told when they change.

:class:`ToolRegistry` holds :class:`~intently.toolcalls.records.Tool` records by name. Every
change (``add``, ``remove``, ``replace``) notifies the subscribers with one
:class:`RegistryChange` naming the tools added, removed and changed, so a detector can rebuild
its lookup tables and a trained model (the NER detector) can retrain for the new tools. Loading
from the project file and from a JSON file lives here; loading from a live MCP server lives in
:mod:`intently.toolcalls.mcp_source` because it needs the async SDK client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intently.errors import ToolSourceError, ToolSpecError
from intently.toolcalls.records import Tool

if TYPE_CHECKING:
    from intently.spec import Project

ToolLike = Tool | Mapping[str, Any]


@dataclass(frozen=True)
class RegistryChange:
    """One change to a registry: names added, removed, and changed (same name, new content)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    version: int = 0

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


Subscriber = Callable[[RegistryChange], None]


def as_tool(tool: ToolLike, *, where: str = "<tool>") -> Tool:
    return tool if isinstance(tool, Tool) else Tool.from_dict(tool, where=where)


class ToolRegistry:
    """The offered tools, by name; thread-safe, with change events.

    >>> registry = ToolRegistry([{"name": "get_weather", "parameters": {"type": "object"}}])
    >>> registry.names
    ('get_weather',)
    """

    def __init__(self, tools: Iterable[ToolLike] = ()) -> None:
        self._lock = threading.RLock()
        self._tools: dict[str, Tool] = {}
        self._subscribers: list[Subscriber] = []
        self._version = 0
        for index, tool in enumerate(tools):
            record = as_tool(tool, where=f"tools[{index}]")
            if record.name in self._tools:
                raise ToolSpecError(f"tools[{index}]: tool '{record.name}' is listed twice.")
            self._tools[record.name] = record

    # -- reading -----------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """Grows by one with every change; detectors use it to know their tables are stale."""
        return self._version

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    @property
    def tools(self) -> tuple[Tool, ...]:
        return tuple(self._tools.values())

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self._tools)

    # -- changing ----------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(change)`` after every change; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def add(self, *tools: ToolLike) -> RegistryChange:
        """Add tools; a name already present is a change of that tool."""
        return self._apply({t.name: t for t in (as_tool(x) for x in tools)}, remove=())

    def remove(self, *names: str) -> RegistryChange:
        """Remove tools by name (names not present are ignored)."""
        return self._apply({}, remove=names)

    def replace(self, tools: Iterable[ToolLike]) -> RegistryChange:
        """Make the registry hold exactly ``tools`` (e.g. after an MCP ``tools/list_changed``)."""
        new = {t.name: t for t in (as_tool(x) for x in tools)}
        with self._lock:
            gone = tuple(name for name in self._tools if name not in new)
            return self._apply(new, remove=gone)

    def _apply(self, upserts: Mapping[str, Tool], *, remove: Iterable[str]) -> RegistryChange:
        with self._lock:
            removed = tuple(n for n in remove if self._tools.pop(n, None) is not None)
            added: list[str] = []
            changed: list[str] = []
            for name, tool in upserts.items():
                old = self._tools.get(name)
                if old is None:
                    added.append(name)
                elif old != tool:
                    changed.append(name)
                self._tools[name] = tool
            change = RegistryChange(tuple(added), removed, tuple(changed), self._version + 1)
            if not change:
                return RegistryChange(version=self._version)
            self._version += 1
            subscribers = list(self._subscribers)
        for callback in subscribers:  # outside the lock: a subscriber may read the registry
            callback(change)
        return change

    # -- loading -----------------------------------------------------------------------------
    @classmethod
    def from_project(cls, project: Project) -> ToolRegistry:
        """The ``tools:`` section of the project file."""
        return cls(tool.model_dump() for tool in project.tools)

    @classmethod
    def from_file(cls, path: str | Path) -> ToolRegistry:
        """A JSON file: a list of tools, or ``{"tools": [...]}`` (an MCP ``tools/list`` result
        or an OpenAI request body), each in any accepted shape."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ToolSourceError(
                f"cannot read tools file {path}: {exc.strerror or exc}."
            ) from None
        except json.JSONDecodeError as exc:
            raise ToolSourceError(
                f"{path}:{exc.lineno}: the tools file is not JSON ({exc.msg})."
            ) from None
        if isinstance(data, Mapping) and "tools" in data:
            data = data["tools"]
        if not isinstance(data, list):
            raise ToolSourceError(
                f"{path}: expected a list of tools or an object with a 'tools' list.",
                hint='write [{"name": ..., "description": ..., "parameters": {...}}, ...].',
            )
        try:
            return cls(data)
        except ToolSpecError as exc:
            raise ToolSpecError(f"{path}: {exc.message}", hint=exc.hint) from None
