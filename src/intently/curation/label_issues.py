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

Step 1 can average several models (:func:`members_out_of_fold`, :func:`average`;
``intently data issues --members linear,embedding``), as cleanlab advises: the examples one
model gets wrong out-of-fold because they are hard or ambiguous are mostly not the ones a
different model gets wrong, while a wrong label stays improbable under both. The average
ranks better, but its confident joint under-counts, so an ensemble flags the mean of its
members' estimates (:func:`issue_count`). With the linear backend and the frozen
all-MiniLM-L6-v2 encoder + logistic regression (bench/label_issues.py --split valid: 85% of
BANKING77's train with 425 labels flipped, seeds 1-3), the ensemble flagged 462-476 examples
at precision 0.86-0.89 and recall 0.96-0.97, against 510-527 at precision 0.75-0.78 and
recall 0.93-0.94 for the linear backend alone.

Flagged examples are ranked by self-confidence, lowest first, and carry the most probable
other label as a suggestion.

Outliers are examples the model is unsure about (top probability below ``outlier_max_proba``)
whose TF-IDF vector is far from their label's centroid (cosine similarity more than
``outlier_z`` standard deviations below the label's mean). Near-duplicates are pairs of
texts under different labels whose TF-IDF cosine similarity reaches ``duplicate_similarity``;
the suggestion is the label the model finds more probable for the pair.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from scipy import sparse

from intently.backends import make_backend
from intently.backends.base import fit_predict
from intently.backends.fitting import fit_failures
from intently.backends.text_features import fit_space
from intently.data import Dataset, Example, columns
from intently.errors import DataError
from intently.evaluation import crossval
from intently.evaluation.crossval import OutOfFold

if TYPE_CHECKING:
    from intently.backends.embedding import EmbeddingBackend

_BLOCK = 1024
"""Rows per block of the pairwise similarity product (1024 x n float32 at a time)."""


Method = Literal["low_self_confidence", "prune_by_noise_rate"]
METHODS: tuple[Method, ...] = ("low_self_confidence", "prune_by_noise_rate")


class IssueKind(StrEnum):
    LABEL = "label"
    DUPLICATE = "duplicate"
    OUTLIER = "outlier"


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
Member = tuple[str, Mapping[str, Any]]
"""A model of the ensemble: backend name and its parameters."""


def out_of_fold_proba(
    examples: Sequence[Example],
    *,
    backend: str = "linear",
    params: Mapping[str, Any] | None = None,
    folds: int = 5,
    seed: int = 13,
    progress: ProgressFn | None = None,
) -> OutOfFold:
    """Fit ``backend`` ``folds`` times on all but one fold, each time predicting that fold.

    Folds are stratified and deterministic (:func:`~intently.evaluation.crossval.fold_assignment`);
    each fit sees every other example (no validation split). A class missing from a fold's
    training part gets probability 0 for that fold. The ``embedding`` backend with
    ``finetune: none`` encodes every text once and fits only its logistic-regression head per
    fold: the same model as fitting the backend, without encoding the data ``folds`` times.
    """
    _check_folds(examples, folds)
    report = progress or (lambda _step, _done: None)
    fitted = [0]
    features = None
    if backend == "embedding" and (params or {}).get("finetune") == "none":
        features = _FrozenEmbeddings(examples, params or {}, report)

    def fit_proba(dataset: Dataset, held: Sequence[Example]) -> tuple[Sequence[str], np.ndarray]:
        report(f"{backend}: fold {fitted[0] + 1}/{folds}", fitted[0] / folds)
        fitted[0] += 1
        held_texts = [e.text for e in held]
        with fit_failures(f"the {backend} backend failed to fit fold {fitted[0]}/{folds}"):
            if features is not None:
                texts, labels, weights = columns(dataset.train)
                return features.fit_proba(texts, labels, weights, held_texts, seed)
            return fit_predict(backend, dict(params or {}), dataset, held_texts, seed=seed)

    result = crossval.out_of_fold_proba(examples, fit_proba, k=folds, seed=seed, valid_share=0.0)
    report("done", 1.0)
    return result


def members_out_of_fold(
    examples: Sequence[Example],
    members: Sequence[Member],
    *,
    folds: int = 5,
    seed: int = 13,
    progress: ProgressFn | None = None,
) -> list[OutOfFold]:
    """Each member's out-of-fold probabilities, all on the same folds; combine them with
    :func:`average` and :func:`issue_count`."""
    if not members:
        raise DataError("finding label issues needs at least one model.")
    results: list[OutOfFold] = []
    for m, (backend, params) in enumerate(members):

        def member_progress(step: str, done: float, m: int = m) -> None:
            if progress:
                progress(step, (m + done) / len(members))

        results.append(
            out_of_fold_proba(
                examples,
                backend=backend,
                params=params,
                folds=folds,
                seed=seed,
                progress=member_progress,
            )
        )
    return results


def average(results: Sequence[OutOfFold]) -> OutOfFold:
    """The mean of out-of-fold probabilities of the same examples from different models.

    Models that err differently average out each other's unsure mistakes on hard but
    correctly labeled examples, while a wrong label stays improbable under all of them
    (cleanlab's advice: the best model available, or an ensemble).
    """
    first = results[0]
    if any(r.classes != first.classes or not np.array_equal(r.given, first.given) for r in results):
        raise DataError("out-of-fold probabilities of different data cannot be averaged.")
    return OutOfFold(first.classes, np.mean([r.proba for r in results], axis=0), first.given)


def estimated_issues(out_of_fold: OutOfFold) -> int:
    """How many labels look wrong: the confident joint's off-diagonal sum (module doc)."""
    proba, given = out_of_fold.proba, out_of_fold.given
    joint = confident_joint(proba, given, per_class_thresholds(proba, given))
    return int(joint.sum() - np.trace(joint))


def issue_count(results: Sequence[OutOfFold]) -> int:
    """How many examples to flag for an ensemble: the mean of the members' estimates.

    The averaged probabilities rank best, but their own confident joint under-counts (the
    average is less peaked, so fewer examples reach the per-class thresholds): on BANKING77
    with 425 labels flipped (bench/label_issues.py --split valid) it estimated 378-385 where
    the linear member estimated 510-527 and the embedding member 414-426.
    """
    return round(float(np.mean([estimated_issues(r) for r in results])))


def _check_folds(examples: Sequence[Example], folds: int) -> None:
    if folds < 2:
        raise DataError(f"finding label issues needs at least 2 folds; got {folds}.")
    n_labels = len({e.label for e in examples})
    if n_labels < 2:
        raise DataError(
            f"finding label issues needs at least 2 labels; the data has {n_labels}.",
            hint="add examples of other labels.",
        )
    if len(examples) < folds:
        raise DataError(
            f"{len(examples)} examples cannot be split into {folds} folds.",
            hint="use fewer --folds or add examples.",
        )


_ENCODED: dict[tuple[str, int, str], dict[str, np.ndarray]] = {}
"""Sentence embeddings by encoder (body folder, max_length, pooling) and text, kept for the
life of the process: another run on the same texts (another seed, more folds, a relabelled
copy) encodes nothing again."""


class _FrozenEmbeddings:
    """Sentence embeddings of every example, each text encoded once per process, and the
    embedding backend's head (multinomial logistic regression with its ``C`` and
    ``class_weight``) fitted per fold."""

    def __init__(
        self, examples: Sequence[Example], params: Mapping[str, Any], report: ProgressFn
    ) -> None:
        from intently.backends import encoder as enc
        from intently.backends.bodies import resolve_body

        # make_backend checks the parameter names
        config = cast("EmbeddingBackend", make_backend("embedding", dict(params)))
        body = resolve_body(config.model_path)
        known = _ENCODED.setdefault((str(body), config.max_length, config.pooling), {})
        texts = list(dict.fromkeys(e.text for e in examples))
        missing = [text for text in texts if text not in known]
        if missing:
            encoder = enc.SentenceEncoder.load(
                body, max_length=config.max_length, pooling=config.pooling, threads=config.threads
            )
            encoded = encoder.encode(
                missing,
                batch_size=config.batch_size,
                progress=lambda _step, done: report(f"encoding ({done:.0%})", 0.0),
            ).embeddings
            known.update(zip(missing, encoded, strict=True))
        self.row = {text: i for i, text in enumerate(texts)}
        self.embeddings = np.stack([known[text] for text in texts])
        self.C = config.C
        self.class_weight = config.class_weight

    def fit_proba(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        weights: np.ndarray,
        held: Sequence[str],
        seed: int,
    ) -> tuple[Sequence[str], np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        head = LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=3000, random_state=seed
        )
        head.fit(self._rows(texts), labels, sample_weight=weights)
        return tuple(head.classes_), head.predict_proba(self._rows(held))

    def _rows(self, texts: Sequence[str]) -> np.ndarray:
        return self.embeddings[[self.row[text] for text in texts]]


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
    n_issues: int | None = None,
) -> IssueReport:
    """Rank likely label errors, near-duplicates across labels and outliers.

    ``out_of_fold`` must come from :func:`out_of_fold_proba` (or :func:`average`) on the same
    ``examples``; ``method`` is how label issues are chosen (see the module docstring);
    ``n_issues`` is how many ``low_self_confidence`` flags (default: ``out_of_fold``'s own
    confident-joint estimate; :func:`issue_count` for an average of members).
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
        count = int(joint.sum() - np.trace(joint)) if n_issues is None else n_issues
        flagged = lowest_self_confidence(given, self_conf, count)
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
