"""The ``ner`` detector: tool NER entities turned into candidate calls, kept fresh.

:class:`NerDetector` plugs into :class:`~intently.toolcalls.ToolCallDetector` (``plugins=`` or
``add_detector``). For a text it groups the entities into calls: each ``TOOL_NAME`` opens a
call, a ``PARAM_NAME`` names the ``PARAM_VALUE`` after it, and a value with no name goes to
the parameter it fits (an ``enum`` that holds it, then a number, boolean, email or date
parameter whose type it has, then the first string parameter still free, required ones
first); a parameter name right after such a value names it instead ("4 guests"). Entities
before the first tool name belong to the first call ("The city is Oslo. Now call get
weather."). Names are matched in their spoken form (``get weather`` = ``get_weather``);
a tool the model was not trained on with its current definition is never proposed
(:meth:`ToolNer.knows`).

:class:`NerRetrainer` keeps a detector's model trained on a registry's current tools: a change
event starts a retrain in a background thread (changes that arrive meanwhile are folded into
one more run), the finished model is versioned (when a models root is given) and swapped in.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from intently.toolcalls.ner import (
    NerSettings,
    ToolNer,
    save_tool_ner,
    train_tool_ner,
)
from intently.toolcalls.ner_data import PARAM_NAME, PARAM_VALUE, TOOL_NAME, spoken
from intently.toolcalls.records import Candidate, Span, Tool
from intently.toolcalls.registry import RegistryChange, ToolRegistry

log = logging.getLogger(__name__)

CALL_SCORE, PARTIAL_SCORE = 0.75, 0.6
"""Candidate scores: every required parameter found, or not (the aggregator calibrates)."""

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _fits(value: str, schema: Mapping[str, Any]) -> bool:
    """Whether ``value`` has the type ``schema`` asks for (strings fit only plain strings)."""
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return bool(_NUMBER.fullmatch(value))
    if kind == "boolean":
        return value.lower() in ("true", "false", "yes", "no")
    if schema.get("format") == "email":
        return "@" in value
    if schema.get("format") == "date":
        return bool(_DATE.fullmatch(value))
    return kind in (None, "string")


def _slot_for(value: str, tool: Tool, taken: set[str]) -> str | None:
    free = [name for name in tool.properties if name not in taken]
    free.sort(key=lambda name: name not in tool.required)  # required ones first
    schemas = {name: tool.properties[name] for name in free}
    for name in free:
        if value.casefold() in [str(v).casefold() for v in schemas[name].get("enum") or ()]:
            return name
    for name in free:
        schema = schemas[name]
        typed = schema.get("type") not in (None, "string") or schema.get("format")
        if typed and not schema.get("enum") and _fits(value, schema):
            return name
    for name in free:
        schema = schemas[name]
        if not schema.get("enum") and not schema.get("format") and _fits(value, schema):
            return name
    return None


class NerDetector:
    """Candidate calls from the tool NER model; proposes nothing until a model is set."""

    name = "ner"

    def __init__(self, model: ToolNer | None = None) -> None:
        self.model = model

    def swap(self, model: ToolNer) -> None:
        """Serve ``model`` from the next detection on (an atomic reference assignment)."""
        self.model = model

    def candidates(self, text: str, registry: ToolRegistry) -> list[Candidate]:
        model = self.model
        if model is None or not text.strip():
            return []
        known = {spoken(t.name): t for t in registry.tools if model.knows(t)}
        if not known:
            return []
        groups: list[dict[str, Any]] = []
        leading: list[tuple[int, int, str, str]] = []
        for start, end, label in model.entities(text):
            piece = (start, end, label, text[start:end])
            if label == TOOL_NAME:
                groups.append({"tool": known.get(spoken(piece[3])), "pieces": [piece]})
            elif groups:
                groups[-1]["pieces"].append(piece)
            else:
                leading.append(piece)
        if groups:
            groups[0]["pieces"][:0] = leading
        return [self._candidate(group, text) for group in groups if group["tool"]]

    def _candidate(self, group: Mapping[str, Any], text: str) -> Candidate:
        tool: Tool = group["tool"]
        by_spoken = {spoken(name): name for name in tool.properties}
        arguments: dict[str, str] = {}
        pending: str | None = None
        guessed: tuple[str, str, int] | None = None  # (slot, value, end) of a value without name
        for start, end, label, surface in group["pieces"]:
            if label == PARAM_NAME:
                pending = by_spoken.get(spoken(surface))
                if guessed and pending and not text[guessed[2] : start].strip():  # "4 guests"
                    arguments.pop(guessed[0], None)
                    arguments[pending] = guessed[1]
                    pending = None
                guessed = None
            elif label == PARAM_VALUE:
                slot = pending if pending and pending not in arguments else None
                guessed = None
                if slot is None:
                    slot = _slot_for(surface, tool, set(arguments))
                    if slot is not None:
                        guessed = (slot, surface, end)
                if slot is not None:
                    arguments[slot] = surface
                pending = None
        pieces = group["pieces"]
        complete = all(name in arguments for name in tool.required)
        return Candidate(
            name=tool.name,
            raw_arguments=arguments,
            score=CALL_SCORE if complete else PARTIAL_SCORE,
            span=Span(min(p[0] for p in pieces), max(p[1] for p in pieces)),
            detector=self.name,
            context="phrase",
            format="ner",
        )


class NerRetrainer:
    """Retrain ``detector``'s model in the background whenever ``registry`` changes.

    Example (not run: it trains)::

        retrainer = NerRetrainer(registry, detector, models_root=Path("models")).start()
        registry.add(new_tool)   # a retrain starts; the old model keeps serving
        retrainer.wait()         # the new model is swapped in
    """

    def __init__(
        self,
        registry: ToolRegistry,
        detector: NerDetector,
        *,
        models_root: Path | None = None,
        settings: NerSettings | None = None,
        train: Callable[[list[Tool], NerSettings], ToolNer] = train_tool_ner,
    ) -> None:
        self.registry = registry
        self.detector = detector
        self.models_root = models_root
        self.settings = settings or NerSettings()
        self._train = train
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = False
        self._unsubscribe: Callable[[], None] | None = None
        self.last_error: BaseException | None = None
        self.trained = 0

    def start(self) -> NerRetrainer:
        """Subscribe to the registry; train now unless the model knows every tool as it is."""
        self._unsubscribe = self.registry.subscribe(self._on_change)
        model = self.detector.model
        if model is None or not all(model.knows(t) for t in self.registry.tools):
            self.trigger()
        return self

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_change(self, change: RegistryChange) -> None:
        if change:
            self.trigger()

    def trigger(self) -> None:
        """Ask for a retrain on the registry's tools as they are when it starts."""
        with self._lock:
            self._pending = True
            if not self._idle.is_set():
                return  # the running worker picks it up when it finishes
            self._idle.clear()
        threading.Thread(target=self._work, name="tool-ner-retrain", daemon=True).start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no retrain is running or pending; False on timeout."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._idle.set()
                    return
                self._pending = False
            tools = list(self.registry.tools)
            if not tools:  # nothing to learn; the current model proposes nothing it does not know
                continue
            try:
                model = self._train(tools, self.settings)
                if self.models_root is not None:
                    model = save_tool_ner(model, self.models_root)
            except Exception as exc:  # the old model keeps serving; the error is kept
                log.exception("tool NER retraining failed; the previous model keeps serving")
                self.last_error = exc
                continue
            self.detector.swap(model)
            self.trained += 1
            self.last_error = None
