"""Should a stack's out-of-scope fallback also read how far a text lies from the training
texts? Decided on fresh pseudo projects, so no test split takes part.

The fallback reads one number per text: the top probability of the stack's mix (untempered,
``stack_oos_score.py``). Probabilities say which intent wins, not whether a text resembles any
training text at all. The frozen ``embedding`` member already turns every text into a sentence
vector, and a text far from all training texts is out-of-scope whatever its probabilities say.

Exploration on draws 0-3 (:mod:`stack_threshold_rows`'s projects; written up in
docs/BENCHMARKS.md, "Out-of-scope: distance from the training texts"): the mean cosine
similarity of a text's ten nearest in-scope training texts separates out-of-scope texts far
better than the top probability (pseudo-test AUROC, CLINC150 0.98 vs 0.93-0.96), yet alone it
catches fewer of them at a 1% in-scope budget; a Mahalanobis distance to the intents' centroids
did worse than both; the sum of the two standardised scores caught the most on CLINC150's draws
at the same budget (oracle cuts on pseudo-test, +2.5 to +6.7 points of recall) and the same as
the probability on BANKING77's. Hence the candidate, fixed before the fresh draws ran:

- ``probability``: fall back when the top class is ``oos`` or the untempered top probability is
  below a threshold (what the stack does now);
- ``novelty``: fall back when the top class is ``oos`` or
  ``z(-log p_top) + z(-similarity)`` exceeds a cut, where ``similarity`` is the mean cosine of
  the text's 10 nearest pseudo-train in-scope texts (the member's mean+max MiniLM vectors) and
  ``z`` standardises with the mean and standard deviation over the pseudo-valid rows.

Both are tuned at the default budget on the stack's out-of-fold pseudo-valid rows (the
in-scope accuracy may drop by at most the budget against no threshold; among those cuts, the
best in-scope accuracy + OOS recall) and scored on pseudo-test.

Rule, declared before the fresh draws ran: on draws 4-7 of both datasets (eight projects, none
seen by the exploration), adopt ``novelty`` if its mean (in-scope accuracy + OOS recall) / 2 is
higher than ``probability``'s by at least 0.002 and it breaks the budget on pseudo-test in no
more draws; otherwise the fallback keeps reading probabilities only. Outcome (rows in
docs/benchmarks/stack_novelty_score.json): 0.9190 vs 0.9032, but over budget in 2 draws vs 0
— not adopted. It also spent more of the budget (in-scope drop 0.0082 vs 0.0059 on
pseudo-test), so part of its gain was bought with answered questions.

Second candidate, declared after that outcome and before draws 8-11 ran (``--at-cost``):
``novelty_at_cost``, the same fused score with its cut tuned so that its in-scope drop on the
pseudo-valid rows is at most that of the probability threshold tuned on them (the same
validation cost, so any gain is catching more at that cost). Rule: on draws 8-11 of both
datasets, adopt it if its mean objective is higher than ``probability``'s by at least 0.002 and
it breaks the budget on pseudo-test in no more draws (rows in
docs/benchmarks/stack_novelty_at_cost.json).

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/stack_novelty_score.py \\
        --cache DIR --first-draw 4
    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/stack_novelty_score.py \\
        --cache DIR --first-draw 8 --at-cost

Third question, declared before draws 12-15 ran (``--member embedding``): should a single
``embedding`` model (not a stack) get the novelty too? Its fallback is tuned on its own
validation rows (``validation_proba_``, what the pipeline reads for a single model) and scored
on its own pseudo-test rows; the reference is the same pseudo-train in-scope vectors (the
member's own). Rule, the same as the second question's: on draws 12-15 of both datasets, adopt
``novelty_at_cost`` for a single ``embedding`` model if its mean objective is higher than
``probability``'s by at least 0.002 and it breaks the budget on pseudo-test in no more draws
(rows in docs/benchmarks/embedding_novelty_at_cost.json).

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/stack_novelty_score.py \\
        --cache DIR --first-draw 12 --at-cost --member embedding
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from oos_operating_points import DEFAULT_BUDGET, OOS, held_out_row, score, tuned_threshold
from stack_threshold_rows import MEMBERS, draw_arguments, every_draw, mean_row

from intently.backends import encoder
from intently.backends.bodies import resolve_body
from intently.backends.stack import mix

OUT = Path("docs/benchmarks/stack_novelty_score.json")
OUT_AT_COST = Path("docs/benchmarks/stack_novelty_at_cost.json")
OUT_MEMBER = "docs/benchmarks/{member}_novelty_at_cost.json"
NEIGHBOURS = 10
MIN_GAIN = 0.002


class Vectors:
    """The embedding member's sentence vectors (mean+max MiniLM), computed once per text."""

    def __init__(self) -> None:
        self.encoder = encoder.SentenceEncoder.load(resolve_body(None), pooling="mean+max")
        self.known: dict[str, np.ndarray] = {}

    def __call__(self, texts: np.ndarray) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts.tolist()) if t not in self.known]
        if missing:
            vectors = self.encoder.encode(missing).embeddings
            self.known.update(zip(missing, vectors, strict=True))
        return np.stack([self.known[t] for t in texts.tolist()])


def dissimilarity(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Minus the mean cosine of each vector's nearest reference vectors (all L2-normalised)."""
    similarity = vectors @ reference.T
    return -np.sort(similarity, axis=1)[:, -NEIGHBOURS:].mean(axis=1)


def raw_scores(proba: np.ndarray, distance: np.ndarray) -> np.ndarray:
    return np.stack([-np.log(np.clip(proba.max(axis=1), 1e-12, None)), distance], axis=1)


def tuned_cut(
    novelty: np.ndarray,
    proba: np.ndarray,
    truth: np.ndarray,
    classes: list[str],
    budget: float = DEFAULT_BUDGET,
) -> float:
    """The highest cut on ``novelty`` maximising in-scope accuracy + OOS recall on these rows
    among those whose in-scope drop is within ``budget``."""
    named = np.asarray(classes)[proba.argmax(axis=1)]
    is_oos, always = truth == OOS, named == OOS
    right = (named == truth) & ~is_oos & ~always
    candidates = np.unique(novelty)[::-1]
    cuts = np.concatenate([[np.inf], (candidates[:-1] + candidates[1:]) / 2])
    in_scope = np.array([np.count_nonzero(right & (novelty <= c)) for c in cuts]) / np.sum(~is_oos)
    caught = np.array([np.count_nonzero(is_oos & (always | (novelty > c))) for c in cuts])
    objective = np.where(
        in_scope >= in_scope[0] - budget - 1e-12, in_scope + caught / np.sum(is_oos), -1
    )
    return float(cuts[int(np.argmax(objective))])


def novelty_row(
    proba: np.ndarray, novelty: np.ndarray, truth: np.ndarray, classes: list[str], cut: float
) -> dict[str, float]:
    """:func:`held_out_row`'s figures for the fused rule (a text falls back when its top class
    is ``oos`` or its novelty is above ``cut``): the probabilities of texts above the cut are
    replaced by an ``oos``-only row, which the zero threshold of ``held_out_row`` reads."""
    cut_rows = np.zeros_like(proba)
    cut_rows[:, classes.index(OOS)] = 1.0
    ruled = np.where((novelty > cut)[:, None], cut_rows, proba)
    baseline = held_out_row(proba, truth, classes, 0.0)
    row = held_out_row(ruled, truth, classes, 0.0)
    drop = baseline["in_scope_accuracy"] - row["in_scope_accuracy"]
    return row | {"threshold": round(cut, 4), "in_scope_drop": round(drop, 4)}


def fallback_rows(rows: dict[str, np.ndarray], member: str | None) -> tuple[np.ndarray, ...]:
    """The validation rows the fallback is tuned on and the test rows it is scored on: the
    stack's mix of its out-of-fold rows, or ``member``'s own rows when it stands alone."""
    if member is None:
        weights = rows["weights"]
        return mix(list(rows["oof_valid"]), weights), mix(list(rows["members_test"]), weights)
    index = [name for name, _ in MEMBERS].index(member)
    return rows["members_valid"][index], rows["members_test"][index]


def one_draw(
    rows: dict[str, np.ndarray], vectors: Vectors, at_cost: bool, member: str | None
) -> dict[str, Any]:
    valid, test = fallback_rows(rows, member)
    reference = vectors(rows["train_texts"][rows["train_labels"] != OOS])
    figures = fallback_figures(
        rows,
        valid,
        test,
        (reference, vectors(rows["valid_texts"]), vectors(rows["test_texts"])),
        at_cost,
    )
    return {"weights": [round(float(w), 3) for w in rows["weights"]]} | figures


def fallback_figures(
    rows: dict[str, np.ndarray],
    valid: np.ndarray,
    test: np.ndarray,
    vectors: tuple[np.ndarray, np.ndarray, np.ndarray],
    at_cost: bool,
) -> dict[str, Any]:
    """Each reading's pseudo-test figures: tuned on the pseudo-valid rows ``valid`` and scored on
    ``test``; ``vectors``: the in-scope pseudo-train (reference), pseudo-valid and pseudo-test
    sentence vectors."""
    classes = [str(c) for c in rows["classes"]]
    reference, valid_vectors, test_vectors = vectors
    out: dict[str, Any] = {}
    threshold = tuned_threshold(valid, rows["valid_labels"], classes)
    out["probability"] = held_out_row(test, rows["test_labels"], classes, threshold)
    raw_valid = raw_scores(valid, dissimilarity(valid_vectors, reference))
    raw_test = raw_scores(test, dissimilarity(test_vectors, reference))
    centre, scale = raw_valid.mean(axis=0), raw_valid.std(axis=0)
    novelty_valid = ((raw_valid - centre) / scale).sum(axis=1)
    novelty_test = ((raw_test - centre) / scale).sum(axis=1)
    cut = tuned_cut(novelty_valid, valid, rows["valid_labels"], classes)
    out["novelty"] = novelty_row(test, novelty_test, rows["test_labels"], classes, cut)
    if at_cost:
        truth = rows["valid_labels"]
        cost = score(valid, truth, classes, 0.0)[0] - score(valid, truth, classes, threshold)[0]
        cut = tuned_cut(novelty_valid, valid, rows["valid_labels"], classes, budget=cost)
        out["novelty_at_cost"] = novelty_row(test, novelty_test, rows["test_labels"], classes, cut)
    for reading in readings(at_cost):
        out[reading]["over_budget"] = out[reading]["in_scope_drop"] > DEFAULT_BUDGET + 1e-9
    return out


def readings(at_cost: bool) -> tuple[str, ...]:
    return ("probability", "novelty", "novelty_at_cost") if at_cost else ("probability", "novelty")


def summary(every: list[dict[str, Any]], candidate: str) -> dict[str, Any]:
    """The mean figures of each reading over every draw, and whether the rule adopts
    ``candidate`` (+``MIN_GAIN`` of the mean objective, no more draws over budget)."""
    mean = {
        reading: {
            **mean_row(every, reading),
            "draws_over_budget": sum(d[reading]["over_budget"] for d in every),
        }
        for reading in readings(candidate == "novelty_at_cost")
    }
    adopt = bool(
        mean[candidate]["objective"] >= mean["probability"]["objective"] + MIN_GAIN
        and mean[candidate]["draws_over_budget"] <= mean["probability"]["draws_over_budget"]
    )
    return {"mean": mean, f"adopt_{candidate}": adopt}


def main() -> int:
    args = draw_arguments(
        __doc__.splitlines()[0],
        extra=("--at-cost",),
        choices={"--member": [name for name, _ in MEMBERS]},
    )
    candidate = "novelty_at_cost" if args.at_cost else "novelty"
    vectors = Vectors()
    results: dict[str, Any] = {
        "budget": DEFAULT_BUDGET,
        "min_gain": MIN_GAIN,
        "neighbours": NEIGHBOURS,
        "draws": list(range(args.first_draw, args.first_draw + args.draws)),
        "model": args.member or "stack",
    }
    by_dataset, every = every_draw(
        args, lambda rows: one_draw(rows, vectors, args.at_cost, args.member)
    )
    results |= by_dataset
    results |= summary(every, candidate)
    mean = results["mean"]
    print(json.dumps(mean, indent=2), f"adopt {candidate}:", results[f"adopt_{candidate}"])
    out = OUT_AT_COST if args.at_cost else OUT
    if args.member is not None:
        out = Path(OUT_MEMBER.format(member=args.member))
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
