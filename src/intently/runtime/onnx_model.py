"""``OnnxModel``: an exported model version served by onnxruntime (or, for linear exports, its
NumPy scorer), without the training stack; ``OnnxStack`` averages a stack's members.

What export writes and how ``onnx.json`` is checked: :mod:`intently.runtime.manifest`. What
each kind is fed: :mod:`intently.runtime.feeds`. Loading imports only NumPy, onnxruntime and
(for encoders) tokenizers: no scikit-learn, SciPy, torch or transformers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intently.errors import InputError, ModelError
from intently.runtime.feeds import (
    Encode,
    linear_encoder,
    numpy_linear,
    read_featurizer,
    token_encoder,
)
from intently.runtime.manifest import (
    BATCH_SIZE,
    ENGINES,
    KINDS,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    OUTPUT,
    PRECISIONS,
    STACK_KIND,
    VECTORS,
    check_manifest,
    file_sha256,
    int8_refused,
    manifest_files,
    read_manifest,
    serving_choice,
)
from intently.runtime.mixing import mix, mix_with_vectors, valid_temperature
from intently.runtime.spacy_features import spacy_bow_encoder
from intently.runtime.spacy_tok2vec import spacy_tok2vec_encoder

__all__ = [
    "BATCH_SIZE",
    "ENGINES",
    "KINDS",
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "OUTPUT",
    "PRECISIONS",
    "STACK_KIND",
    "VECTORS",
    "Encode",
    "OnnxModel",
    "OnnxStack",
    "check_manifest",
    "file_sha256",
    "manifest_files",
    "read_manifest",
    "serving_choice",
]


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
        self.gives_vectors = session is not None and VECTORS in {
            output.name for output in session.get_outputs()
        }
        """Whether the graph also outputs the texts' sentence vectors (``embedding`` exports)."""

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

        ``threads`` sets onnxruntime's intra-op threads; None means 1 for ``linear``,
        ``spacy_bow`` and ``spacy_tok2vec`` graphs (a few thousand multiply-adds per text, a
        few hundred thousand for a spaCy CNN: threads only add overhead) and onnxruntime's
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
            featurizer, vocabulary, arrays = read_featurizer(manifest, locate_checked)
            scores = numpy_linear(featurizer, vocabulary, arrays, len(classes))
            return cls(
                None, classes, None, kind=kind, precision=precision, engine=engine, scores=scores
            )
        if threads is None:
            threads = 0 if kind == "encoder" else 1
        graph = locate_checked(manifest[precision])
        session = _session(graph, threads)
        _check_signature(session, manifest, graph, len(classes))
        if kind == "linear":
            encode = linear_encoder(manifest, locate_checked, batch_size)
        elif kind == "spacy_bow":
            encode = spacy_bow_encoder(manifest, locate_checked, batch_size)
        elif kind == "spacy_tok2vec":
            encode = spacy_tok2vec_encoder(manifest, locate_checked, batch_size)
        else:
            encode = token_encoder(manifest, locate_checked, batch_size)
        return cls(session, classes, encode, kind=kind, precision=precision)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of shape (len(texts), n_classes), float64 like native backends."""
        if len(texts) and self.scores is not None:
            return self.scores(texts)
        return self._run(texts, (OUTPUT,))[0]

    def predict_proba_and_vectors(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_proba` and the graph's sentence vectors, from one run."""
        if not self.gives_vectors:
            raise ModelError(f"this {self.kind} graph does not output sentence vectors.")
        proba, vectors = self._run(texts, (OUTPUT, VECTORS))
        return proba, vectors

    def _run(self, texts: Sequence[str], outputs: tuple[str, ...]) -> list[np.ndarray]:
        """The graph's ``outputs`` for ``texts``, batch by batch, rows back in text order
        (probabilities as float64; an empty batch gives empty arrays)."""
        out = [np.zeros((len(texts), len(self.classes_)), dtype=np.float64)]
        if not len(texts):
            return out + [np.zeros((0, 0), dtype=np.float32)] * (len(outputs) - 1)
        assert self.encode is not None
        feeds, order = self.encode(texts)
        start = 0
        for feed in feeds:
            batch = self.session.run(list(outputs), feed)
            if len(out) < len(outputs):  # the other outputs' widths are known from a batch
                out += [np.zeros((len(texts), b.shape[1]), dtype=b.dtype) for b in batch[1:]]
            rows = order[start : start + len(batch[0])]
            for whole, part in zip(out, batch, strict=True):
                whole[rows] = part
            start += len(batch[0])
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

    def __init__(
        self,
        members: Sequence[OnnxModel],
        weights: Sequence[float],
        *,
        precision: str,
        temperature: float = 1.0,
    ):
        self.members = list(members)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.temperature = temperature
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
        # manifests written before stacks had a temperature mixed without one
        temperature = manifest.get("temperature", 1.0)
        if not valid_temperature(temperature):
            raise ModelError(
                f"{model_dir / MANIFEST_FILE} gives the stack a malformed temperature "
                f"{temperature!r} (a positive number).",
                hint=f"re-export with `intently export {model_dir}`.",
            )
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
        if precision == "int8" and int8_refused(manifest):
            raise ModelError(
                f"the int8 mix of the stack in {model_dir} failed its parity check at export "
                f"({manifest['parity']['int8']['agreement']:.2%} agreement); only fp32 serves it.",
                hint="load it with precision='fp32' or 'auto'.",
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
        return cls(members, weights, precision=precision, temperature=temperature)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.empty((0, len(self.classes_)))
        return mix([m.predict_proba(texts) for m in self.members], self.weights, self.temperature)

    @property
    def gives_vectors(self) -> bool:
        return any(m.gives_vectors for m in self.members)

    def predict_proba_and_vectors(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_proba` and the sentence vectors of the first member whose graph
        outputs them (the native stack's ``vector_member_``)."""
        if not self.gives_vectors:
            raise ModelError("no member graph of this stack outputs sentence vectors.")
        return mix_with_vectors(self.members, self.weights, self.temperature, texts)

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
