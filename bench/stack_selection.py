"""How the stack combines its members and how much in-scope accuracy the OOS threshold may cost:
chosen on cross-fitted (out-of-fold) rows only, never on test.

Reads the members cached by ``bench/stack_oof.py fit`` (only their out-of-fold probabilities of
train + valid) and reports, per dataset:

- **combination**: nested cross-validation inside the out-of-fold rows (5 stratified folds,
  2 repeats): each method learns on 4/5 of the rows and is scored on the rest. Methods: the
  equal average, simplex weights maximising log-likelihood (the stack's former objective),
  simplex weights maximising accuracy (ties: log-likelihood; the stack's objective now), the best
  single member, and two that the ONNX runtime's weighted average cannot apply as it is:
  per-member temperatures before log-likelihood weights, and a weighted geometric mean; and
  two meta-learners with more freedom than one weight per member (:func:`classwise` — a weight
  per member *and class* plus a class bias on the members' log-probabilities — and
  :func:`stacked_logistic` — a multinomial logistic regression on all the members'
  log-probabilities, Wolpert's stacked generalisation), each choosing its own regularisation
  on an inner hold-out of the rows it learns on.

  Declared before they ran (2026-12-04 21:09 UTC): one of the two meta-learners replaces the
  stack's accuracy weights only if its nested-CV accuracy beats both ``equal`` and
  ``accuracy_weights`` by at least 0.002 (0.2 points, three times the largest gain any
  combiner showed over ``equal`` before) on every cache it is run on.

  And :func:`plateau_centre`: the accuracy surface over the weight grid is flat near its top,
  so its argmax moves between runs (BANKING77's 5-fold weights were 0.25 / 0.45 / 0.30 in one
  run and 0.25 / 0.55 / 0.20 in the next, from members differing by a few texts); the centre
  of every grid point within one binomial standard error of the best is a steadier choice,
  near equal weights where the top is flat and near the best mix where it is sharp. Declared
  before it ran (this file's commit, 2026-12-04 22:25 UTC): it replaces the accuracy weights
  if its nested-CV accuracy is at least that of ``equal`` and of ``accuracy_weights`` on every
  cache it is run on (BANKING77 and CLINC150 with three members, SNIPS and BANKING77 with
  two) and above ``equal``'s on their mean.
- **threshold budget** (datasets with ``oos`` rows): for each ``max_in_scope_drop``, the
  threshold tuned on the mixed out-of-fold rows of valid and scored on those of train, the
  reverse, and across the two stratified halves of valid (in-scope accuracy, OOS recall).

    .venv/bin/python bench/stack_selection.py --cache /tmp/stack_oof --names clinc150 snips

Results merge into ``docs/benchmarks/stack_selection.json`` (``--out``: another file).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from intently.backends.stack import learn_weights, mix
from intently.runtime.fallback import FallbackRule, operating_point, top_two, tune_threshold

OUT = Path("docs/benchmarks/stack_selection.json")
OOS = "oos"
EPS = 1e-12
BUDGETS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)
Combiner = Callable[[Sequence[np.ndarray]], np.ndarray]


def log_lik(proba: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.log(proba[np.arange(len(y)), y] + EPS)))


def accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(proba.argmax(axis=1) == y))


def _simplex(m: int, steps: int = 20) -> list[np.ndarray]:
    return [
        np.array([*c, steps - sum(c)], dtype=float) / steps
        for c in itertools.product(range(steps + 1), repeat=m - 1)
        if sum(c) <= steps
    ]


def _tempered(proba: np.ndarray, t: float) -> np.ndarray:
    z = np.log(proba + EPS) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _geometric(ps: Sequence[np.ndarray], w: np.ndarray) -> np.ndarray:
    z = sum(wi * np.log(p + EPS) for wi, p in zip(w, ps, strict=True))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def equal(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    return lambda qs: mix(qs, np.full(len(qs), 1 / len(qs)))


def log_lik_weights(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    w = max(_simplex(len(ps)), key=lambda w: log_lik(mix(ps, w), y))
    return lambda qs: mix(qs, w)


def accuracy_weights(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    w = learn_weights(ps, y)
    return lambda qs: mix(qs, w)


def best_member(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    i = max(range(len(ps)), key=lambda i: accuracy(ps[i], y))
    return lambda qs: qs[i]


def tempered_log_lik(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    grid = np.exp(np.linspace(np.log(0.2), np.log(5), 41))
    ts = [min(grid, key=lambda t, p=p: -log_lik(_tempered(p, t), y)) for p in ps]
    tempered = [_tempered(p, t) for p, t in zip(ps, ts, strict=True)]
    w = max(_simplex(len(ps)), key=lambda w: log_lik(mix(tempered, w), y))
    return lambda qs: mix([_tempered(q, t) for q, t in zip(qs, ts, strict=True)], w)


def geometric(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    fitted = minimize(
        lambda w: -log_lik(_geometric(ps, w), y),
        np.full(len(ps), 1 / len(ps)),
        bounds=[(0, 5)] * len(ps),
        method="L-BFGS-B",
    )
    return lambda qs: _geometric(qs, fitted.x)


def plateau_centre(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    grid = _simplex(len(ps))
    scores = np.array([accuracy(mix(ps, w), y) for w in grid])
    best = scores.max()
    band = best - np.sqrt(best * (1 - best) / len(y))
    w = np.mean([g for g, score in zip(grid, scores, strict=True) if score >= band], axis=0)
    return lambda qs: mix(qs, w)


def _inner_split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stratified 80/20 split of the rows a meta-learner learns on (its regularisation)."""
    fold = stratified_folds(y, 5, 7)
    return fold != 0, fold == 0


def _fit_classwise(logs: np.ndarray, y: np.ndarray, strength: float) -> np.ndarray:
    """Per-member, per-class weights ``a`` and class biases ``b`` maximising the penalised
    log-likelihood of softmax(sum_m a[m] * log p_m + b); ``a`` shrinks towards 1/M, ``b``
    towards 0. ``logs``: (M, n, C)."""
    m, n, c = logs.shape
    onehot = np.eye(c)[y]
    start = np.concatenate([np.full(m * c, 1 / m), np.zeros(c)])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = theta[: m * c].reshape(m, c), theta[m * c :]
        z = np.einsum("mc,mnc->nc", a, logs) + b
        z -= z.max(axis=1, keepdims=True)
        q = np.exp(z)
        q /= q.sum(axis=1, keepdims=True)
        nll = -float(np.mean(np.log(q[np.arange(n), y] + EPS)))
        g = (q - onehot) / n
        shrink = theta - start
        grad = np.concatenate([np.einsum("nc,mnc->mc", g, logs).ravel(), g.sum(axis=0)])
        return nll + strength / 2 * float(shrink @ shrink), grad + strength * shrink

    return minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 300}).x


def _apply_classwise(theta: np.ndarray, logs: np.ndarray) -> np.ndarray:
    m, _, c = logs.shape
    z = np.einsum("mc,mnc->nc", theta[: m * c].reshape(m, c), logs) + theta[m * c :]
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _logs(ps: Sequence[np.ndarray]) -> np.ndarray:
    # Floored at 1e-6: below it a member's log-probability says nothing more, and the floor
    # keeps one member's underflow from dominating a weighted sum.
    return np.stack([np.log(np.maximum(p, 1e-6)) for p in ps])


def classwise(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    logs = _logs(ps)
    learn, held = _inner_split(y)
    strength = max(
        (1e-4, 1e-3, 1e-2),
        key=lambda s: accuracy(
            _apply_classwise(_fit_classwise(logs[:, learn], y[learn], s), logs[:, held]), y[held]
        ),
    )
    theta = _fit_classwise(logs, y, strength)
    return lambda qs: _apply_classwise(theta, _logs(qs))


def stacked_logistic(ps: Sequence[np.ndarray], y: np.ndarray) -> Combiner:
    from sklearn.linear_model import LogisticRegression

    x = np.hstack(list(_logs(ps)))
    learn, held = _inner_split(y)

    def fitted(c: float, rows: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=300).fit(x[rows], y[rows])

    c = max((0.1, 1.0), key=lambda c: fitted(c, learn).score(x[held], y[held]))
    model = fitted(c, np.ones(len(y), dtype=bool))
    classes = len(ps[0][0])

    def combine(qs: Sequence[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(qs[0]), classes))
        out[:, model.classes_] = model.predict_proba(np.hstack(list(_logs(qs))))
        return out

    return combine


METHODS = {
    "equal": equal,
    "log_lik_weights": log_lik_weights,
    "accuracy_weights": accuracy_weights,
    "best_member": best_member,
    "tempered_log_lik_weights (runtime cannot apply)": tempered_log_lik,
    "geometric_mean (runtime cannot apply)": geometric,
    "classwise (runtime cannot apply)": classwise,
    "stacked_logistic (runtime cannot apply)": stacked_logistic,
    "plateau_centre": plateau_centre,
}


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        fold[rows[rng.permutation(len(rows))]] = (rng.integers(k) + np.arange(len(rows))) % k
    return fold


def nested(
    ps: Sequence[np.ndarray], y: np.ndarray, k: int = 5, methods: Sequence[str] = tuple(METHODS)
) -> dict[str, dict[str, float]]:
    scores: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    for seed in (0, 1):
        fold = stratified_folds(y, k, seed)
        for f in range(k):
            learn, held = fold != f, fold == f
            for name in methods:
                method = METHODS[name]
                q = method([p[learn] for p in ps], y[learn])([p[held] for p in ps])
                scores[name].append((accuracy(q, y[held]), log_lik(q, y[held])))
    return {
        m: {"accuracy": round(float(np.mean([a for a, _ in s])), 4),
            "log_lik": round(float(np.mean([b for _, b in s])), 4)}
        for m, s in scores.items()
    }  # fmt: skip


def budgets(proba: np.ndarray, labels: np.ndarray, classes: list[str], n_valid: int) -> dict:
    """Held-out operating points of the threshold tuned at each budget."""
    is_valid = np.arange(len(labels)) >= len(labels) - n_valid
    half = stratified_folds(np.searchsorted(classes, labels[is_valid]), 2, 0)
    valid_rows = np.flatnonzero(is_valid)
    checks = {
        "tune valid -> score train": (is_valid, ~is_valid),
        "tune train -> score valid": (~is_valid, is_valid),
        **{
            f"valid half {h} -> other half": (
                np.isin(np.arange(len(labels)), valid_rows[half == h]),
                np.isin(np.arange(len(labels)), valid_rows[half != h]),
            )
            for h in (0, 1)
        },
    }
    out: dict[str, Any] = {}
    for budget in BUDGETS:
        row = {}
        for check, (tune, held) in checks.items():
            choice = tune_threshold(
                proba[tune], list(labels[tune]), classes, fallback_label=OOS,
                max_in_scope_drop=budget,
            )  # fmt: skip
            threshold = choice.threshold if choice else 0.0
            rule = FallbackRule(OOS, threshold, 0.0)
            in_scope, recall = operating_point(rule, top_two(proba[held]), labels[held], classes)
            row[check] = {
                "threshold": round(threshold, 3),
                "in_scope_accuracy": round(in_scope, 4),
                "oos_recall": round(recall, 4),
            }
        out[str(budget)] = row
        print(f"  budget {budget}: {json.dumps(row)}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--names", nargs="+", default=["snips", "banking77", "clinc150"])
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT, help="JSON file the rows merge into")
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), default=list(METHODS), metavar="METHOD"
    )
    args = parser.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.names:
        cached = [np.load(args.cache / name / f"{i}.npz") for i in range(args.members)]
        classes = [str(c) for c in cached[0]["classes"]]
        labels = np.asarray([str(x) for x in cached[0]["oof_labels"]], dtype=object)
        y = np.searchsorted(classes, labels)
        ps = [m["oof"] for m in cached]
        row: dict[str, Any] = {
            "n_rows": len(y),
            "members_accuracy": [round(accuracy(p, y), 4) for p in ps],
            "weights": [round(float(w), 3) for w in learn_weights(ps, y)],
            "nested": nested(ps, y, methods=args.methods),
        }
        print(name, json.dumps(row), flush=True)
        n_valid = int(cached[0]["n_valid"])
        if OOS in classes and n_valid:
            row["budgets"] = budgets(mix(ps, learn_weights(ps, y)), labels, classes, n_valid)
        results[name] = row
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
