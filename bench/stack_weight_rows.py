"""Which rows should a stack learn its weights on when the project has a validation split: the
out-of-fold rows of train + valid (what it does), or the members' own validation rows?

Why the question: a diagnostic of CLINC150's three-member caches (2026-12-05, after its test
re-score) found that the out-of-fold rows hide a shift between CLINC150's train and valid
texts. The fold models are fitted on 4/5 of train + valid, so they have seen most of the
validation texts' kind; the shipped members are fitted on train alone. In-scope accuracy on the
validation texts, fold models vs shipped members: linear 0.956 vs 0.935, embedding 0.970 vs
0.961, transformer 0.980 vs 0.974 — the shipped members' rows look like test (0.936, 0.954,
0.969), the out-of-fold rows do not, and they under-rate the member that holds up best. The
members' validation rows are cross-fitted wherever a member chose something on them (issue 14),
so item 6 allows learning on them; they are fewer (3,100 on CLINC150, 700 on SNIPS).

The hypothesis came from CLINC150's test split, so this script reads **no test split**: it
scores on the members' own validation rows. ``oof``: the weights the stack learns on its
out-of-fold rows, scored on all the validation rows; ``valid``: weights learned (the stack's
``learn_weights``) on one stratified half of the validation rows and scored on the other, both
ways, over 10 random halvings; ``equal``: the plain average. Accuracy counts the ``oos`` class as
a class (no threshold). Caches: ``bench/stack_oof.py fit`` (CLINC150 three members and the
first two of them; SNIPS ``linear`` + ``embedding``).

Rule, declared before this script ran: adopt learning on the members' validation rows when a
validation split is given if ``valid`` beats ``oof`` by at least 0.002 on every cache and is
not below ``equal`` on any; otherwise keep the out-of-fold rows.

    PYTHONPATH=src .venv/bin/python bench/stack_weight_rows.py \\
        build/stack_oof5/clinc150 build/stack_oof5_2m/snips
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from stack_selection import stratified_folds  # bench/ is on sys.path when run as a script

from intently.backends.stack import learn_weights, mix

OUT = Path("docs/benchmarks/stack_weight_rows.json")
HALVINGS = 10
MIN_GAIN = 0.002


def accuracy(probas: list[np.ndarray], weights: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(mix(probas, weights).argmax(axis=1) == y))


def one_cache(members: list[Any]) -> dict[str, Any]:
    classes = np.array([str(c) for c in members[0]["classes"]])
    oof_y = np.searchsorted(classes, members[0]["oof_labels"])
    n_valid = int(members[0]["n_valid"])
    valid = [np.asarray(m["valid"]) for m in members]
    valid_y = oof_y[len(oof_y) - n_valid :]  # train rows first, then the valid rows in order
    if any(len(v) != n_valid for v in valid):
        raise SystemExit("the cache's validation rows do not match its out-of-fold ones")
    oof_weights = learn_weights([np.asarray(m["oof"]) for m in members], oof_y)
    halves = []
    for seed in range(HALVINGS):
        fold = stratified_folds(valid_y, 2, seed)
        for learn in (0, 1):
            on, off = fold == learn, fold != learn
            w = learn_weights([v[on] for v in valid], valid_y[on])
            halves.append(
                {
                    "weights": [round(float(x), 3) for x in w],
                    "valid": accuracy([v[off] for v in valid], w, valid_y[off]),
                    "oof": accuracy([v[off] for v in valid], oof_weights, valid_y[off]),
                    "equal": accuracy(
                        [v[off] for v in valid], np.full(len(valid), 1 / len(valid)), valid_y[off]
                    ),
                }
            )
    return {
        "members": [json.loads(str(m["member"])) for m in members],
        "validation_rows": n_valid,
        "oof_weights": [round(float(x), 3) for x in oof_weights],
        **{
            key: round(float(np.mean([h[key] for h in halves])), 4)
            for key in ("oof", "valid", "equal")
        },
        "halves": halves,
    }


def main(argv: list[str]) -> int:
    caches: dict[str, list[Any]] = {}
    for folder in map(Path, argv):
        members = [dict(np.load(path)) for path in sorted(folder.glob("*.npz"))]
        name = f"{folder.name}, {len(members)} members"
        caches[name] = members
        if len(members) > 2:
            caches[f"{folder.name}, first 2 members"] = members[:2]
    results = {name: one_cache(members) for name, members in caches.items()}
    for name, row in results.items():
        print(name, {k: row[k] for k in ("oof_weights", "oof", "valid", "equal")}, flush=True)
    adopt = all(
        r["valid"] >= r["oof"] + MIN_GAIN and r["valid"] >= r["equal"] for r in results.values()
    )
    print("adopt the members' validation rows:", adopt)
    OUT.write_text(
        json.dumps({"min_gain": MIN_GAIN, "adopt": adopt, "caches": results}, indent=2) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
