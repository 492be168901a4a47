"""A version's files on disk: reading a backend's saved files back (a JSON state and a NumPy
archive, never unpickled, with errors a user can act on: missing file, corrupt file, malformed
content), and the durable writes the registry and the exporter share (``write_json``,
``fsync_dir``)."""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from intently.errors import ModelError

Built = TypeVar("Built")

# JSONDecodeError is a ValueError; a truncated .npz is a BadZipFile or EOFError.
CORRUPT_FILE_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def read_files(
    directory: Path, owner: str, state_file: str, arrays_file: str
) -> tuple[Any, dict[str, np.ndarray]]:
    """The parsed JSON ``state_file`` and the arrays of ``arrays_file`` (``allow_pickle=False``)
    of ``owner``'s model in ``directory``; ModelError when one is missing or corrupt."""
    try:
        state = json.loads((directory / state_file).read_text(encoding="utf-8"))
        with np.load(directory / arrays_file, allow_pickle=False) as arrays:
            loaded = {key: arrays[key] for key in arrays.files}
    except FileNotFoundError as exc:
        raise ModelError(
            f"{owner} model file missing: {Path(exc.filename).name}.",
            hint="re-train the model; the directory is incomplete.",
        ) from None
    except CORRUPT_FILE_ERRORS as exc:
        raise ModelError(
            f"{owner} model files in {directory} are corrupt ({exc}).",
            hint="re-train the model or deploy another version.",
        ) from None
    return state, loaded


def rebuild(owner: str, directory: Path, build: Callable[[], Built]) -> Built:
    """``build()``, with the errors of content that parsed but has the wrong shape (a missing
    key, a wrong type) turned into one ModelError."""
    try:
        return build()
    except _MALFORMED as exc:
        raise ModelError(
            f"{owner} model files in {directory} are malformed ({type(exc).__name__}: {exc}).",
            hint="re-train the model or deploy another version.",
        ) from None


def check_format(state: Any, expected: str, owner: str) -> None:
    """ModelError unless ``state`` is a dict whose ``format`` is ``expected``."""
    if not isinstance(state, dict) or state.get("format") != expected:
        found = state.get("format") if isinstance(state, dict) else None
        raise ModelError(
            f"unsupported {owner} model format {found!r} (this Intently reads {expected}).",
            hint="re-train with this version of Intently.",
        )


def check_classes(classes: Any, directory: Path, owner: str) -> None:
    """ModelError unless ``classes`` is a list of two or more distinct strings."""
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or len(set(classes)) != len(classes)
        or not all(isinstance(label, str) for label in classes)
    ):
        raise ModelError(
            f"{owner} model in {directory}: the labels must be two or more distinct strings; "
            f"got {classes!r}.",
            hint="re-train the model.",
        )


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON and fsync it, so that a rename after it publishes whole content."""
    with path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, default=str)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """fsync a directory, so that a rename or a new entry in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
