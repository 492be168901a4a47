"""Should a single ``transformer`` model's out-of-scope fallback read the novelty too? Decided on
fresh pseudo projects, so no test split takes part.

The novelty (``intently.runtime.novelty``) was adopted for a stack with an ``embedding`` member
(draws 8-11) and for an ``embedding`` model alone (draws 12-15), both reading the frozen
encoder's vectors. A fine-tuned ``transformer`` has the same shape: pooled, normalised sentence
vectors feed its linear head, but its encoder has been trained to separate the intents, so its
vectors may place out-of-scope texts differently.

Question and rule, declared before the fresh draws 16-18 ran (the same rule as the earlier
two): each pseudo project (:func:`stack_threshold_rows.pseudo_project`, both datasets) is
fitted with the ``transformer`` backend at its defaults (``threads`` 2); its fallback is tuned
on its own validation rows (``validation_proba_``, what ``intently train`` reads for a single
model) and scored on its pseudo-test rows; the novelty's reference is the fitted model's
vectors of the in-scope pseudo-train texts. Adopt ``novelty_at_cost`` for a single
``transformer`` if its mean objective over the six projects beats ``probability``'s by at least
0.002 and it breaks the budget on pseudo-test in no more draws (rows in
docs/benchmarks/transformer_novelty_at_cost.json). Three draws per dataset, not four: a fit
costs 5-16 minutes on this machine.

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/transformer_novelty_score.py \\
        --cache DIR --first-draw 16 --draws 3
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from oos_operating_points import DEFAULT_BUDGET, OOS
from stack_novelty_score import MIN_GAIN, NEIGHBOURS, fallback_figures, summary
from stack_threshold_rows import SEED, draw_arguments, pseudo_project

from intently.backends import make_backend
from intently.benchmark import load_benchmark_dataset
from intently.data import Example, columns

OUT = Path("docs/benchmarks/transformer_novelty_at_cost.json")
PARAMS = {"threads": 2}


def transformer_rows(
    pool: list[Example], draw: int, oos_intents: int, cache: Path | None
) -> dict[str, np.ndarray]:
    """One draw's transformer rows: its validation and test probabilities and its sentence
    vectors of the in-scope train, valid and test texts (cached as ``<cache>.npz``)."""
    if cache is not None and cache.is_file():
        return dict(np.load(cache))
    train, valid, test = pseudo_project(pool, draw, oos_intents)
    texts, labels, weights = columns(train)
    held = ([e.text for e in valid], [e.label for e in valid])
    model = make_backend("transformer", PARAMS, seed=SEED).fit(texts, labels, weights, valid=held)
    test_texts = [e.text for e in test]
    in_scope = [e.text for e in train if e.label != OOS]
    encode = model.encoder_.encode
    rows = {
        "classes": np.asarray(model.classes_),
        "valid_labels": np.asarray(held[1]),
        "test_labels": np.asarray([e.label for e in test]),
        "valid_proba": np.asarray(model.validation_proba_),
        "test_proba": model.predict_proba(test_texts),
        "reference": encode(in_scope).embeddings,
        "valid_vectors": encode(held[0]).embeddings,
        "test_vectors": encode(test_texts).embeddings,
        "fit_seconds": np.asarray(model.fit_info_["fit_seconds"]),
    }
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **rows)
    return rows


def one_draw(rows: dict[str, np.ndarray]) -> dict[str, Any]:
    vectors = (rows["reference"], rows["valid_vectors"], rows["test_vectors"])
    figures = fallback_figures(rows, rows["valid_proba"], rows["test_proba"], vectors, True)
    return {"fit_seconds": float(rows["fit_seconds"])} | figures


def main() -> int:
    args = draw_arguments(__doc__.splitlines()[0])
    results: dict[str, Any] = {
        "budget": DEFAULT_BUDGET,
        "min_gain": MIN_GAIN,
        "neighbours": NEIGHBOURS,
        "draws": list(range(args.first_draw, args.first_draw + args.draws)),
        "model": "transformer",
        "params": PARAMS,
    }
    every = []
    for name, oos_intents in (("clinc150", 0), ("banking77", args.oos_intents)):
        data = load_benchmark_dataset(args.datasets / name)
        pool = list(data.train + data.valid)
        draws = []
        for draw in results["draws"]:
            cache = args.cache / f"{name}_transformer_{draw}.npz" if args.cache else None
            draws.append(one_draw(transformer_rows(pool, draw, oos_intents, cache)))
            print(json.dumps({name: draws[-1]}), flush=True)
        results[name] = {"oos_intents": oos_intents, "draws": draws}
        every += draws
    results |= summary(every, "novelty_at_cost")
    print(json.dumps(results["mean"], indent=2), results["adopt_novelty_at_cost"])
    OUT.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
