"""``OnnxModel``: an exported model version served by onnxruntime, without the training stack.

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
     "featurizer": {"vocabulary": "...json", "arrays": "...npz"}}         # kind "linear"

Inputs per kind: ``linear`` graphs take ``indices`` (int64) and ``values`` (float32), each
``[batch, L]``: the TF-IDF vector of each text from the Python featurizer, padded with index
``n_features`` and value 0. ``encoder`` graphs take ``input_ids`` and ``attention_mask``
(int64, ``[batch, seq]``; optionally ``token_type_ids``) from ``tokenizers``, truncated at
``max_length`` and padded to the longest text of each batch.

Loading imports only NumPy, onnxruntime and (for encoders) tokenizers: no scikit-learn, SciPy,
torch or transformers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.errors import InputError, ModelError
from intently.runtime.featurize import Featurizer
from intently.runtime.linear_scores import LinearScorer, softmax
from intently.runtime.model_files import CORRUPT_FILE_ERRORS

MANIFEST_FILE = "onnx.json"
MANIFEST_FORMAT = "intently.onnx.v1"
PRECISIONS = ("fp32", "int8")
ENGINES = ("onnxruntime", "numpy")
KINDS = ("linear", "encoder")
"""Kinds of a single exported graph; a ``stack`` manifest names member folders instead."""
STACK_KIND = "stack"
OUTPUT = "probabilities"
BATCH_SIZE = 64
_PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<PAD>")

Encode = Callable[[Sequence[str]], tuple[list[dict[str, np.ndarray]], np.ndarray]]
"""Texts → (feeds, order): one input dict per batch, and which text each row is, batch after
batch (texts are sorted by length so that a batch pads little)."""


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
    return names


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


class OnnxModel:
    """``classes_`` and ``predict_proba`` from an exported graph, like a native backend.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
    classes : sequence of str
        Column order of the graph's ``probabilities`` output.
    encode : Encode
        Texts → the graph's input feeds, batch by batch, and the text order of their rows.
    kind, precision : str
        What was loaded, for display.
    engine : "onnxruntime" or "numpy"
        "numpy" (linear exports, fp32) computes the exported weights with the runtime's NumPy
        scorer (:class:`~intently.runtime.linear_scores.LinearScorer`) instead of running the
        graph: export checks it against the native model like a graph and picks it when it is
        the fastest; ``scores`` then maps texts to probabilities and ``session`` is None.

    Examples
    --------
    >>> model = OnnxModel.load("models/intent/20261122T030512Z-3fa1")  # doctest: +SKIP
    >>> model.predict_proba(["where is my card?"]).shape                # doctest: +SKIP
    (1, 77)
    """

    def __init__(
        self,
        session: Any,
        classes: Sequence[str],
        encode: Encode | None,
        *,
        kind: str,
        precision: str,
        engine: str = "onnxruntime",
        scores: Callable[[Sequence[str]], np.ndarray] | None = None,
    ):
        self.session = session
        self.classes_ = tuple(classes)
        self.encode = encode
        self.kind = kind
        self.precision = precision
        self.engine = engine
        self.scores = scores

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        precision: str = "fp32",
        threads: int | None = None,
        batch_size: int = BATCH_SIZE,
        engine: str = "onnxruntime",
    ) -> OnnxModel | OnnxStack:
        """The exported model of a version directory (its ``onnx.json``); a ``stack`` export
        loads as an :class:`OnnxStack` of its members' graphs."""
        model_dir = Path(model_dir)
        manifest = read_manifest(model_dir)
        if manifest["kind"] == STACK_KIND:
            return OnnxStack.load(
                model_dir, manifest, precision=precision, threads=threads, batch_size=batch_size
            )
        classes = manifest.get("labels")
        labels_path = model_dir / "labels.json"
        if labels_path.is_file():
            try:
                labels = json.loads(labels_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ModelError(f"{labels_path} is corrupt ({exc}).", hint="re-train.") from None
            if classes is not None and list(classes) != labels:
                raise ModelError(
                    f"the labels of {model_dir / MANIFEST_FILE} differ from labels.json.",
                    hint=f"re-export with `intently export {model_dir}`.",
                )
            classes = labels
        if not classes:
            raise ModelError(
                f"{model_dir} names no labels (labels.json and onnx.json 'labels' are missing).",
                hint=f"re-export with `intently export {model_dir}`.",
            )
        return cls.from_manifest(
            manifest,
            (model_dir,),
            classes=classes,
            precision=precision,
            threads=threads,
            batch_size=batch_size,
            engine=engine,
        )

    @classmethod
    def from_manifest(
        cls,
        manifest: dict[str, Any],
        directories: Sequence[Path],
        *,
        classes: Sequence[str],
        precision: str = "fp32",
        threads: int | None = None,
        batch_size: int = BATCH_SIZE,
        engine: str = "onnxruntime",
    ) -> OnnxModel:
        """Build from a manifest whose files lie in the first of ``directories`` that has them.

        ``threads`` sets onnxruntime's intra-op threads; None means 1 for ``linear`` graphs
        (a few thousand multiply-adds per text: threads only add overhead) and onnxruntime's
        default (one per physical core) for ``encoder`` graphs.
        """
        if precision not in PRECISIONS:
            raise InputError(
                f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}."
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive integer; got {batch_size!r}.")
        check_manifest(manifest, MANIFEST_FILE)
        directories = [Path(d) for d in directories]

        def locate(name: str) -> Path:
            for directory in directories:
                if (directory / name).is_file():
                    return directory / name
            raise ModelError(
                f"{name}, listed in {MANIFEST_FILE}, is missing from {directories[0]}.",
                hint=f"re-export with `intently export {directories[-1]}`.",
            )

        digests = manifest.get("sha256") or {}

        def locate_checked(name: str) -> Path:
            """``locate``, and the file must be the one export wrote (its SHA-256)."""
            path = locate(name)
            expected = digests.get(name) if isinstance(digests, dict) else None
            if expected is not None and file_sha256(path) != expected:
                raise ModelError(
                    f"{path} does not match the SHA-256 recorded in {MANIFEST_FILE} at export.",
                    hint=f"the file was damaged or replaced; re-export with `intently export "
                    f"{directories[-1]}` or deploy another version.",
                )
            return path

        kind = manifest["kind"]
        if engine not in ENGINES or (engine == "numpy" and (kind, precision) != ("linear", "fp32")):
            raise InputError(
                f"engine must be one of {', '.join(ENGINES)} (numpy: linear exports at fp32 "
                f"only); got {engine!r} for a {kind} export at {precision}."
            )
        if engine == "numpy":
            featurizer, vocabulary, arrays = _read_featurizer(manifest, locate_checked)
            scores = _numpy_linear(featurizer, vocabulary, arrays, len(classes))
            return cls(
                None, classes, None, kind=kind, precision=precision, engine=engine, scores=scores
            )
        if threads is None:
            threads = 1 if kind == "linear" else 0
        graph = locate_checked(manifest[precision])
        session = _session(graph, threads)
        _check_signature(session, manifest, graph, len(classes))
        if kind == "linear":
            encode = _linear_encoder(manifest, locate_checked, batch_size)
        else:
            encode = _token_encoder(manifest, locate_checked, batch_size)
        return cls(session, classes, encode, kind=kind, precision=precision)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of shape (len(texts), n_classes), float64 like native backends."""
        out = np.zeros((len(texts), len(self.classes_)), dtype=np.float64)
        if not len(texts):
            return out
        if self.scores is not None:
            return self.scores(texts)
        assert self.encode is not None
        feeds, order = self.encode(texts)
        start = 0
        for feed in feeds:
            (proba,) = self.session.run([OUTPUT], feed)
            rows = order[start : start + len(proba)]
            out[rows] = proba
            start += len(proba)
        return out

    def __repr__(self) -> str:
        return (
            f"OnnxModel(kind={self.kind!r}, precision={self.precision!r}, "
            f"engine={self.engine!r}, "
            f"classes={len(self.classes_)})"
        )


class OnnxStack:
    """A weighted average of the probabilities of several exported models (a ``stack``).

    Each member is an exported version of its own in ``member_<i>/`` with its own graphs,
    featurizer or tokenizer; ``onnx.json`` of the stack lists them with their weights.
    """

    def __init__(self, members: Sequence[OnnxModel], weights: Sequence[float], *, precision: str):
        self.members = list(members)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.classes_ = self.members[0].classes_
        self.kind = STACK_KIND
        self.precision = precision

    @classmethod
    def load(
        cls,
        model_dir: Path,
        manifest: dict[str, Any],
        *,
        precision: str,
        threads: int | None,
        batch_size: int,
    ) -> OnnxStack:
        names, weights = manifest["members"], manifest["weights"]
        if (
            not isinstance(names, list)
            or not isinstance(weights, list)
            or len(names) < 2
            or len(names) != len(weights)
            or not all(isinstance(name, str) and "/" not in name for name in names)
            or not all(isinstance(w, int | float) and w >= 0 for w in weights)
            or sum(weights) <= 0
        ):
            raise ModelError(
                f"{model_dir / MANIFEST_FILE} lists malformed stack members {names!r} with "
                f"weights {weights!r}.",
                hint=f"re-export with `intently export {model_dir}`.",
            )
        members = []
        for name in names:
            member = OnnxModel.load(
                model_dir / name, precision=precision, threads=threads, batch_size=batch_size
            )
            if not isinstance(member, OnnxModel):
                raise ModelError(f"stack member {model_dir / name} is itself a stack.")
            members.append(member)
        if any(m.classes_ != members[0].classes_ for m in members) or (
            manifest.get("labels") is not None
            and list(members[0].classes_) != list(manifest["labels"])
        ):
            raise ModelError(
                f"the stack members in {model_dir} disagree on the labels.",
                hint=f"re-export with `intently export {model_dir}`.",
            )
        return cls(members, weights, precision=precision)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        mixed = sum(
            w * m.predict_proba(texts) for w, m in zip(self.weights, self.members, strict=True)
        )
        mixed = np.asarray(mixed, dtype=np.float64)
        if not len(texts):
            return mixed.reshape(0, len(self.classes_))
        return mixed / mixed.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        kinds = "+".join(m.kind for m in self.members)
        return f"OnnxStack({kinds}, precision={self.precision!r}, classes={len(self.classes_)})"


def _session(graph: Path, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError(
            "onnxruntime is not installed, and this model is loaded with the ONNX runtime.",
            hint="pip install onnxruntime.",
        ) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / ... types
        raise ModelError(
            f"onnxruntime cannot load {graph}: {str(exc).strip().splitlines()[0]}",
            hint=f"the file is damaged; re-export with `intently export {graph.parent}`.",
        ) from None


def _check_signature(session: Any, manifest: dict[str, Any], graph: Path, n_classes: int) -> None:
    inputs = {node.name for node in session.get_inputs()}
    outputs = {node.name: node.shape for node in session.get_outputs()}
    wanted = set(manifest["inputs"])
    if wanted != inputs or OUTPUT not in outputs:
        raise ModelError(
            f"{graph} has inputs {sorted(inputs)} and outputs {sorted(outputs)}; "
            f"{MANIFEST_FILE} expects inputs {sorted(wanted)} and output {OUTPUT!r}.",
            hint=f"re-export with `intently export {graph.parent}`.",
        )
    width = outputs[OUTPUT][-1] if outputs[OUTPUT] else None
    if isinstance(width, int) and width != n_classes:
        raise ModelError(
            f"{graph} outputs {width} probabilities per text but the model has {n_classes} labels.",
            hint=f"re-export with `intently export {graph.parent}`.",
        )


def _read_featurizer(
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


def _numpy_linear(
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


def _linear_encoder(
    manifest: dict[str, Any], locate: Callable[[str], Path], batch_size: int
) -> Encode:
    featurizer, _, _ = _read_featurizer(manifest, locate)
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


def _token_encoder(
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
