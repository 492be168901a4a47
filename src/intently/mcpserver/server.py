"""The Intently MCP server: classify, detect tool calls, train, list and deploy over MCP.

Built on the official SDK (``mcp`` 2.3: ``mcp.server.mcpserver.MCPServer``). Every tool is a
thin shell over the library, like a CLI command: it reads the project file as it is now (so a
``train_model`` after an edit sees the edit), calls one library function and returns a plain
dict, which the SDK sends as ``structured_content`` (the tools are typed ``-> dict[str, Any]``)
next to a JSON text block. The tools are synchronous; the SDK runs them in its thread pool, so
a training run does not block other requests on the HTTP transport.

An ``IntentlyError`` becomes the SDK's ``ToolError``: the client receives ``is_error`` and the
error's message (code, what failed, how to fix it), never a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from intently.errors import IntentlyError, ModelError
from intently.spec import DEFAULT_TASK

if TYPE_CHECKING:
    from intently.runtime import Classifier
    from intently.spec import Project
    from intently.toolcalls.ner import ToolNer

SERVER_NAME = "intently"
INSTRUCTIONS = (
    "Intently classifies user texts into the intents of a project and finds tool calls in the "
    "text a language model wrote. classify_intent answers with the deployed model of a task; "
    "train_model trains, evaluates and (by the project's policy) deploys a new version; "
    "list_models shows versions newest first; deploy_model switches the active version."
)


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    """Intently errors reach the client as the tool's error text (code, message, fix)."""
    try:
        yield
    except IntentlyError as error:
        raise ToolError(str(error)) from None


class _ActiveModels:
    """The active version of each task, loaded with ``load(path)`` and reloaded when the
    task's active version changes (a deploy through this server or from elsewhere)."""

    def __init__(self, load: Callable[[Path], Any]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._loaded: dict[tuple[Path, str], tuple[str, Any]] = {}

    def get(self, models_root: Path, task: str) -> Any | None:
        from intently.registry import Registry

        active = Registry(models_root).active(task)
        if active is None:
            return None
        with self._lock:
            cached = self._loaded.get((models_root, task))
            if cached is None or cached[0] != active.id:
                cached = (active.id, self._load(active.path))
                self._loaded[(models_root, task)] = cached
            return cached[1]


def build_server(project_file: Path, *, name: str = SERVER_NAME) -> MCPServer[Any]:
    """An MCP server over the project at ``project_file`` (read anew by each tool call)."""
    server: MCPServer[Any] = MCPServer(name, instructions=INSTRUCTIONS)
    classifiers = _ActiveModels(_load_classifier)
    tool_ner = _ActiveModels(_load_tool_ner)

    def project(task: str | None = None) -> Project:
        from intently.spec import load_project

        loaded = load_project(project_file)
        if task is not None:
            loaded.check_task(task)
        return loaded

    def tool(fn: Callable[..., dict[str, Any]]) -> None:
        server.add_tool(fn, name=fn.__name__, description=fn.__doc__, structured_output=True)

    def classify_intent(text: str, task: str = DEFAULT_TASK) -> dict[str, Any]:
        """Classify one text with the deployed model of a task: the label (the fallback label
        when the model is unsure), its confidence, the ranking of intents and the version."""
        with _as_tool_errors():
            classifier = classifiers.get(project(task).model_root(), task)
            if classifier is None:
                raise ModelError(
                    f"task '{task}' has no deployed version.",
                    hint="call train_model (or run `intently train`) first.",
                )
            answer = classifier.predict(text).to_dict()
        return {"task": task, **answer}

    def detect_tool_calls(text: str, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Find the tool calls in a text a language model wrote. ``tools`` are the offered
        tools (OpenAI or MCP shape: name, description, JSON Schema parameters); without them,
        the project file's tools. The project's deployed tool NER model, when there is one,
        also reads natural-language requests. ``calls`` may be executed; ``rejected`` calls
        carry their problems (unknown tool, missing parameter), ready to send to the model."""
        from intently.toolcalls import ToolCallDetector, ToolRegistry
        from intently.toolcalls.ner import NER_TASK
        from intently.toolcalls.ner_detector import NerDetector

        with _as_tool_errors():
            spec = project()
            registry = ToolRegistry(tools) if tools is not None else ToolRegistry.from_project(spec)
            ner = tool_ner.get(spec.model_root(), NER_TASK)
            plugins = [NerDetector(ner)] if ner is not None else []
            found = ToolCallDetector(registry, plugins=plugins).analyze(text)
        return {
            "calls": [call.to_dict() for call in found.calls],
            "rejected": [call.to_dict() for call in found.rejected],
            "content": found.content,
        }

    def train_model(
        task: str = DEFAULT_TASK, deploy: bool = True, export: bool = True
    ) -> dict[str, Any]:
        """Train, evaluate and gate a new version of a task from the project file as it is now;
        with ``deploy`` (default), apply the project's deploy policy to it; with ``export``
        (default), also write the ONNX graphs checked for parity, as `intently train` does."""
        from intently.deploy import auto_deploy
        from intently.pipeline import train

        with _as_tool_errors():
            spec = project(task)
            run = train(spec, task, export=export)
            decision = (
                auto_deploy(spec, task, version=run.version.id, passed=run.passed)
                if deploy
                else None
            )
        return {
            "task": task,
            "version": run.version.id,
            "backend": run.version.backend,
            "passed_gates": run.passed,
            "gates": [
                {"name": g.name, "passed": g.passed, "actual": g.actual, "required": g.required}
                for g in run.gates
            ],
            "metrics": dict(run.version.metrics),
            "train_seconds": round(run.train_seconds, 3),
            "deployed": bool(decision and decision.deployed),
            "deploy_reason": decision.reason if decision else "not asked to deploy",
        }

    def list_models(task: str = DEFAULT_TASK) -> dict[str, Any]:
        """Versions of a task, newest first, with status, backend and headline metrics."""
        from intently.deploy import registry_for

        with _as_tool_errors():
            infos = registry_for(project(task)).versions(task)
        return {
            "task": task,
            "versions": [
                {
                    "id": info.id,
                    "status": info.status.value,
                    "backend": info.version.backend if info.version else None,
                    "metrics": dict(info.version.metrics) if info.version else {},
                    "created_at": info.version.created_at if info.version else None,
                    "problem": info.problem,
                }
                for info in reversed(infos)
            ],
        }

    def deploy_model(
        version: str, task: str = DEFAULT_TASK, if_improved: bool = False
    ) -> dict[str, Any]:
        """Make a version (id or unique prefix) the active one of a task; with ``if_improved``
        only when its macro-F1 is not below the active version's minus the allowed drop."""
        from intently.deploy import deploy_version, registry_for

        with _as_tool_errors():
            spec = project(task)
            info = registry_for(spec).get(task, version)
            decision = deploy_version(spec, task, info.id, if_improved=if_improved)
        return {
            "task": task,
            "version": info.id,
            "deployed": decision.deployed,
            "reason": decision.reason,
            "active": decision.pointer.active if decision.pointer else None,
        }

    for fn in (classify_intent, detect_tool_calls, train_model, list_models, deploy_model):
        tool(fn)
    return server


def _load_classifier(path: Path) -> Classifier:
    from intently.runtime import Classifier

    return Classifier.load(path)


def _load_tool_ner(path: Path) -> ToolNer:
    from intently.toolcalls.ner import load_tool_ner

    return load_tool_ner(path)


def serve(
    project_file: Path, *, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8000
) -> None:
    """Serve the project over stdio (the default) or streamable HTTP at ``/mcp``."""
    server = build_server(project_file)
    if transport not in ("stdio", "streamable-http"):
        raise ValueError(f"unknown MCP transport {transport!r}")
    if transport == "stdio":
        server.run()
    else:
        server.run("streamable-http", host=host, port=port)
