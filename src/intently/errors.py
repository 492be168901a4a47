"""Every error Intently raises on purpose, with a stable code.

    IntentlyError
    ├── SpecError            the project file is malformed or inconsistent   (E1xx)
    ├── DataError            a dataset file or the examples are unusable     (E2xx)
    ├── TrainingError        a backend could not fit                         (E3xx)
    ├── ModelError           a model directory is missing, corrupt or foreign (E4xx)
    ├── GateFailure          a trained model failed its quality gates        (E5xx)
    └── InputError           a prediction request is unusable                (E6xx)

Each message says what failed, where (file, line, key), and how to fix it. Front doors (CLI,
HTTP, MCP) print ``str(error)`` and never a traceback.
"""

from __future__ import annotations

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


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """A ' Did you mean ...?' suffix, or '' when nothing is close."""
    close = get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
