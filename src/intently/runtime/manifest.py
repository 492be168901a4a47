"""``onnx.json``: the manifest of an exported model version, and how it is checked.

``intently export`` (or ``intently train``) writes, next to the native files of a version:

- ``model.onnx`` and ``model.int8.onnx``: graphs with one output, ``probabilities``
  (float32 ``[batch, n_classes]``);
- ``onnx.json``, the manifest, written last (its presence means "exported")::

    {"format": "intently.onnx.v1", "kind": "linear" | "encoder", "opset": 17,
     "fp32": "model.onnx", "int8": "model.int8.onnx", "inputs": [...],
     "output": "probabilities", "labels": [...], "parity": {...}, "quantization": {...},
     "serving": {"precision": "fp32", "engine": "numpy", "reason": "...", "timings": {...}},
     "sha256": {"model.onnx": "...", ...},          # every file the runtime reads, checked
     "created_at": "...", "versions": {...},
     "max_length": 128, "tokenizer": "tokenizer.json",                   # kind "encoder"
     "featurizer": {"vocabulary": "...json", "arrays": "...npz"},         # kind "linear"
     "preprocessor": "spacy_bow.json"}                                    # kind "spacy_bow"
                                          # ("spacy_tok2vec.json": kind "spacy_tok2vec")

Inputs per kind: ``linear`` graphs take ``indices`` (int64) and ``values`` (float32), each
``[batch, L]``: the TF-IDF vector of each text from the Python featurizer, padded with index
``n_features`` and value 0. ``encoder`` graphs take ``input_ids`` and ``attention_mask``
(int64, ``[batch, seq]``; optionally ``token_type_ids``) from ``tokenizers``, truncated at
``max_length`` and padded to the longest text of each batch. ``spacy_bow`` graphs (a spaCy
``TextCatBOW``) take ``rows`` (int64) and ``counts`` (float32), ``[batch, L]``: the hashed
n-gram rows of each text from :mod:`intently.runtime.spacy_features`, padded with row
``length`` and count 0 (docs/SPACY_ONNX.md). ``spacy_tok2vec`` graphs (a spaCy
``TextCatReduce``/``TextCatCNN``/``TextCatEnsemble``) take ``rows`` (int64,
``[batch, tokens, 4 · tables]``): each token's ``HashEmbed`` rows from
:mod:`intently.runtime.spacy_tok2vec`, padded with the all-zero ``pad_row``; the ensemble also
takes the BOW inputs as ``bow_rows``/``bow_counts``.

Loading imports only NumPy, onnxruntime and (for encoders) tokenizers: no scikit-learn, SciPy,
torch or transformers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from intently.errors import ModelError

MANIFEST_FILE = "onnx.json"
MANIFEST_FORMAT = "intently.onnx.v1"
PRECISIONS = ("fp32", "int8")
ENGINES = ("onnxruntime", "numpy")
KINDS = ("linear", "encoder", "spacy_bow", "spacy_tok2vec")
"""Kinds of a single exported graph; a ``stack`` manifest names member folders instead."""
STACK_KIND = "stack"
OUTPUT = "probabilities"
VECTORS = "sentence_vector"
"""A second output of ``embedding`` graphs: the normalised text vectors an out-of-scope
novelty reads (:mod:`intently.runtime.novelty`)."""
BATCH_SIZE = 64


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """``onnx.json`` of ``model_dir``, checked; ModelError when missing or malformed."""
    path = Path(model_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"{model_dir} has no ONNX export ({MANIFEST_FILE} is missing).",
            hint=f"run `intently export {model_dir}`, or load it with runtime='native'.",
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{path} is corrupt ({exc}).", hint=f"re-export with `intently export {model_dir}`."
        ) from None
    check_manifest(manifest, path)
    return manifest


def check_manifest(manifest: Any, where: Path | str) -> None:
    """ModelError unless ``manifest`` has the keys the runtime needs for its kind."""
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ModelError(
            f"{where} has ONNX format {found!r}; this Intently reads {MANIFEST_FORMAT}.",
            hint="re-export the model with this version of Intently (`intently export`).",
        )
    required = ["kind", "fp32", "int8", "inputs", "output"]
    if manifest.get("kind") == STACK_KIND:
        required = ["kind", "members", "weights"]
    elif manifest.get("kind") == "encoder":
        required += ["tokenizer", "max_length"]
    elif manifest.get("kind") == "linear":
        required += ["featurizer"]
    elif manifest.get("kind") in ("spacy_bow", "spacy_tok2vec"):
        required += ["preprocessor"]
    else:
        raise ModelError(
            f"{where} has ONNX kind {manifest.get('kind')!r}; known kinds: "
            f"{', '.join([*KINDS, STACK_KIND])}.",
            hint="re-export the model with this version of Intently (`intently export`).",
        )
    missing = [key for key in required if key not in manifest]
    if missing:
        raise ModelError(
            f"{where} lacks {', '.join(missing)}.",
            hint="re-export the model (`intently export`).",
        )


def manifest_files(manifest: dict[str, Any]) -> list[str]:
    """Names of the files a single-graph manifest makes the runtime read (checksummed at
    export in ``sha256``)."""
    names = [manifest[precision] for precision in PRECISIONS]
    if manifest.get("kind") == "linear":
        names += [manifest["featurizer"]["vocabulary"], manifest["featurizer"]["arrays"]]
    elif manifest.get("kind") == "encoder":
        names.append(manifest["tokenizer"])
    elif manifest.get("kind") in ("spacy_bow", "spacy_tok2vec"):
        names.append(manifest["preprocessor"])
    return names


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def int8_refused(manifest: dict[str, Any]) -> bool:
    """Whether export recorded that the int8 graphs failed parity while the export was still
    written: a stack whose members' int8 graphs passed alone but whose mix did not, which
    serves fp32 only."""
    parity = manifest.get("parity")
    if not isinstance(parity, dict) or not isinstance(parity.get("int8"), dict):
        return False
    agreement, minimum = parity["int8"].get("agreement"), parity.get("min_agreement")
    numbers = all(isinstance(x, int | float) for x in (agreement, minimum))
    return numbers and agreement < minimum


def serving_choice(manifest: dict[str, Any]) -> tuple[str, str]:
    """(precision, engine) that serve by default: what export timed fastest among the ways
    that passed parity (``serving``); ("fp32", "onnxruntime") for exports that did not time
    them."""
    serving = manifest.get("serving")
    if not isinstance(serving, dict):
        return "fp32", "onnxruntime"
    precision = serving.get("precision")
    engine = serving.get("engine", "onnxruntime")
    if precision not in PRECISIONS or engine not in ENGINES:
        return "fp32", "onnxruntime"
    if engine == "numpy" and (manifest.get("kind"), precision) != ("linear", "fp32"):
        return "fp32", "onnxruntime"
    return precision, engine
