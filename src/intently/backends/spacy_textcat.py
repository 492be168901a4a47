"""``spacy``: an exclusive spaCy ``textcat`` trained by spaCy's own loop, saved as a normal
spaCy pipeline folder.

The config is generated from the backend's parameters (:mod:`intently.backends.spacy_config`:
``bow``, ``cnn``, ``reduce`` or spaCy's default ``ensemble``; a blank ``language`` pipeline or
a ``base_model`` whose components are kept frozen) or read verbatim from ``config``
(``training.spacy_config`` in the project file). Training (:mod:`intently.backends.spacy_train`)
keeps the components of the best validation score; without a validation split a stratified
``holdout`` of the training data plays that part. ``patience`` counts epochs without a better
validation score and is converted to spaCy's update steps. The validation probabilities handed
to the out-of-scope threshold tuner are cross-fitted: each fold of the validation texts is
predicted by the checkpoint that scores best on the other folds
(:mod:`intently.evaluation.selection`), recorded at every evaluation.

Saved as ``spacy_pipeline/`` (``spacy.load`` reads it; ``nlp(text).cats`` are the
probabilities) plus ``spacy_model.json`` (labels, parameters, the spaCy version). Loading a
model saved under another spaCy version warns (:class:`SpacyVersionWarning`); nothing is
unpickled (spaCy stores msgpack and JSON). ``export_onnx`` exports ``TextCatBOW``
(:mod:`intently.backends.spacy_export`) and the ``cnn``, ``reduce`` and ``ensemble``
architectures (:mod:`intently.backends.spacy_tok2vec_export`); preprocessor spec in
docs/SPACY_ONNX.md.

BOW defaults, chosen on validation data only (``bench/spacy_bow_validation.py``: trained on
90% of BANKING77's train split, scored on the other 10%, stratified, seed 0; in brackets the
backend's own early-stopping hold-out score): unigrams, 65,536 rows, Adam 0.005, batches
64 → 256 (x1.01 a step) and ``lowercase`` 0.867 (0.874), against 0.860 (0.871) on texts as
they are. SNIPS valid 0.980 vs 0.981 (one text of 700, and 0.9832 vs 0.9840 on a stratified
10% of train) and test 0.9743 vs 0.9843: its texts name artists, films and places, so "auto"
keeps the case where capitals mark names (:func:`case_marks_names`); CLINC150 is all lower
case already.
Tried and not better: cross-entropy in place of spaCy's squared error on the softmax
probabilities 0.857 (0.861), with Adam 0.002 0.856 (0.862); with ``lowercase``, Adam 0.01
0.860 (0.875), Adam 0.0025 0.870 (0.864), bigrams in 131,072 rows 0.865 (0.870) in twice
the time, and a refit on all the data for the best epoch count 0.866 in twice the time.
Earlier runs scored on BANKING77's test split (before that rule): bigrams (Adam 0.01) 0.868;
32,768 rows 0.875; batches 128 → 512 (Adam 0.02) 0.869; parameter averaging 0.875 in 2x
the time; the defaults 0.877. Every update step costs time in proportion to the table (Adam
visits every row: 262,144 rows, spaCy's default, made a step ~4x slower than 65,536), so
the table is smaller than spaCy's. Dropout does nothing to BOW (no layer of it drops).

The ensemble (same splits; BANKING77 / SNIPS): the defaults 0.845 / 0.986, lower-cased 0.859 /
0.973 — the case choice goes the same way as for BOW, so "auto" applies to every generated
architecture; Adam 0.002 0.851 / 0.986, 20 epochs with patience 3 0.851 / 0.986, Adam 0.001
for 20 epochs 0.854 / 0.980 (not adopted: within a few texts, and slower). ``cnn`` on
BANKING77: 0.8485 either way (lower-cased stopped earlier: 42 s vs 80 s).
"""

from __future__ import annotations

import inspect
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from intently.backends.base import ProgressFn
from intently.backends.fitting import check_fit_inputs, holdout_split, usable_valid
from intently.backends.spacy_config import (
    LoopSettings,
    build_config,
    component_of,
    read_config,
    steps_per_epoch,
    textcat_model,
)
from intently.backends.spacy_train import WEIGHT_KEY, init_pipeline, train_pipeline
from intently.errors import ModelError
from intently.evaluation.selection import cross_fitted_candidates
from intently.runtime.model_files import check_classes, check_format
from intently.spec.params import check_backend_params

FORMAT = "intently.spacy.v1"
PIPELINE_DIR = "spacy_pipeline"
STATE_FILE = "spacy_model.json"
_BATCH = 256


class SpacyVersionWarning(UserWarning):
    """A spaCy model saved by another spaCy version than the one loading it."""


class SpacyBackend:
    """Exclusive spaCy text classifier.

    Parameters
    ----------
    config : str, optional
        A spaCy ``config.cfg`` used verbatim (its pipeline must have one ``textcat``); the
        architecture and loop parameters below are then ignored.
    architecture : {"bow", "cnn", "reduce", "ensemble"}, default "bow"
    base_model : str, optional
        An installed pipeline (``en_core_web_sm``) or a pipeline folder to build on.
    language : str, default "en"
        Language of the blank pipeline when there is no ``base_model``.
    ngram_size, length : int
        BOW n-gram order and hash table rows.
    width, depth, embed_size : int
        Tok2vec size of the cnn, reduce and ensemble architectures.
    dropout, learn_rate : float
    batch_size : (int, int), batch_compound : float
        Compounding batch sizes: from the first to the second, times ``batch_compound`` a step.
    max_epochs, patience : int
        Passes over the data; epochs without a better validation score before stopping (0:
        never stop early).
    min_steps : int, default 400
        Update steps a fit may take however small the data: when ``max_epochs`` passes hold
        fewer, each of the ``max_epochs`` evaluation periods (and ``patience``) lasts
        ``min_steps / max_epochs`` steps instead of one pass, so a project of a few hundred
        examples is not stopped after a few dozen updates. 400 was chosen on 12 small
        projects drawn from the shared datasets' train splits (``bench/spacy_small_data.py``,
        rule declared first): mean accuracy 0.7158 with 0, 0.7381 with 400, 0.7364 with 800.
        It leaves those datasets' own training alone (89–122 steps a pass).
    holdout : float
        Share of the training data held out for early stopping when no validation split is
        given (0: keep the last epoch).
    lowercase : bool or "auto", default "auto"
        The pipeline reads ``text.lower()``, in training and prediction. TextCatBOW's
        n-grams are case-sensitive ORTH strings, so "Card" and "card" are otherwise two
        features. "auto" decides at ``fit`` for a generated config
        (:func:`case_marks_names`: lower-case unless capitals mark names and titles in the
        training texts); a verbatim config keeps the case. Such a saved pipeline is called
        as ``nlp(text.lower())``; the ONNX preprocessor lower-cases too.
    seed : int
    """

    name: ClassVar[str] = "spacy"

    def __init__(
        self,
        *,
        config: str | None = None,
        architecture: str = "bow",
        base_model: str | None = None,
        language: str = "en",
        ngram_size: int = 1,
        length: int = 65536,
        width: int = 64,
        depth: int = 2,
        embed_size: int = 2000,
        dropout: float = 0.2,
        learn_rate: float = 0.005,
        batch_size: Sequence[int] = (64, 256),
        batch_compound: float = 1.01,
        max_epochs: int = 10,
        patience: int = 2,
        min_steps: int = 400,
        holdout: float = 0.1,
        lowercase: bool | str = "auto",
        seed: int = 13,
    ):
        self.config = config
        self.architecture = architecture
        self.base_model = base_model
        self.language = language
        self.ngram_size = ngram_size
        self.length = length
        self.width = width
        self.depth = depth
        self.embed_size = embed_size
        self.dropout = dropout
        self.learn_rate = learn_rate
        self.batch_size = batch_size
        self.batch_compound = batch_compound
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_steps = min_steps
        self.holdout = holdout
        self.lowercase = lowercase
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        params = {key: getattr(self, key) for key in _PARAM_NAMES}
        params["batch_size"] = list(self.batch_size)
        return params

    def spacy_config(self, n_train: int) -> Any:
        """The spaCy config ``fit`` trains with on ``n_train`` examples: ``config`` read
        verbatim, or one generated from the parameters (``eval_frequency`` one epoch, or
        ``min_steps / max_epochs`` steps when that is longer)."""
        if self.config is not None:
            config = read_config(self.config)
            config.setdefault("training", {})["seed"] = self.seed  # the project's seed rules
            return config
        settings = LoopSettings(
            dropout=self.dropout,
            learn_rate=self.learn_rate,
            batch_start=int(self.batch_size[0]),
            batch_stop=int(self.batch_size[1]),
            batch_compound=self.batch_compound,
            max_epochs=self.max_epochs,
            seed=self.seed,
        )
        epoch = steps_per_epoch(settings, n_train)
        period = max(epoch, -(-self.min_steps // max(self.max_epochs, 1)))
        loop = {"eval_frequency": period, "patience": self.patience * period}
        if period > epoch:  # small data: max_epochs periods of min_steps / max_epochs steps
            loop |= {"max_epochs": 0, "max_steps": period * self.max_epochs}
        settings = LoopSettings(**{**vars(settings), **loop})
        model = textcat_model(
            self.architecture,
            ngram_size=self.ngram_size,
            length=self.length,
            width=self.width,
            embed_size=self.embed_size,
            depth=self.depth,
        )
        return build_config(
            component="textcat",
            factory="textcat",
            model=model,
            settings=settings,
            language=self.language,
            base_model=self.base_model,
            component_config={"threshold": 0.0},
            score_weights={"cats_score": 1.0},
        )

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        weights: np.ndarray | None = None,
        *,
        valid: tuple[Sequence[str], Sequence[str]] | None = None,
        progress: ProgressFn | None = None,
    ) -> Self:
        check_backend_params(self)
        texts, labels, weights, classes = check_fit_inputs(texts, labels, weights)
        valid_texts, valid_labels = usable_valid(valid, classes)
        self.lowercase_ = self.decide_lowercase(texts)
        if not valid_texts and self.holdout > 0:
            train_rows, held_rows = holdout_split(labels, self.holdout, self.seed)
            valid_texts = [texts[i] for i in held_rows]
            valid_labels = [labels[i] for i in held_rows]
            texts = [texts[i] for i in train_rows]
            labels = [labels[i] for i in train_rows]
            weights = weights[train_rows]
        config = self.spacy_config(len(texts))
        component = component_of(config, "textcat", self.config or "the generated config")
        report = progress or (lambda _step, _done: None)
        report("building the spaCy pipeline", 0.0)

        def make_examples(nlp: Any) -> list[Any]:
            return _examples(nlp, self._model_texts(texts), labels, classes, weights)

        nlp, train_examples = init_pipeline(config, make_examples)
        valid_examples = _examples(nlp, self._model_texts(valid_texts), valid_labels, classes, None)
        checkpoint_proba: list[np.ndarray] = []
        outcome = train_pipeline(
            nlp,
            train_examples,
            valid_examples,
            progress=report,
            weighted=bool(np.any(weights != 1.0)),
            after_evaluation=lambda scored: checkpoint_proba.append(
                self._proba(scored, classes, valid_texts)
            ),
        )
        self.nlp_ = nlp
        self.component_ = component
        self.classes_ = classes
        self.validation_proba_ = None
        threshold_rows: dict[str, Any] = {}
        if valid_texts:
            valid_targets = np.searchsorted(classes, np.asarray(valid_labels, dtype=object))
            self.validation_proba_, fold_checkpoints = cross_fitted_candidates(
                checkpoint_proba, valid_targets, latest=True, seed=self.seed
            )
            threshold_rows = {
                "validation_steps_by_fold": [outcome.checkpoints[c][1] for c in fold_checkpoints]
            }
        self.fit_info_ = {
            "component": component,
            "architecture": self.architecture_,
            "pipeline": list(nlp.pipe_names),
            "lowercase": self.lowercase_,
            **outcome.to_json(),
            **threshold_rows,
        }
        report("done", 1.0)
        return self

    @property
    def architecture_(self) -> str:
        """The registered name of the fitted textcat's model (``spacy.TextCatBOW.v3``, ...)."""
        return str(self.nlp_.config["components"][self.component_]["model"]["@architectures"])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``nlp(text).cats`` for each text, columns in ``classes_`` order; only the
        components the textcat needs run (frozen base components do not)."""
        return self._proba(self.nlp_, self.classes_, texts)

    def _proba(self, nlp: Any, classes: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(classes)))
        if not len(texts):
            return out
        with nlp.select_pipes(disable=_idle_components(nlp)):
            for row, doc in enumerate(nlp.pipe(self._model_texts(texts), batch_size=_BATCH)):
                cats = doc.cats
                out[row] = [cats.get(label, 0.0) for label in classes]
        return out

    def decide_lowercase(self, texts: Sequence[str]) -> bool:
        """Whether a pipeline fitted on ``texts`` reads them lower-cased: ``lowercase`` when
        given; for "auto", a generated config lower-cases unless :func:`case_marks_names`
        (chosen on validation data, module docstring), and a verbatim config is read as
        spaCy would read it."""
        if self.lowercase != "auto":
            return bool(self.lowercase)
        return self.config is None and not case_marks_names(texts)

    @property
    def reads_lowercase(self) -> bool:
        """Whether the fitted pipeline reads lower-cased texts."""
        return self.lowercase_

    def _model_texts(self, texts: Sequence[str]) -> list[str]:
        """What the pipeline reads: the texts, lower-cased when :attr:`reads_lowercase`."""
        return [text.lower() for text in texts] if self.reads_lowercase else list(texts)

    def save(self, directory: Path) -> None:
        import spacy

        directory = Path(directory)
        self.nlp_.to_disk(directory / PIPELINE_DIR)
        state = {
            "format": FORMAT,
            "classes": list(self.classes_),
            "component": self.component_,
            "spacy_version": spacy.__version__,
            "params": self.get_params(),
            "fit_info": self.fit_info_,
        }
        (directory / STATE_FILE).write_text(json.dumps(state, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, directory: Path) -> Self:
        import spacy

        directory = Path(directory)
        try:
            state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(
                f"spacy model file missing: {STATE_FILE} in {directory}.",
                hint="re-train the model; the directory is incomplete.",
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{directory / STATE_FILE} is corrupt ({exc}).") from None
        check_format(state, FORMAT, "spacy")
        check_classes(state.get("classes"), directory, "spacy")
        saved = state.get("spacy_version")
        if saved != spacy.__version__:
            warnings.warn(
                f"the spaCy model in {directory} was saved with spaCy {saved}; this is "
                f"spaCy {spacy.__version__}. Its predictions may differ: re-train it, or "
                f"install spacy=={saved}.",
                SpacyVersionWarning,
                stacklevel=2,
            )
        params = {k: v for k, v in state.get("params", {}).items() if k in _PARAM_NAMES}
        lowercase = _saved_lowercase(state, params)
        if params.get("lowercase") is None:  # saved before "auto"
            params["lowercase"] = lowercase
        model = cls(**params)
        model.lowercase_ = lowercase
        try:
            model.nlp_ = spacy.load(directory / PIPELINE_DIR)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(
                f"cannot load the spaCy pipeline in {directory / PIPELINE_DIR}: {exc}.",
                hint="re-train the model or deploy another version.",
            ) from None
        model.component_ = str(state["component"])
        model.classes_ = tuple(state["classes"])
        model.validation_proba_ = None
        model.fit_info_ = state.get("fit_info")
        if set(model.nlp_.get_pipe(model.component_).labels) != set(model.classes_):
            raise ModelError(
                f"the textcat in {directory / PIPELINE_DIR} has labels that differ from "
                f"{STATE_FILE}'s.",
                hint="re-train the model.",
            )
        return model

    def export_onnx(self, directory: Path) -> dict[str, Any]:
        """``TextCatBOW`` as a sparse linear graph, ``TextCatReduce``/``CNN``/``Ensemble`` as
        their tok2vec graph, fed by the spaCy preprocessor (see
        :func:`intently.backends.spacy_export.export_textcat`)."""
        from intently.backends.spacy_export import export_textcat

        return export_textcat(
            self.nlp_,
            self.component_,
            self.classes_,
            Path(directory),
            lowercase=self.reads_lowercase,
        )


_PARAM_NAMES = tuple(inspect.signature(SpacyBackend.__init__).parameters)[1:]

NAMES_SHARE = 0.1
"""Share of Title-case words (past each text's first) from which capitals count as names."""
_WORD = re.compile(r"[^\W\d_]+")


def case_marks_names(texts: Sequence[str]) -> bool:
    """Whether capitals carry meaning in ``texts``: at least :data:`NAMES_SHARE` of the words
    after each text's first are Title-case ("Kanye", not "ATM" or "I"), as where texts name
    artists, films and places (SNIPS train: 24%), rather than only starting sentences
    (BANKING77: 2%; CLINC150: 0%). On validation data lower-casing won on BANKING77 and
    lost on SNIPS, for BOW (0.867 vs 0.860; 0.980 vs 0.981) and for the ensemble (0.859 vs
    0.845; 0.973 vs 0.986): module docstring."""
    words = capitalised = 0
    for text in texts:
        inner = _WORD.findall(text)[1:]
        words += len(inner)
        capitalised += sum(1 for word in inner if word[0].isupper() and not word.isupper())
    return words > 0 and capitalised >= NAMES_SHARE * words


def _saved_lowercase(state: dict[str, Any], params: dict[str, Any]) -> bool:
    """What a saved pipeline reads: the fit's decision, or for a model saved before "auto",
    its ``lowercase`` parameter (None then meant: a generated ``bow``; absent: as-is)."""
    decided = (state.get("fit_info") or {}).get("lowercase")
    if isinstance(decided, bool):
        return decided
    saved = params.get("lowercase", False)
    if saved is None:
        return params.get("config") is None and params.get("architecture", "bow") == "bow"
    return bool(saved)


def _examples(
    nlp: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    classes: Sequence[str],
    weights: np.ndarray | None,
) -> list[Any]:
    """spaCy ``Example``\\ s with one-hot ``cats`` (label order: ``classes``) and, when given,
    each text's weight in ``user_data``."""
    from spacy.training import Example

    examples = []
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        doc = nlp.make_doc(text)
        example = Example.from_dict(doc, {"cats": {c: float(c == label) for c in classes}})
        if weights is not None:
            example.reference.user_data[WEIGHT_KEY] = float(weights[i])
        examples.append(example)
    return examples


def _idle_components(nlp: Any) -> list[str]:
    """Frozen components nothing listens to: they do not change the textcat's answer."""
    training = nlp.config.get("training", {})
    annotating = set(training.get("annotating_components", []))
    return [
        name
        for name in training.get("frozen_components", [])
        if name not in annotating and name in nlp.pipe_names
    ]
