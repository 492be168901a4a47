"""Texts → what an exported model computes on: the linear featurizer's padded sparse rows,
the NumPy scorer of a linear export's weights, and an encoder's token ids (``tokenizers``)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.errors import ModelError
from intently.runtime.featurize import Featurizer
from intently.runtime.linear_scores import LinearScorer, softmax
from intently.runtime.manifest import MANIFEST_FILE
from intently.runtime.model_files import CORRUPT_FILE_ERRORS

_PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<PAD>")

Encode = Callable[[Sequence[str]], tuple[list[dict[str, np.ndarray]], np.ndarray]]
"""Texts → (feeds, order): one input dict per batch, and which text each row is, batch after
batch (texts are sorted by length so that a batch pads little)."""


def read_featurizer(
    manifest: dict[str, Any], locate: Callable[[str], Path]
) -> tuple[Featurizer, dict[str, Any], dict[str, np.ndarray]]:
    """The linear export's featurizer, its vocabulary JSON and its arrays (checked)."""
    files = manifest["featurizer"]
    vocabulary_path, arrays_path = locate(files["vocabulary"]), locate(files["arrays"])
    try:
        vocabulary = json.loads(vocabulary_path.read_text(encoding="utf-8"))
        with np.load(arrays_path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        idf = {key: value for key, value in arrays.items() if key.startswith("idf_")}
        featurizer = Featurizer.from_json(vocabulary, idf)
    except (*CORRUPT_FILE_ERRORS, KeyError, TypeError) as exc:
        raise ModelError(
            f"the featurizer files {vocabulary_path.name} / {arrays_path.name} in "
            f"{vocabulary_path.parent} are unreadable ({type(exc).__name__}: {exc}).",
            hint="re-train the model.",
        ) from None
    if manifest.get("n_features", featurizer.n_features) != featurizer.n_features:
        raise ModelError(
            f"{MANIFEST_FILE} expects {manifest['n_features']} features but the featurizer in "
            f"{vocabulary_path.parent} has {featurizer.n_features}.",
            hint="re-export the model (`intently export`).",
        )
    return featurizer, vocabulary, arrays


def numpy_linear(
    featurizer: Featurizer,
    vocabulary: dict[str, Any],
    arrays: dict[str, np.ndarray],
    n_classes: int,
) -> Callable[[Sequence[str]], np.ndarray]:
    """Texts → probabilities of a linear export, computed by the NumPy scorer."""
    try:
        scorer = LinearScorer(featurizer, arrays["coef"], arrays["intercept"])
        temperature = float(vocabulary["temperature"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"the linear weights of the export are unusable ({type(exc).__name__}: {exc}).",
            hint="re-export the model (`intently export`).",
        ) from None
    if len(scorer.intercept) != n_classes or not math.isfinite(temperature):
        raise ModelError(
            f"the linear weights have {len(scorer.intercept)} classes for {n_classes} labels, "
            f"or a non-finite temperature ({temperature}).",
            hint="re-export the model (`intently export`).",
        )

    def predict_proba(texts: Sequence[str]) -> np.ndarray:
        return softmax(scorer.decision_function(texts) * temperature)

    return predict_proba


def linear_encoder(
    manifest: dict[str, Any], locate: Callable[[str], Path], batch_size: int
) -> Encode:
    featurizer, _, _ = read_featurizer(manifest, locate)
    pad = featurizer.n_features

    def encode(texts: Sequence[str]) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
        if len(texts) == 1:  # the serving path: no padding to plan
            cols, values = featurizer.sparse_row(texts[0])
            if not len(cols):
                cols, values = np.full(1, pad), np.zeros(1)
            feed = {
                "indices": cols.astype(np.int64)[None, :],
                "values": values.astype(np.float32)[None, :],
            }
            return [feed], np.zeros(1, dtype=np.int64)
        indptr, cols, values = featurizer.sparse_rows(texts)
        lengths = np.diff(indptr)
        order = np.argsort(lengths, kind="stable")
        feeds = []
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            counts = lengths[chosen]
            width = max(1, int(counts.max()))
            # Row r of the batch takes entries indptr[chosen[r]] ... + counts[r] - 1.
            slot = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            source = np.repeat(indptr[chosen], counts) + slot
            batch_rows = np.repeat(np.arange(len(chosen)), counts)
            indices = np.full((len(chosen), width), pad, dtype=np.int64)
            weights = np.zeros((len(chosen), width), dtype=np.float32)
            indices[batch_rows, slot] = cols[source]
            weights[batch_rows, slot] = values[source]
            feeds.append({"indices": indices, "values": weights})
        return feeds, order

    return encode


def token_encoder(
    manifest: dict[str, Any], locate: Callable[[str], Path], batch_size: int
) -> Encode:
    try:
        import tokenizers
    except ImportError:
        raise ModelError(
            "the tokenizers package is not installed; encoder models need it.",
            hint="pip install tokenizers.",
        ) from None
    path = locate(manifest["tokenizer"])
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise ModelError(
            f"cannot read the tokenizer {path}: {exc}.",
            hint=f"re-export with `intently export {path.parent}`.",
        ) from None
    tokenizer.enable_truncation(int(manifest["max_length"]))
    padding = dict(tokenizer.padding or {})
    if not padding:
        pad_id = next(
            (tokenizer.token_to_id(t) for t in _PAD_TOKENS if tokenizer.token_to_id(t) is not None),
            0,
        )
        padding = {"pad_id": pad_id, "pad_token": tokenizer.id_to_token(pad_id) or "[PAD]"}
    padding.pop("length", None)  # pad to the longest text of each batch, not a fixed length
    padding.pop("pad_to_multiple_of", None)
    tokenizer.enable_padding(**padding)
    names = list(manifest["inputs"])
    fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
    unknown = [name for name in names if name not in fields]
    if unknown:
        raise ModelError(
            f"{MANIFEST_FILE} lists encoder inputs {unknown} that this Intently cannot fill "
            f"(known: {', '.join(fields)}).",
            hint="re-export the model with this version of Intently.",
        )

    def encode(texts: Sequence[str]) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
        # Similar lengths share a batch, so little compute goes to padding.
        order = np.argsort([len(text) for text in texts], kind="stable")
        feeds = []
        for start in range(0, len(texts), batch_size):
            chunk = [texts[i] for i in order[start : start + batch_size]]
            encodings = tokenizer.encode_batch(chunk)
            feeds.append(
                {
                    name: np.asarray([getattr(e, fields[name]) for e in encodings], np.int64)
                    for name in names
                }
            )
        return feeds, order

    return encode
