"""Does ``augment`` + filters help few-shot training? BANKING77 10-shot, with vs without.

For each seed (0, 1, 2) ten training examples per intent are drawn from the train split
exactly as ``bench/fewshot.py`` draws them; ten more per intent, drawn from the rest of train,
form a validation set. The recipe (lexicon, copies, rates, weight, consistency threshold) is
chosen on that validation set with the linear backend (``--tune``, one grid per lexicon: the
bundled list, or the sentence encoder's nearest words), never on test; the best recipe of all
grids run is then scored on the full test split for each backend, against the same 10 shots
without it.
Generation goes through the real path: ``intently.curation.grow.grower_for`` on a project
whose ``generation:`` holds the recipe, fed the 770 training examples only.

    .venv/bin/python bench/augmentation.py --tune bundled         # grid on validation (linear)
    .venv/bin/python bench/augmentation.py --tune embedding       # encoder-neighbour grid
    .venv/bin/python bench/augmentation.py --backend linear       # test, chosen recipe
    .venv/bin/python bench/augmentation.py --backend embedding --params '{"finetune": "none"}'

Writes/updates ``docs/benchmarks/augmentation.json`` (one key per run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fewshot import machine, read_jsonl, sample_shots, versions  # noqa: E402

from intently.backends import make_backend  # noqa: E402
from intently.curation.grow import grower_for  # noqa: E402
from intently.data import Example, columns  # noqa: E402
from intently.spec import project_from_dict  # noqa: E402

SEEDS = (0, 1, 2)
SHOTS = 10
OUT = HERE.parent / "docs" / "benchmarks" / "augmentation.json"
RATES = {
    "all-light": {"word_drop": 0.1, "swap": 0.1, "synonym": 0.2, "typo": 0.03},
    "swap-synonym": {"word_drop": 0.0, "swap": 0.2, "synonym": 0.2, "typo": 0.0},
    "synonym": {"word_drop": 0.0, "swap": 0.0, "synonym": 0.3, "typo": 0.0},
    "synonym-heavy": {"word_drop": 0.0, "swap": 0.0, "synonym": 0.5, "typo": 0.0},
}
GRIDS = {
    "bundled": {
        "lexicon": ["bundled"],
        "rates": ["all-light", "swap-synonym"],
        "keep_salient": [0, 2],
        "copies": [2, 4],
        "weight": [0.25, 0.5, 1.0],
        "consistency": [0.8],
    },
    # Prototypes on this validation draw: substitution-only beat the mixed rates, and
    # keep_salient 2 hurt (the new wording matters most for the intent-defining words).
    "embedding": {
        "lexicon": ["embedding"],
        "rates": ["all-light", "synonym", "synonym-heavy"],
        "similarity": [0.6, 0.7, 0.8],
        "keep_salient": [0],
        "copies": [4],
        "weight": [0.25, 0.5],
        "consistency": [0.8],
    },
    # The best embedding recipe with twice the copies at a lower weight.
    "embedding-copies": {
        "lexicon": ["embedding"],
        "rates": ["synonym-heavy"],
        "similarity": [0.6],
        "keep_salient": [0],
        "copies": [8],
        "weight": [0.1, 0.25],
        "consistency": [0.8],
    },
}


def recipe_project(recipe: dict[str, Any], seed: int) -> Any:
    entry = {
        "name": "augment",
        "params": {
            "copies": recipe["copies"],
            "keep_salient": recipe["keep_salient"],
            "lexicon": recipe["lexicon"],
            **({"similarity": recipe["similarity"]} if "similarity" in recipe else {}),
            **RATES[recipe["rates"]],
        },
        "weight": recipe["weight"],
    }
    return project_from_dict(
        {
            "name": "bench",
            "training": {"seed": seed},
            "generation": [entry],
            "generation_filters": {"consistency": recipe["consistency"]},
        }
    )


def split_seed(texts: list[str], labels: list[str], seed: int):
    """(10-shot train examples, 10-per-intent validation examples from the rest of train)."""
    picked = sample_shots(labels, SHOTS, seed)
    taken = set(picked)
    rest = [i for i in range(len(labels)) if i not in taken]
    valid = [rest[i] for i in sample_shots([labels[i] for i in rest], SHOTS, seed + 1000)]
    train = [Example(texts[i], labels[i]) for i in picked]
    return train, ([texts[i] for i in valid], [labels[i] for i in valid])


def score(backend: str, params: dict[str, Any], seed: int, train, evaluation) -> dict[str, Any]:
    texts, labels, weights = columns(train)
    model = make_backend(backend, params, seed=seed)
    started = time.perf_counter()
    model.fit(texts, labels, weights)
    seconds = time.perf_counter() - started
    proba = model.predict_proba(evaluation[0])
    predicted = [model.classes_[i] for i in proba.argmax(axis=1)]
    accuracy = float(np.mean([p == t for p, t in zip(predicted, evaluation[1], strict=True)]))
    return {"accuracy": round(accuracy, 4), "n_train": len(train), "fit_seconds": round(seconds, 1)}


def grown(train: list[Example], recipe: dict[str, Any], seed: int) -> tuple[list[Example], dict]:
    grower = grower_for(recipe_project(recipe, seed), "intent")
    started = time.perf_counter()
    growth = grower.grow(train)
    report = {**growth.to_json(), "generate_seconds": round(time.perf_counter() - started, 1)}
    return [*train, *growth.examples], report


def tune(data, lexicon: str, before: dict[str, Any]) -> dict[str, Any]:
    """Run the ``lexicon`` grid on validation; keep the grids run before; choose the best of all."""
    splits = {seed: split_seed(*data, seed) for seed in SEEDS}
    baseline = [score("linear", {}, s, splits[s][0], splits[s][1])["accuracy"] for s in SEEDS]
    grid = GRIDS[lexicon]
    rows = []
    for values in itertools.product(*grid.values()):
        recipe = dict(zip(grid, values, strict=True))
        accuracies = []
        for seed in SEEDS:
            train, valid = splits[seed]
            augmented, _ = grown(train, recipe, seed)
            accuracies.append(score("linear", {}, seed, augmented, valid)["accuracy"])
        row = {"recipe": recipe, "valid_accuracy": round(float(np.mean(accuracies)), 4)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    grids = {**before.get("grids", {}), lexicon: rows}
    best = max((r for g in grids.values() for r in g), key=lambda r: r["valid_accuracy"])
    return {
        "protocol": "10-shot train, 10-per-intent validation drawn from the rest of train",
        "baseline_valid_accuracy": round(float(np.mean(baseline)), 4),
        "grids": grids,
        "chosen": best["recipe"],
    }


def upgraded(tuning: dict[str, Any]) -> dict[str, Any]:
    """A tuning record of the first version (one bundled ``grid``) in the ``grids`` form."""
    if "grid" not in tuning:  # already upgraded, or none yet
        return tuning
    rows = [{**r, "recipe": {"lexicon": "bundled", **r["recipe"]}} for r in tuning["grid"]]
    chosen = {"lexicon": "bundled", **tuning["chosen"]}
    rest = {k: v for k, v in tuning.items() if k not in ("grid", "chosen")}
    return {**rest, "grids": {"bundled": rows}, "chosen": chosen}


def evaluate(
    data, test, backend: str, params: dict[str, Any], recipe: dict[str, Any], seeds: list[int]
):
    rows = []
    for seed in seeds:
        train, _ = split_seed(*data, seed)
        augmented, report = grown(train, recipe, seed)
        without = score(backend, params, seed, train, test)
        with_ = score(backend, params, seed, augmented, test)
        row = {"seed": seed, "without": without, "with": with_, "generation": report}
        print(json.dumps(row), flush=True)
        rows.append(row)
    mean = {
        arm: round(float(np.mean([r[arm]["accuracy"] for r in rows])), 4)
        for arm in ("without", "with")
    }
    return {
        "backend": backend,
        "params": params,
        "recipe": recipe,
        "seeds": rows,
        "mean_accuracy": mean,
        "gain_points": round(100 * (mean["with"] - mean["without"]), 2),
    }


def read_results() -> dict[str, Any]:
    return json.loads(OUT.read_text()) if OUT.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=HERE.parent.parent / "shared" / "datasets")
    parser.add_argument(
        "--tune", choices=list(GRIDS), help="Run this lexicon's grid on validation."
    )
    parser.add_argument("--backend", default="linear")
    parser.add_argument("--params", type=json.loads, default={})
    parser.add_argument("--name", default=None, help="Key of the result (default: the backend).")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(SEEDS), help="Test runs: these seeds only."
    )
    parser.add_argument(
        "--recipe",
        type=json.loads,
        default=None,
        help="Test runs: this recipe (JSON) instead of the chosen one, e.g. to finish a slow "
        "backend with the recipe its first seeds used after a later grid changed the choice.",
    )
    args = parser.parse_args()
    folder = args.datasets / "banking77"
    data = read_jsonl(folder / "train.jsonl")
    started = time.perf_counter()
    tuning = upgraded(read_results().get("tuning", {}))
    if args.tune:
        key, result = "tuning", tune(data, args.tune, tuning)
    else:
        key = args.name or args.backend
        result = evaluate(
            data,
            read_jsonl(folder / "test.jsonl"),
            args.backend,
            args.params,
            args.recipe or tuning["chosen"],
            args.seeds,
        )
        result["seconds"] = round(time.perf_counter() - started)
        result["machine"] = machine()
    # Read again: another run (a slow backend in the background) may have written meanwhile.
    results = read_results()
    results["tuning"] = upgraded(results.get("tuning", {}))
    results[key] = result
    results["versions"] = versions("numpy", "scikit-learn", "torch", "sentence-transformers")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
