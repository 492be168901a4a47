"""Likely label errors, outliers and near-duplicates across labels, from out-of-fold predictions.

Confident learning (Northcutt et al., 2021), the method of cleanlab's ``find_label_issues``,
written with NumPy so no extra dependency is needed:

1. every example is scored by a model that never saw it (k-fold, stratified folds);
2. each class ``j`` gets a threshold ``t_j``: the mean probability of ``j`` over the examples
   labeled ``j`` (the model's average self-confidence in that class);
3. the *confident joint* ``C[i, j]`` counts examples labeled ``i`` whose probability of ``j``
   reaches ``t_j`` (the highest such ``j`` when several do): examples confidently in ``j``;
   its off-diagonal sum estimates how many labels are wrong (cleanlab's ``num_label_issues``);
4. that many examples with the lowest self-confidence (the out-of-fold probability of the
   given label) are flagged (cleanlab's ``filter_by="low_self_confidence"``, the default
   ``method``). ``method="prune_by_noise_rate"`` flags instead, for every off-diagonal cell
   of the joint calibrated to the label counts, the ``C[i, j]`` examples labeled ``i`` with
   the largest margin ``p_j - p_i`` (cleanlab's default filter). A class never loses all its
   examples.

On BANKING77 with 5% of the labels flipped (bench/label_issues.py, seed 13, 5 folds, linear
backend), ``low_self_confidence`` flagged 570 examples with precision 0.83 and recall 0.94;
``prune_by_noise_rate`` flagged 639 with precision 0.59 and recall 0.75.

Flagged examples are ranked by self-confidence, lowest first, and carry the most probable
other label as a suggestion.

Outliers are examples the model is unsure about (top probability below ``outlier_max_proba``)
whose TF-IDF vector is far from their label's centroid (cosine similarity more than
``outlier_z`` standard deviations below the label's mean). Near-duplicates are pairs of
texts under different labels whose TF-IDF cosine similarity reaches ``duplicate_similarity``;
the suggestion is the label the model finds more probable for the pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import numpy as np
from scipy import sparse

from intently.backends import make_backend
from intently.backends.text_features import fit_space
from intently.data import Example, columns
from intently.errors import DataError, IntentlyError, TrainingError
from intently.evaluation.crossval import fold_assignment

_BLOCK = 1024
"""Rows per block of the pairwise similarity product (1024 x n float32 at a time)."""


Method = Literal["low_self_confidence", "prune_by_noise_rate"]
METHODS: tuple[Method, ...] = ("low_self_confidence", "prune_by_noise_rate")


class IssueKind(StrEnum):
    LABEL = "label"
    DUPLICATE = "duplicate"
    OUTLIER = "outlier"


@dataclass(frozen=True)
class OutOfFold:
    """Probabilities of every example from a model that did not train on it.

    ``proba`` has shape ``(n, len(classes))``; ``given`` holds each example's label index.
    """

    classes: tuple[str, ...]
    proba: np.ndarray
    given: np.ndarray

    @property
    def self_confidence(self) -> np.ndarray:
        return self.proba[np.arange(len(self.given)), self.given]


@dataclass(frozen=True)
class LabelIssue:
    """One finding about one example. ``score`` orders findings of a kind (higher: worse)."""

    kind: IssueKind
    index: int
    text: str
    label: str
    suggested_label: str | None
    score: float
    self_confidence: float
    suggested_confidence: float | None
    origin: str | None = None
    duplicate_of: dict[str, str] | None = None

    def to_dict(self, rank: int) -> dict[str, Any]:
        """The reviewable JSONL row; ``action`` is what ``--apply`` will do unless edited:
        ``remove`` for label issues and duplicates (what bench/label_issues.py measures; a
        wrong removal loses one example, a wrong relabel adds an error), ``keep`` for outliers.
        """
        row: dict[str, Any] = {
            "kind": str(self.kind),
            "rank": rank,
            "text": self.text,
            "label": self.label,
            "suggested_label": self.suggested_label,
            "action": "keep" if self.kind is IssueKind.OUTLIER else "remove",
            "score": round(self.score, 4),
            "self_confidence": round(self.self_confidence, 4),
            "suggested_confidence": (
                None if self.suggested_confidence is None else round(self.suggested_confidence, 4)
            ),
            "origin": self.origin,
        }
        if self.duplicate_of is not None:
            row["duplicate_of"] = self.duplicate_of
        return row


@dataclass(frozen=True)
class IssueReport:
    """Everything ``find_issues`` found, each kind ranked worst first."""

    label_issues: tuple[LabelIssue, ...]
    duplicates: tuple[LabelIssue, ...]
    outliers: tuple[LabelIssue, ...]
    out_of_fold: OutOfFold
    thresholds: np.ndarray
    confident_joint: np.ndarray

    @property
    def all(self) -> tuple[LabelIssue, ...]:
        return (*self.label_issues, *self.duplicates, *self.outliers)

    def rows(self) -> list[dict[str, Any]]:
        """JSONL rows: label issues, then duplicates, then outliers; ``rank`` within a kind."""
        return [
            issue.to_dict(rank)
            for found in (self.label_issues, self.duplicates, self.outliers)
            for rank, issue in enumerate(found, start=1)
        ]

    def out_of_fold_accuracy(self) -> float:
        oof = self.out_of_fold
        return float(np.mean(oof.proba.argmax(axis=1) == oof.given)) if len(oof.given) else 0.0


ProgressFn = Callable[[str, float], None]


def out_of_fold_proba(
    examples: Sequence[Example],
    *,
    backend: str = "linear",
    params: dict[str, Any] | None = None,
    folds: int = 5,
    seed: int = 13,
    progress: ProgressFn | None = None,
) -> OutOfFold:
    """Fit ``backend`` ``folds`` times, each time predicting the fold it left out.

    Folds are stratified and deterministic (:func:`~intently.evaluation.crossval.fold_assignment`).
    A class missing from a fold's training part gets probability 0 for that fold.
    """
    if folds < 2:
        raise DataError(f"finding label issues needs at least 2 folds; got {folds}.")
    classes = tuple(sorted({e.label for e in examples}))
    if len(classes) < 2:
        raise DataError(
            f"finding label issues needs at least 2 labels; the data has {len(classes)}.",
            hint="add examples of other labels.",
        )
    if len(examples) < folds:
        raise DataError(
            f"{len(examples)} examples cannot be split into {folds} folds.",
            hint="use fewer --folds or add examples.",
        )
    column = {label: j for j, label in enumerate(classes)}
    given = np.array([column[e.label] for e in examples], dtype=np.int64)
    proba = np.zeros((len(examples), len(classes)))
    fold = fold_assignment(examples, folds, seed=seed)
    for f in range(folds):
        if progress:
            progress(f"fold {f + 1}/{folds}", f / folds)
        held = np.flatnonzero(fold == f)
        texts, labels, weights = columns([examples[i] for i in np.flatnonzero(fold != f)])
        model = make_backend(backend, params, seed=seed)
        try:
            model.fit(texts, labels, weights)
        except IntentlyError:
            raise
        except (ValueError, FloatingPointError, MemoryError) as exc:
            raise TrainingError(
                f"the {backend} backend failed to fit fold {f + 1}/{folds}: {exc}.",
                hint="check the data with `intently data validate`.",
            ) from exc
        fold_proba = model.predict_proba([examples[i].text for i in held])
        cols = [column[c] for c in model.classes_]
        proba[np.ix_(held, cols)] = fold_proba
    if progress:
        progress("done", 1.0)
    return OutOfFold(classes, proba, given)


def per_class_thresholds(proba: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Mean self-confidence of each class (1.0 for a class with no examples)."""
    k = proba.shape[1]
    counts = np.bincount(given, minlength=k)
    sums = np.bincount(given, weights=proba[np.arange(len(given)), given], minlength=k)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)


def confident_joint(proba: np.ndarray, given: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``C[i, j]``: examples labeled ``i`` confidently in class ``j`` (see the module doc)."""
    k = proba.shape[1]
    # cleanlab subtracts a tiny epsilon so that an example exactly at its threshold counts
    above = proba >= thresholds[None, :] - 1e-6
    confident = above.any(axis=1)
    guess = np.where(above, proba, -np.inf).argmax(axis=1)
    joint = np.zeros((k, k), dtype=np.int64)
    np.add.at(joint, (given[confident], guess[confident]), 1)
    return joint


def _calibrated(joint: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Rows rescaled to the label counts, rounded (cleanlab's ``calibrate_confident_joint``)."""
    rows = joint.sum(axis=1, keepdims=True)
    scaled = np.where(rows > 0, joint / np.maximum(rows, 1) * counts[:, None], 0.0)
    return np.rint(scaled).astype(np.int64)


def prune_by_noise_rate(proba: np.ndarray, given: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Boolean mask of flagged examples: for each off-diagonal cell ``(i, j)``, the
    ``C[i, j]`` examples labeled ``i`` with the largest margin ``p_j - p_i``."""
    k = proba.shape[1]
    counts = np.bincount(given, minlength=k)
    calibrated = _calibrated(joint, counts)
    flagged = np.zeros(len(given), dtype=bool)
    for i in range(k):
        members = np.flatnonzero(given == i)
        if len(members) <= 1:
            continue
        budget = len(members) - 1  # never flag a whole class
        for j in np.argsort(-calibrated[i]):
            n = int(min(calibrated[i, j], budget))
            if j == i or n <= 0:
                continue
            margin = proba[members, j] - proba[members, i]
            chosen = members[np.argsort(-margin, kind="stable")[:n]]
            budget -= int(np.count_nonzero(~flagged[chosen]))
            flagged[chosen] = True
    return flagged


def lowest_self_confidence(given: np.ndarray, self_conf: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of the ``n`` examples with the lowest self-confidence, leaving each class
    at least one example."""
    flagged = np.zeros(len(given), dtype=bool)
    left = np.bincount(given)
    for i in np.argsort(self_conf, kind="stable")[:n]:
        if left[given[i]] > 1:
            left[given[i]] -= 1
            flagged[i] = True
    return flagged


def _best_other(proba: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Index of the most probable label other than the given one."""
    others = proba.copy()
    others[np.arange(len(given)), given] = -np.inf
    return others.argmax(axis=1)


def _tfidf(texts: Sequence[str]) -> sparse.csr_matrix:
    """Word 1-2-gram TF-IDF rows, L2-normalised (cosine similarity is a dot product)."""
    _, matrix = fit_space(texts, "word", (1, 2))
    return matrix.tocsr().astype(np.float32)


def _duplicate_pairs(
    vectors: sparse.csr_matrix, given: np.ndarray, threshold: float
) -> list[tuple[int, int, float]]:
    """Pairs ``(a, b, similarity)`` with ``a < b``, different labels, similarity >= threshold."""
    pairs: list[tuple[int, int, float]] = []
    transposed = vectors.T.tocsc()
    for start in range(0, vectors.shape[0], _BLOCK):
        block = (vectors[start : start + _BLOCK] @ transposed).tocoo()
        a = block.row + start
        keep = (block.data >= threshold - 1e-6) & (a < block.col) & (given[a] != given[block.col])
        pairs.extend(
            zip(a[keep].tolist(), block.col[keep].tolist(), block.data[keep].tolist(), strict=True)
        )
    return pairs


def _centroid_similarity(vectors: sparse.csr_matrix, given: np.ndarray, k: int) -> np.ndarray:
    """Cosine similarity of each example to the normalised mean vector of its label."""
    indicator = sparse.csr_matrix(
        (np.ones(len(given), dtype=np.float32), (given, np.arange(len(given)))),
        shape=(k, len(given)),
    )
    centroids = (indicator @ vectors).toarray()
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    centroids /= np.maximum(norms, 1e-12)
    return np.asarray((vectors.multiply(centroids[given])).sum(axis=1)).ravel()


def find_issues(
    examples: Sequence[Example],
    out_of_fold: OutOfFold,
    *,
    duplicate_similarity: float = 0.9,
    outlier_max_proba: float = 0.5,
    outlier_z: float = 2.0,
    method: Method = "low_self_confidence",
) -> IssueReport:
    """Rank likely label errors, near-duplicates across labels and outliers.

    ``out_of_fold`` must come from :func:`out_of_fold_proba` on the same ``examples``;
    ``method`` is how label issues are chosen (see the module docstring).
    """
    proba, given, classes = out_of_fold.proba, out_of_fold.given, out_of_fold.classes
    if len(given) != len(examples):
        raise DataError(
            f"{len(given)} out-of-fold predictions for {len(examples)} examples.",
            hint="compute them with out_of_fold_proba on the same examples.",
        )
    thresholds = per_class_thresholds(proba, given)
    joint = confident_joint(proba, given, thresholds)
    self_conf = out_of_fold.self_confidence
    if method == "prune_by_noise_rate":
        flagged = prune_by_noise_rate(proba, given, joint)
    else:
        flagged = lowest_self_confidence(given, self_conf, int(joint.sum() - np.trace(joint)))
    other = _best_other(proba, given)

    def issue(kind: IssueKind, i: int, score: float, **extra: Any) -> LabelIssue:
        suggested = extra.pop("suggested", int(other[i]))
        return LabelIssue(
            kind=kind,
            index=i,
            text=examples[i].text,
            label=examples[i].label,
            suggested_label=None if suggested is None else classes[suggested],
            score=score,
            self_confidence=float(self_conf[i]),
            suggested_confidence=None if suggested is None else float(proba[i, suggested]),
            origin=examples[i].origin,
            **extra,
        )

    order = np.flatnonzero(flagged)[np.argsort(self_conf[flagged], kind="stable")]
    label_issues = tuple(issue(IssueKind.LABEL, int(i), 1.0 - float(self_conf[i])) for i in order)

    vectors = _tfidf([e.text for e in examples])
    duplicates = []
    listed: set[int] = set()
    for a, b, similarity in sorted(
        _duplicate_pairs(vectors, given, duplicate_similarity), key=lambda p: (-p[2], p[0], p[1])
    ):
        # The pair should share one label: the one the model finds more probable for both.
        keep_a = proba[[a, b], given[a]].sum() >= proba[[a, b], given[b]].sum()
        wrong, right = (b, a) if keep_a else (a, b)
        if wrong in listed:  # one row per example: its most similar partner
            continue
        listed.add(wrong)
        duplicates.append(
            issue(
                IssueKind.DUPLICATE,
                wrong,
                similarity,
                suggested=int(given[right]),
                duplicate_of={"text": examples[right].text, "label": examples[right].label},
            )
        )

    similarity = _centroid_similarity(vectors, given, len(classes))
    z = np.zeros(len(given))
    for j in range(len(classes)):
        members = given == j
        if np.count_nonzero(members) > 2:
            spread = similarity[members].std()
            z[members] = (similarity[members] - similarity[members].mean()) / max(spread, 1e-9)
    unsure = (proba.max(axis=1) < outlier_max_proba) & (z <= -outlier_z) & ~flagged
    outlier_order = np.flatnonzero(unsure)[np.argsort(z[unsure], kind="stable")]
    outliers = tuple(
        issue(IssueKind.OUTLIER, int(i), float(-z[i]), suggested=None) for i in outlier_order
    )
    return IssueReport(label_issues, tuple(duplicates), outliers, out_of_fold, thresholds, joint)


def label_quality_ranking(out_of_fold: OutOfFold) -> np.ndarray:
    """Every example's index, most likely mislabeled first (lowest self-confidence)."""
    return np.argsort(out_of_fold.self_confidence, kind="stable")
