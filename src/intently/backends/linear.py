"""``linear``: word (1-2) + char_wb (2-5) n-gram TF-IDF with a linear SVM and temperature scaling.

Chosen by benchmark (docs/BENCHMARKS.md): a class-balanced LinearSVC beat LogisticRegression on
BANKING77 (0.915 vs 0.915 at C=30, 3 s vs 19 s to fit), and ``CalibratedClassifierCV`` costs 3-5
extra fits. Instead the SVM margins go through a softmax whose temperature is fitted on held-out
data (validation split, or a 15% hold-out when none is given), then the model is refit on all
the data. The validation probabilities handed to the out-of-scope threshold tuner are
cross-fitted: each fold of the validation texts is scaled by the temperature fitted on the
other folds (``intently.evaluation.selection``). Saved as JSON + ``.npz`` (no pickle);
predicting goes through ``intently.runtime.linear_scores`` and needs only NumPy.
``export_onnx`` writes the linear layer as an ONNX graph; the featurizer's files are shared
with the native model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from scipy import sparse

from intently.backends.base import ONNX_OPSET, ONNX_OUTPUT, ProgressFn
from intently.backends.fitting import (
    check_fit_inputs,
    fit_scale,
    holdout_split,
    softmax,
    usable_valid,
)
from intently.backends.sparse_graph import save_rows_graph
from intently.backends.text_features import fit_space
from intently.errors import ModelError, TrainingError
from intently.evaluation.selection import cross_fitted
from intently.runtime.featurize import FeatureSpace, Featurizer
from intently.runtime.linear_scores import LinearScorer
from intently.runtime.model_files import check_format, read_files, rebuild
from intently.spec.params import check_backend_params

FORMAT = "intently.linear.v1"
_VOCAB_FILE = "linear_vocabulary.json"
_WEIGHTS_FILE = "linear_weights.npz"
_PRIOR_SCALE = 5.0


def fit_temperature(scores: np.ndarray, targets: np.ndarray) -> float:
    """Inverse temperature minimising the negative log-likelihood of ``targets``; its prior is
    centred on the scale typical of these margins (:func:`fit_scale`)."""
    return fit_scale(scores, targets, prior_scale=_PRIOR_SCALE, upper=200.0)


class LinearBackend:
    """TF-IDF n-grams + class-balanced linear SVM, probabilities by temperature scaling.

    Parameters
    ----------
    classifier : "svm" or "logreg", default "svm"
        Linear SVM (LinearSVC) or logistic regression on the same features.
    C : float, default 1.0
        Inverse regularisation strength of the SVM.
    word_ngrams, char_ngrams : (int, int)
        n-gram ranges of the word and char_wb spaces; ``char_ngrams=None`` disables chars.
    char_weight : float, default 1.0
        Scale of the char space relative to the word space.
    class_weight : "balanced" or None
        Reweight classes inversely to their frequency.
    multi_class : "ovr" or "crammer_singer"
        One-vs-rest (fast) or the joint multiclass SVM (slower, sometimes more accurate).
    min_df : int, default 1
        Drop n-grams seen in fewer training texts.
    holdout : float, default 0.15
        Share held out for temperature fitting when no validation data is given.
    seed : int
    """

    name: ClassVar[str] = "linear"

    def __init__(
        self,
        *,
        classifier: str = "svm",
        C: float = 1.0,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        char_weight: float = 1.0,
        class_weight: str | None = "balanced",
        multi_class: str = "ovr",
        min_df: int = 1,
        holdout: float = 0.15,
        seed: int = 13,
    ):
        self.classifier = classifier
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.char_weight = char_weight
        self.class_weight = class_weight
        self.multi_class = multi_class
        self.min_df = min_df
        self.holdout = holdout
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier,
            "C": self.C,
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams) if self.char_ngrams else None,
            "char_weight": self.char_weight,
            "class_weight": self.class_weight,
            "multi_class": self.multi_class,
            "min_df": self.min_df,
            "holdout": self.holdout,
            "seed": self.seed,
        }

    # -- training -------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        weights: np.ndarray | None = None,
        *,
        valid: tuple[Sequence[str], Sequence[str]] | None = None,
        progress: ProgressFn | None = None,
    ) -> Self:
        report = progress or (lambda _step, _done: None)
        check_backend_params(self)
        texts, labels, weights, classes = check_fit_inputs(texts, labels, weights)
        valid_texts, valid_labels = usable_valid(valid, classes)
        use_valid = bool(valid_texts)
        if use_valid:
            n_train = len(texts)
            all_texts = texts + valid_texts
            all_labels = labels + valid_labels
            all_weights = np.concatenate([weights, np.ones(len(valid_texts))])
            fit_rows = np.arange(n_train)
            held_rows = np.arange(n_train, len(all_texts))
        else:
            all_texts, all_labels, all_weights = texts, labels, weights
            fit_rows, held_rows = holdout_split(labels, self.holdout, self.seed)
        label_array = np.asarray(all_labels, dtype=object)
        self.validation_proba_: np.ndarray | None = None

        # Vocabulary and IDF come from every text (no labels involved), so one featurisation
        # serves both the calibration fit and the final fit. The two fits are independent; with
        # LogisticRegression they run side by side. liblinear (LinearSVC) draws from C's global
        # rand(), so two concurrent fits would interleave their random streams and break
        # determinism: they run one after the other.
        report("features", 0.05)
        featurizer, matrix = self._fit_features(all_texts)
        self.temperature_ = 1.0
        report("fitting", 0.3)
        workers = 2 if self.classifier == "logreg" else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            final = pool.submit(self._fit_linear, matrix, all_labels, all_weights, classes)
            if workers == 1:
                final.result()
            if len(held_rows):
                coef, intercept = self._fit_linear(
                    matrix[fit_rows], list(label_array[fit_rows]), all_weights[fit_rows], classes
                )
                scores = np.asarray(matrix[held_rows] @ coef.T) + intercept
                targets = np.searchsorted(classes, label_array[held_rows])
                self.temperature_ = fit_temperature(scores, targets)
                if use_valid:
                    self.validation_proba_, _ = cross_fitted(
                        targets,
                        lambda rows: fit_temperature(scores[rows], targets[rows]),
                        lambda temperature, rows: softmax(scores[rows] * temperature),
                        seed=self.seed,
                    )
                report("calibrated", 0.7)
            coef, intercept = final.result()
        self.classes_ = classes
        self.featurizer_ = featurizer
        self.coef_ = np.ascontiguousarray(coef.T, dtype=np.float32)  # (n_features, n_classes)
        self.intercept_ = intercept.astype(np.float32)
        report("done", 1.0)
        return self

    def _fit_features(self, texts: list[str]) -> tuple[Featurizer, sparse.csr_matrix]:
        spaces, blocks, scales = [], [], []
        ranges = [("word", tuple(self.word_ngrams), 1.0)]
        if self.char_ngrams:
            ranges.append(("char_wb", tuple(self.char_ngrams), self.char_weight))
        for analyzer, ngram_range, scale in ranges:
            space, matrix = fit_space(texts, analyzer, ngram_range, min_df=self.min_df)
            spaces.append(space)
            blocks.append(matrix * scale)
            scales.append(scale)
        return Featurizer(spaces, scales), sparse.hstack(blocks).tocsr()

    def _fit_linear(
        self,
        matrix: sparse.csr_matrix,
        labels: list[str],
        weights: np.ndarray,
        classes: tuple[str, ...],
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.classifier == "logreg":
            from sklearn.linear_model import LogisticRegression

            estimator = LogisticRegression(
                C=self.C, class_weight=self.class_weight, random_state=self.seed, max_iter=2000
            )
        else:
            from sklearn.svm import LinearSVC

            estimator = LinearSVC(
                C=self.C,
                class_weight=self.class_weight,
                multi_class=self.multi_class,
                random_state=self.seed,
                max_iter=5000,
            )
        estimator.fit(matrix, labels, sample_weight=weights)
        if tuple(estimator.classes_) != classes:
            raise TrainingError(
                "a label has no examples left after the hold-out split.",
                hint="give every label at least two examples.",
            )
        coef, intercept = estimator.coef_, estimator.intercept_
        if len(classes) == 2:  # binary model: one margin for the positive class
            coef = np.vstack([-coef[0], coef[0]]) / 2
            intercept = np.array([-intercept[0], intercept[0]]) / 2
        return coef, intercept

    # -- prediction -----------------------------------------------------------------------

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """SVM margins of shape (len(texts), n_classes), through the runtime featurizer."""
        learned = (self.featurizer_, self.coef_, self.intercept_)
        cached = self.__dict__.get("_scorer")
        if cached is None or any(a is not b for a, b in zip(cached[0], learned, strict=True)):
            cached = self._scorer = (learned, LinearScorer(*learned))  # refit or reloaded
        return cached[1].decision_function(texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.decision_function(texts) * self.temperature_)

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        vocab = {
            "format": FORMAT,
            "spaces": [s.to_json() for s in self.featurizer_.spaces],
            "space_weights": list(self.featurizer_.weights),
            "classes": list(self.classes_),
            "temperature": self.temperature_,
            "params": self.get_params(),
        }
        (directory / _VOCAB_FILE).write_text(
            json.dumps(vocab, ensure_ascii=False), encoding="utf-8"
        )
        arrays = {f"idf_{i}": s.idf for i, s in enumerate(self.featurizer_.spaces)}
        np.savez_compressed(
            directory / _WEIGHTS_FILE, coef=self.coef_, intercept=self.intercept_, **arrays
        )

    def export_onnx(self, directory: Path) -> dict[str, Any]:
        """Write the linear layer as ``model.onnx``; the featurizer stays in Python.

        Inputs ``indices`` (int64) and ``values`` (float32), both ``[batch, L]``, hold each
        text's ``Featurizer.sparse_row`` padded with index ``n_features`` (an all-zero row) and
        value 0; the graph (:func:`~intently.backends.sparse_graph.save_rows_graph`) computes
        ``softmax((Σ_l values · coef[indices] + intercept) · temperature)``.
        """
        n_features, n_classes = self.coef_.shape
        save_rows_graph(
            Path(directory),
            table=np.vstack([self.coef_, np.zeros((1, n_classes))]),
            intercept=self.intercept_,
            temperature=self.temperature_,
            inputs=("indices", "values"),
            name="intently_linear",
            doc=f"{FORMAT}: {n_features} TF-IDF features -> {n_classes} classes",
        )
        return {
            "kind": "linear",
            "inputs": ["indices", "values"],
            "output": ONNX_OUTPUT,
            "opset": ONNX_OPSET,
            "n_features": int(n_features),
            "featurizer": {"vocabulary": _VOCAB_FILE, "arrays": _WEIGHTS_FILE},
        }

    @classmethod
    def load(cls, directory: Path) -> Self:
        directory = Path(directory)
        vocab, loaded = read_files(directory, "linear", _VOCAB_FILE, _WEIGHTS_FILE)
        return rebuild("linear", directory, lambda: cls._from_files(directory, vocab, loaded))

    @classmethod
    def _from_files(cls, directory: Path, vocab: Any, loaded: dict[str, np.ndarray]) -> Self:
        check_format(vocab, FORMAT, "linear")
        model = cls(**_params_from_json(vocab["params"]))
        spaces = []
        for i, space in enumerate(vocab["spaces"]):
            terms = space["terms"]
            idf = loaded.get(f"idf_{i}")
            if idf is None or idf.shape != (len(terms),):
                raise ModelError(
                    f"linear model in {directory}: IDF of space {i} does not match "
                    f"its {len(terms)} terms.",
                    hint="re-train the model.",
                )
            spaces.append(
                FeatureSpace(
                    space["analyzer"],
                    tuple(space["ngram_range"]),
                    {t: j for j, t in enumerate(terms)},
                    idf,
                )
            )
        featurizer = Featurizer(spaces, vocab["space_weights"])
        coef, intercept = loaded.get("coef"), loaded.get("intercept")
        if (
            coef is None
            or intercept is None
            or coef.ndim != 2
            or coef.shape[0] != featurizer.n_features
            or intercept.shape != coef.shape[1:]
        ):
            raise ModelError(
                f"linear model in {directory}: weight shapes do not match the "
                f"{featurizer.n_features} features.",
                hint="re-train the model.",
            )
        model.featurizer_ = featurizer
        model.coef_ = coef.astype(np.float32)
        model.intercept_ = intercept.astype(np.float32)
        model.classes_ = tuple(vocab["classes"])
        if len(model.classes_) != coef.shape[1]:
            raise ModelError(
                f"linear model in {directory} lists {len(model.classes_)} classes "
                f"but has {coef.shape[1]} weight columns.",
                hint="re-train the model.",
            )
        model.temperature_ = float(vocab["temperature"])
        model.validation_proba_ = None
        return model


def _params_from_json(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in ("word_ngrams", "char_ngrams"):
        if out.get(key) is not None:
            out[key] = tuple(out[key])
    return out
