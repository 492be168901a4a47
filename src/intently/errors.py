"""Every error Intently raises on purpose, with a stable code: the one catalogue.

    IntentlyError
    ├── SpecError                the project file is malformed or inconsistent     (E100)
    │   └── SearchSpaceError     a tuning.space entry is malformed or out of range (E340)
    ├── DataError                a dataset file or the examples are unusable       (E200)
    ├── TrainingError            a backend could not fit                           (E300)
    │   ├── SpacyPipelineError   a named base spaCy pipeline is not installed      (E310)
    │   └── SpacyConfigError     a spaCy config cannot be read or used             (E311)
    │   └── TuningError          a hyperparameter study cannot run or found nothing (E341)
    ├── ModelError               a model directory is missing, corrupt or foreign  (E400)
    ├── GateFailure              a trained model failed its quality gates          (E500)
    ├── InputError               a prediction request is unusable                  (E600)
    ├── ServerConfigError        the service cannot start as configured            (E700)
    ├── DatabaseError            unreachable, unmigratable or failing database     (E710)
    │   ├── RunNotFound          no training run has this id                       (E712)
    │   └── StudyStorageError    a study's Optuna storage is unreachable or empty  (E342)
    ├── RunConflict              a run of the task is already queued or running    (E711)
    ├── InvalidRole              an API-key role other than predict or admin       (E713)
    ├── InteractionNotFound      no recorded interaction has this id               (E720)
    ├── UnknownLabel             a review label the task does not know             (E721)
    ├── AnnotationImportError    an annotations file cannot be imported            (E722)
    ├── LearningConfigError      a bad redaction pattern or retention period       (E723)
    ├── AbTestError              an A/B test cannot start or change as asked       (E740)
    │   ├── AbTestConflict       the task already runs an A/B test                 (E741)
    │   └── AbTestNotFound       no A/B test has this id, or the task runs none    (E742)
    ├── ExportError              an export failed or did not answer like the model (E800)
    │   └── ExportUnsupportedError  the backend has no ONNX export                 (E801)
    ├── GenerationError          a training-data generator cannot run              (E210)
    │   └── GeneratorModelError  its local model folder or torch is missing      (E211)
    ├── LLMError                 an LLM endpoint failed or answered unusably       (E230)
    │   ├── LLMBudgetExceeded    a request/token/example cap of an LLM job is reached (E231)
    │   └── LLMConfigError       no endpoint URL or model, or an unusable setting  (E232)
    ├── UpstreamError            the proxy's upstream model server failed          (E970)
    ├── StorageError             disk full, permission denied, read-only filesystem (E900)
    └── ToolCallError            tool-call detection cannot run as asked           (E950)
        ├── ToolSpecError        a tool definition is malformed                    (E951)
        └── ToolSourceError      a tools file or MCP server cannot be read         (E952)

The HTTP service also answers with codes that have no class here (``intently.server.errors``):
E701 unauthorized, E702 forbidden, E703 body too large, E704 not found, E705 conflict,
E706 method not allowed, E707 malformed request body, E708 request headers too large,
E799 internal error.

Each message says what failed, where (file, line, key), and how to fix it. Front doors (CLI,
HTTP, MCP) print ``str(error)`` and never a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where in a file something is: 1-based line, optional key path."""

    path: Path | str | None = None
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else "<input>"
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f" ({self.key})"
        return where


class IntentlyError(Exception):
    """Base of every deliberate Intently error."""

    code = "E000"

    def __init__(self, message: str, *, where: Location | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"[{self.code}] "
        if self.where is not None:
            text += f"{self.where}: "
        text += self.message
        if self.hint:
            text += f" Fix: {self.hint}"
        return text


class SpecError(IntentlyError):
    code = "E100"


class DataError(IntentlyError):
    code = "E200"


class TrainingError(IntentlyError):
    code = "E300"


class ModelError(IntentlyError):
    code = "E400"


class GateFailure(IntentlyError):
    code = "E500"


class InputError(IntentlyError):
    code = "E600"


class ServerConfigError(IntentlyError):
    """The service cannot start as configured (no API key, malformed key list, ...)."""

    code = "E700"


class DatabaseError(IntentlyError):
    """The database cannot be reached, migrated or queried."""

    code = "E710"


class RunConflict(IntentlyError):
    """A run of this task is already queued or running (HTTP 409)."""

    code = "E711"

    def __init__(self, message: str, *, hint: str | None = None, run_id: str | None = None):
        self.run_id = run_id
        super().__init__(message, hint=hint)


class RunNotFound(DatabaseError):
    """No training run has this id."""

    code = "E712"


class InvalidRole(IntentlyError, ValueError):
    """A role that is not one of :class:`~intently.db.keys.Role`."""

    code = "E713"


class InteractionNotFound(IntentlyError):
    """No recorded interaction has this id (HTTP 404)."""

    code = "E720"


class UnknownLabel(IntentlyError, ValueError):
    """A review label that is not a label of the task (HTTP 422); ``new_label`` proposes one."""

    code = "E721"


class AnnotationImportError(IntentlyError):
    """An annotations file (Label Studio export, JSONL corrections) cannot be imported."""

    code = "E722"


class LearningConfigError(IntentlyError, ValueError):
    """A redaction pattern that is not a valid regular expression, or a retention period
    that is not like ``90d``."""

    code = "E723"


class AbTestError(IntentlyError, ValueError):
    """An A/B test that cannot start or change as asked: a bad share, mode or arm."""

    code = "E740"


class AbTestConflict(AbTestError):
    """The task already runs an A/B test (one at a time per task; HTTP 409)."""

    code = "E741"


class AbTestNotFound(AbTestError):
    """No A/B test has this id, or the task runs none (HTTP 404)."""

    code = "E742"


class ExportError(IntentlyError):
    """A model could not be exported, or its ONNX graphs failed the parity check."""

    code = "E800"


class ExportUnsupportedError(ExportError):
    """The model's backend has no ONNX export."""

    code = "E801"


class SpacyPipelineError(TrainingError):
    """A base spaCy pipeline named in ``training.params.base_model`` is neither an installed
    package nor a pipeline folder."""

    code = "E310"


class SpacyConfigError(TrainingError):
    """A spaCy config (``training.spacy_config`` or a generated one) cannot be read, lacks the
    component the backend trains, or does not build a pipeline."""

    code = "E311"


class SearchSpaceError(SpecError):
    """A ``tuning.space`` entry is not a range, a list of choices or a value the parameter
    takes."""

    code = "E340"


class TuningError(TrainingError):
    """A hyperparameter study cannot run, or ended without one finished trial."""

    code = "E341"


class StudyStorageError(DatabaseError):
    """The Optuna storage of a study is unreachable or holds no study of that name."""

    code = "E342"


class LLMError(IntentlyError):
    """An OpenAI-compatible endpoint failed, or answered unusably, after every retry."""

    code = "E230"


class LLMBudgetExceeded(LLMError):
    """A cap of an LLM job (requests, tokens from ``usage``, generated examples) is reached."""

    code = "E231"


class LLMConfigError(LLMError):
    """No endpoint URL or model was given, or a setting of the LLM client is unusable."""

    code = "E232"


class StorageError(IntentlyError):
    """A file or folder could not be written or read: the disk is full, a permission is
    missing, or the filesystem is read-only. Nothing half-written is left behind."""

    code = "E900"


class ToolCallError(IntentlyError):
    """Tool-call detection cannot run as asked (bad corpus line, bad request)."""

    code = "E950"


class ToolSpecError(ToolCallError):
    """A tool definition is malformed: no name, or parameters that are not a JSON Schema."""

    code = "E951"


class ToolSourceError(ToolCallError):
    """A tools file or a live MCP server could not be read."""

    code = "E952"


class GenerationError(IntentlyError):
    """A training-data generator cannot run as configured."""

    code = "E210"


class GeneratorModelError(GenerationError):
    """A generator's local model folder, or torch/transformers, is missing or unusable."""

    code = "E211"


_STORAGE_HINTS = {
    errno.ENOSPC: "the disk is full: free space (e.g. `intently models prune`) and retry",
    errno.EDQUOT: "the disk quota is exhausted: free space and retry",
    errno.EACCES: "permission denied: run as a user who may write there, or fix the folder's "
    "permissions",
    errno.EPERM: "operation not permitted: check the folder's owner and permissions",
    errno.EROFS: "the filesystem is read-only: point the project (or --database-url) at a "
    "writable place",
}


def storage_error(exc: OSError, doing: str) -> StorageError:
    """A StorageError for ``exc`` raised while ``doing`` (e.g. "writing model version X")."""
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return StorageError(
        f"{doing} failed{where}: {exc.strerror or exc}.",
        hint=_STORAGE_HINTS.get(exc.errno or 0, "check the disk and the folder's permissions")
        + "; the previous state is unchanged.",
    )


@contextmanager
def os_errors_as_storage_errors(doing: str) -> Iterator[None]:
    """Turn an OSError raised inside the block into a :class:`StorageError` about ``doing``."""
    try:
        yield
    except OSError as exc:
        raise storage_error(exc, doing) from None


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """A ' Did you mean ...?' suffix, or '' when nothing is close."""
    close = get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


class UpstreamError(IntentlyError):
    """The OpenAI-compatible server behind ``intently proxy`` is unreachable, timed out or
    answered with an error; ``status`` is the HTTP status the proxy answers with."""

    code = "E970"

    def __init__(self, message: str, *, status: int = 502, hint: str | None = None):
        self.status = status
        super().__init__(message, hint=hint)
