"""``stack``: a weighted average of the probabilities of several backends.

Each member is fitted on the same data; the weights are either given or learned by a grid
search over the weight simplex on *cross-fitted* probabilities: each member is refitted on
``folds`` folds of train + valid and predicts the fold it did not see
(:func:`intently.evaluation.crossval.out_of_fold_proba`), and the weights are those whose mix
classifies most of those rows right (ties: the higher log-likelihood). Accuracy, not
log-likelihood, is the objective because the members' probabilities are calibrated unequally:
on CLINC150's out-of-fold rows the log-likelihood optimum (0.55 linear / 0.45 embedding) was
less accurate than the embedding member alone (0.9624 vs 0.9662 in nested cross-validation),
the accuracy optimum more accurate than either (0.9726); docs/BENCHMARKS.md. A member's own
``validation_proba_`` would not do: a transformer early-stops on the validation split, so its
probabilities there are better than they will be on new data, and weights learned on them
favour it. An average of probabilities is less confident than its members (BANKING77's
linear + embedding mix: expected calibration error 0.065 on its out-of-fold rows), so the mix
then gets one temperature, fitted on the same out-of-fold rows by log-likelihood
(:func:`fit_temperature`; 0.0056 there): it changes confidences, never the top class, so the
weights' accuracy is untouched. Sharpening also re-ranks texts by confidence (a diffuse row
gains more than one split between two intents), so the out-of-scope threshold reads the mix
with the temperature undone (``fallback_temperature_``). The stack's ``validation_proba_`` are
the mixed, tempered out-of-fold rows of the validation texts, so that threshold is tuned on
cross-fitted predictions too. Members are saved
in ``member_<i>/`` subfolders with their own (pickle-free) files; ``intently export`` exports
each member there and the ONNX runtime mixes the members' graphs with the same weights and
temperature (:func:`intently.runtime.mixing.mix`, shared by both). With an ``embedding``
member the stack also gives that member's sentence vectors (``predict_proba_and_vectors``), which
the out-of-scope novelty reads (:mod:`intently.runtime.novelty`, tuned by ``intently train``).

A one-standard-error rule (the best single member unless the most accurate mix beats it by
more than the paired standard error of the gain) was measured and not adopted: on the full
SNIPS, BANKING77 and CLINC150 out-of-fold rows it picks the same mixes, and on small samples of
those rows, where it falls back, it is less accurate on the other rows (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from intently.backends.base import (
    Backend,
    ProgressFn,
    backend_class,
    fit_predict,
    make_backend,
)
from intently.backends.fitting import fit_scale
from intently.data import Dataset, Example
from intently.errors import ModelError, TrainingError
from intently.evaluation.crossval import out_of_fold_proba
from intently.evaluation.metrics import expected_calibration_error
from intently.runtime.mixing import (
    mix,
    mix_with_vectors,
    retemper,
    valid_temperature,
    vector_member,
)
from intently.spec.params import check_backend_params

FORMAT = "intently.stack.v1"
_STACK_FILE = "stack.json"
_GRID_STEPS = 20


def member_dir(index: int) -> str:
    """The subfolder of a saved stack that holds member ``index``."""
    return f"member_{index}"


class StackBackend:
    """Average of member probabilities.

    Parameters
    ----------
    members : list of {"backend": name, "params": {...}}
        At least two; default linear + embedding.
    weights : "auto" or list of float
        "auto" learns them on out-of-fold probabilities of train + valid.
    folds : int, default 5
        Folds of that cross-fitting (each member is fitted ``folds + 1`` times).
    seed : int

    Attributes
    ----------
    temperature_ : float
        Applied to the mix (:func:`fit_temperature`: with learned weights on their out-of-fold
        rows; with given ones on the members' own validation rows, held out from their fits;
        1 without validation texts).
    fit_info_ : dict or None
        With learned weights, what they were chosen on (:func:`out_of_fold_report`); with given
        ones, the temperature fitted on the validation rows (:func:`calibration_report`); None
        without either. It goes into the version's record.
    """

    name: ClassVar[str] = "stack"

    def __init__(
        self,
        *,
        members: Sequence[dict[str, Any]] = (
            {"backend": "linear", "params": {}},
            {"backend": "embedding", "params": {}},
        ),
        weights: str | Sequence[float] = "auto",
        folds: int = 5,
        seed: int = 13,
    ):
        self.members = members
        self.weights = weights
        self.folds = folds
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {
            "members": [dict(m) for m in self.members],
            "weights": self.weights if isinstance(self.weights, str) else list(self.weights),
            "folds": self.folds,
            "seed": self.seed,
        }

    def _member_specs(self) -> list[tuple[str, dict[str, Any]]]:
        check_backend_params(self)  # also checks each member's params against its backend
        specs = [(str(m["backend"]), dict(m.get("params") or {})) for m in self.members]
        if not isinstance(self.weights, str) and len(self.weights) != len(specs):
            raise TrainingError(f"stack has {len(specs)} members but {len(self.weights)} weights.")
        return specs

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
        specs = self._member_specs()
        fitted: list[Backend] = []
        share = 1 / len(specs)
        for i, (name, params) in enumerate(specs):

            def member_progress(step: str, done: float, i: int = i, name: str = name) -> None:
                report(f"{name}: {step}", (i + done) * share * 0.95)

            member = make_backend(name, params, seed=self.seed)
            fitted.append(member.fit(texts, labels, weights, valid=valid, progress=member_progress))
        classes = tuple(fitted[0].classes_)
        for member in fitted[1:]:
            if tuple(member.classes_) != classes:
                raise TrainingError("stack members disagree on the label set.")
        self.members_ = fitted
        self.classes_ = classes
        self.validation_proba_: np.ndarray | None = None
        self.fit_info_: dict[str, Any] | None = None
        self.temperature_ = 1.0
        if isinstance(self.weights, str):
            examples, n_valid = training_examples(texts, labels, weights, valid, classes)
            report("cross-fitting the members for their weights", 0.95)
            crossed = [
                cross_fitted(name, params, examples, classes, folds=self.folds, seed=self.seed)
                for name, params in specs
            ]
            targets = np.searchsorted(classes, [e.label for e in examples])
            self.weights_ = learn_weights(crossed, targets)
            self.temperature_ = fit_temperature(mix(crossed, self.weights_), targets)
            self.fit_info_ = {
                "members": [name for name, _ in specs],
                **out_of_fold_report(crossed, targets, self.weights_, self.temperature_),
            }
            if n_valid:
                self.validation_proba_ = mix(
                    [p[-n_valid:] for p in crossed], self.weights_, self.temperature_
                )
        else:
            given = np.asarray(self.weights, dtype=float)
            self.weights_ = given / given.sum()
            validation = [m.validation_proba_ for m in fitted]
            if valid is not None and all(v is not None for v in validation):
                untempered = mix([np.asarray(v) for v in validation], self.weights_)
                known = np.isin(np.asarray(valid[1]), classes)
                if known.any():  # the members' own validation rows: held out from their fits
                    targets = np.searchsorted(classes, np.asarray(valid[1])[known])
                    mixed = untempered[known]
                    self.temperature_ = fit_temperature(mixed, targets)
                    self.fit_info_ = {
                        "members": [name for name, _ in specs],
                        "weights": [round(float(w), 4) for w in self.weights_],
                        **calibration_report(mixed, targets, self.temperature_),
                        "validation_rows": int(known.sum()),
                    }
                self.validation_proba_ = retemper(untempered, self.temperature_)
        report("done", 1.0)
        return self

    @property
    def fallback_temperature_(self) -> float:
        """The temperature the out-of-scope threshold reads undone (``FallbackRule``): on eight
        pseudo projects the mix before it caught more out-of-scope texts for the same in-scope
        budget (docs/BENCHMARKS.md)."""
        return self.temperature_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        # a member of weight 0 (given, or learned where one member alone is the most accurate)
        # changes nothing: skip its inference. It stays in members_, saved and exported, so
        # the saved format and the ONNX runtime (which needs two members) are unchanged.
        used = [i for i, w in enumerate(self.weights_) if w > 0]
        return mix(
            [self.members_[i].predict_proba(texts) for i in used],
            self.weights_[used],
            self.temperature_,
        )

    @property
    def vector_member_(self) -> int | None:
        """The member whose sentence vectors the out-of-scope novelty reads (the first that
        gives them: an ``embedding`` member); None when no member does."""
        return vector_member(self.members_)

    @property
    def gives_vectors(self) -> bool:
        return self.vector_member_ is not None

    def predict_proba_and_vectors(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_proba` and the sentence vectors of :attr:`vector_member_` (its
        encoder runs once for both)."""
        self._vector_member()
        return mix_with_vectors(self.members_, self.weights_, self.temperature_, texts)

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The sentence vectors of :attr:`vector_member_` alone (no other member runs)."""
        return self._vector_member().predict_proba_and_vectors(texts)[1]

    def _vector_member(self) -> Any:
        index = self.vector_member_
        if index is None:
            raise ModelError("no member of this stack gives sentence vectors.")
        return self.members_[index]

    def training_vectors(self, exclude: str) -> np.ndarray | None:
        """The vectors :attr:`vector_member_` computed for its training texts, without those
        labelled ``exclude`` (the out-of-scope label); None when it kept none."""
        index = self.vector_member_
        return None if index is None else self.members_[index].training_vectors(exclude)

    def export_members(self) -> list[tuple[str, Backend]]:
        """(subfolder, member) pairs: ``intently.export`` exports each member into the
        subfolder where :meth:`save` put its native files, and the runtime averages them."""
        return [(member_dir(i), member) for i, member in enumerate(self.members_)]

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        for i, member in enumerate(self.members_):
            sub = directory / member_dir(i)
            sub.mkdir()
            member.save(sub)
        (directory / _STACK_FILE).write_text(
            json.dumps(
                {
                    "format": FORMAT,
                    "classes": list(self.classes_),
                    "members": [m.name for m in self.members_],
                    "weights": self.weights_.tolist(),
                    "temperature": self.temperature_,
                    "params": self.get_params(),
                },
                indent=2,
            ),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, directory: Path) -> Self:
        directory = Path(directory)
        try:
            spec = json.loads((directory / _STACK_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(
                f"{directory} lacks {_STACK_FILE}.", hint="re-train the stack."
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(
                f"{directory / _STACK_FILE} is corrupt ({exc}).", hint="re-train the stack."
            ) from None
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise ModelError(f"{directory} is not a {FORMAT} model.", hint="re-train the stack.")
        model = cls(**spec["params"])
        model.members_ = [
            backend_class(name).load(directory / member_dir(i))
            for i, name in enumerate(spec["members"])
        ]
        model.classes_ = tuple(spec["classes"])
        model.weights_ = np.asarray(spec["weights"], dtype=float)
        # stacks saved before the temperature existed mixed without one
        model.temperature_ = spec.get("temperature", 1.0)
        if (
            len(model.weights_) != len(model.members_)
            or any(tuple(m.classes_) != model.classes_ for m in model.members_)
            or not valid_temperature(model.temperature_)
        ):
            raise ModelError(
                f"stack in {directory}: members, weights, temperature or labels disagree.",
                hint="re-train the stack.",
            )
        model.validation_proba_ = None
        return model


def training_examples(
    texts: Sequence[str],
    labels: Sequence[str],
    weights: np.ndarray | None,
    valid: tuple[Sequence[str], Sequence[str]] | None,
    classes: tuple[str, ...],
) -> tuple[list[Example], int]:
    """Train then valid texts (those of known labels) as examples, and how many are valid."""
    train_weights = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=float)
    examples = [
        Example(text, label, weight=float(w))
        for text, label, w in zip(texts, labels, train_weights, strict=True)
    ]
    known = set(classes)
    held = (
        []
        if valid is None
        else [
            Example(text, label, weight=1.0)
            for text, label in zip(*valid, strict=True)
            if label in known
        ]
    )
    return examples + held, len(held)


def cross_fitted(
    name: str,
    params: dict[str, Any],
    examples: Sequence[Example],
    classes: tuple[str, ...],
    *,
    folds: int,
    seed: int,
) -> np.ndarray:
    """Out-of-fold probabilities of member ``name`` for ``examples``, columns in ``classes``."""

    def fit_proba(dataset: Dataset, held: Sequence[Example]) -> tuple[Sequence[str], np.ndarray]:
        return fit_predict(name, params, dataset, [e.text for e in held], seed=seed)

    k = min(folds, min(Counter(e.label for e in examples).values()))
    if k < 2:  # a label with one example: no fold can hold it out and still learn it
        raise TrainingError(
            "the stack learns its weights on cross-fitted predictions, which needs every label "
            "to have at least 2 examples.",
            hint="add examples, or give fixed weights (params.weights: [0.5, 0.5]).",
        )
    crossed = out_of_fold_proba(examples, fit_proba, k=k, seed=seed)
    order = [crossed.classes.index(label) for label in classes]
    return crossed.proba[:, order]


def fit_temperature(mixed: np.ndarray, targets: np.ndarray) -> float:
    """The temperature of :func:`~intently.runtime.mixing.mix` maximising the log-likelihood
    of ``targets`` under the (untempered) ``mixed`` probabilities, in [0.05, 20]; its prior is
    centred on 1, no change (:func:`~intently.backends.fitting.fit_scale`)."""
    log_p = np.log(np.maximum(mixed, 1e-300))
    return 1.0 / fit_scale(log_p, targets, prior_scale=1.0, upper=20.0)


def out_of_fold_report(
    probas: Sequence[np.ndarray], targets: np.ndarray, weights: np.ndarray, temperature: float
) -> dict[str, Any]:
    """What the learned weights and temperature were chosen on, for the model's record: the
    out-of-fold accuracy of each member, of the equal average and of the learned mix, and the
    mix's expected calibration error before and after the temperature. The equal average
    fits nothing; the mix's figures are optimistic by their choice on these same rows, so a
    mix barely above the equal average is no evidence that the weights help."""

    def accuracy(proba: np.ndarray) -> float:
        return round(float(np.mean(proba.argmax(axis=1) == targets)), 4)

    mixed = mix(probas, weights)
    return {
        "weights": [round(float(w), 4) for w in weights],
        **calibration_report(mixed, targets, temperature),
        "out_of_fold_rows": len(targets),
        "out_of_fold_accuracy": {
            "members": [accuracy(p) for p in probas],
            "equal_average": accuracy(mix(probas, np.full(len(probas), 1 / len(probas)))),
            "learned_weights": accuracy(mixed),
        },
    }


def calibration_report(mixed: np.ndarray, targets: np.ndarray, temperature: float) -> dict:
    """The temperature and the expected calibration error of the ``mixed`` rows before and
    after it, for the model's record."""

    def calibration_error(proba: np.ndarray) -> float:
        right = proba.argmax(axis=1) == targets
        return round(expected_calibration_error(proba.max(axis=1), right), 4)

    return {
        "temperature": round(temperature, 4),
        "calibration_error": {
            "untempered": calibration_error(mixed),
            "tempered": calibration_error(retemper(mixed, temperature)),
        },
    }


def learn_weights(probas: Sequence[np.ndarray], targets: np.ndarray) -> np.ndarray:
    """Simplex grid (step 1/20): the weights whose mix of ``probas`` has the highest accuracy on
    ``targets``, ties broken by the mean log-likelihood (the smoother of the two)."""
    rows = np.arange(len(targets))
    best, best_score = None, (-np.inf, -np.inf)
    for combo in itertools.product(range(_GRID_STEPS + 1), repeat=len(probas) - 1):
        if sum(combo) > _GRID_STEPS:
            continue
        w = np.array([*combo, _GRID_STEPS - sum(combo)], dtype=float) / _GRID_STEPS
        mixed = mix(probas, w)
        score = (
            float(np.mean(mixed.argmax(axis=1) == targets)),
            float(np.mean(np.log(mixed[rows, targets] + 1e-12))),
        )
        if score > best_score:
            best, best_score = w, score
    assert best is not None
    return best
