"""Moving an export's staged files into a version directory so that readers never see half.

Each file moves in one ``os.replace``, ``onnx.json`` (the manifest) last and after the previous
manifest was retracted, with the directory fsync'd in between: a reader finds the previous
export, no export, or the complete new one.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from intently.runtime.model_files import fsync_dir, write_json
from intently.runtime.onnx_model import MANIFEST_FILE, file_sha256, manifest_files


def move_into(stage: Path, directory: Path, manifest: dict[str, Any]) -> tuple[str, ...]:
    """Move the staged files into ``directory``, ``onnx.json`` last; returns their names.

    A staged file never replaces a native file of the version: when the backend's export wrote
    a name the version already holds with other content (an encoder's ``tokenizer.json``, set
    up for training), it moves as ``onnx_<name>`` and the manifest says so.
    """
    previous = _owned_files(directory)
    renames: dict[str, str] = {}
    for path in sorted(stage.iterdir()):
        name = path.name
        if name == MANIFEST_FILE:
            continue
        target = directory / name
        if name not in previous and target.exists() and target.read_bytes() != path.read_bytes():
            renames[name] = f"onnx_{name}"
    for key, value in list(manifest.items()):
        if isinstance(value, str) and value in renames:
            manifest[key] = renames[value]
    manifest["sha256"] = _digests(stage, directory, manifest, renames)
    write_json(stage / MANIFEST_FILE, manifest)
    # Readers must never pair the previous manifest with new graphs: retract it first.
    (directory / MANIFEST_FILE).unlink(missing_ok=True)
    moved = []
    for path in sorted(stage.iterdir()):
        if path.name != MANIFEST_FILE:
            target = renames.get(path.name, path.name)
            os.replace(path, directory / target)
            moved.append(target)
    fsync_dir(directory)
    os.replace(stage / MANIFEST_FILE, directory / MANIFEST_FILE)
    fsync_dir(directory)
    return (*moved, MANIFEST_FILE)


def _digests(
    stage: Path, directory: Path, manifest: dict[str, Any], renames: dict[str, str]
) -> dict[str, str]:
    """SHA-256 of every file the runtime will read for this manifest, by its final name (the
    runtime refuses a file that no longer matches: a damaged or swapped graph)."""
    original = {final: name for name, final in renames.items()}
    digests = {}
    for name in manifest_files(manifest):
        staged = stage / original.get(name, name)
        digests[name] = file_sha256(staged if staged.is_file() else directory / name)
    return digests


def replace_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write ``directory/onnx.json`` in one ``os.replace`` (for a stack, whose members'
    files are already in place)."""
    staged = directory / f".{MANIFEST_FILE}.{secrets.token_hex(4)}"
    write_json(staged, manifest)
    os.replace(staged, directory / MANIFEST_FILE)
    fsync_dir(directory)


def _owned_files(directory: Path) -> set[str]:
    """Files a previous export wrote (named in its manifest), which a new export may replace."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(manifest, dict):
        return set()
    return {value for value in manifest.values() if isinstance(value, str)} & {
        p.name for p in directory.iterdir()
    }
