"""Deterministic stratified train/valid/test split that copes with tiny classes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from intently.data.example import Example


def stratified_split(
    examples: Sequence[Example],
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
    *,
    seed: int = 13,
) -> tuple[tuple[Example, ...], tuple[Example, ...], tuple[Example, ...]]:
    """Split each label's examples by ``ratios`` (train, valid, test).

    Same input and seed, same split. A label keeps at least one training example; it gets a
    test example once it has 3 and a validation example once it has 4 (when those shares are
    non-zero), so tiny classes still train and large ones are evaluated.
    """
    _, valid_share, test_share = ratios
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example)
    rng = np.random.default_rng(seed)
    train: list[Example] = []
    valid: list[Example] = []
    test: list[Example] = []
    for label in sorted(by_label):
        group = sorted(by_label[label], key=lambda example: example.text)
        order = rng.permutation(len(group))
        n = len(group)
        n_test = max(1, round(n * test_share)) if test_share > 0 and n >= 3 else 0
        n_valid = max(1, round(n * valid_share)) if valid_share > 0 and n >= 4 else 0
        while n_test + n_valid >= n and (n_test or n_valid):
            if n_valid >= n_test and n_valid:
                n_valid -= 1
            else:
                n_test -= 1
        picked = [group[i] for i in order]
        test.extend(picked[:n_test])
        valid.extend(picked[n_test : n_test + n_valid])
        train.extend(picked[n_test + n_valid :])
    return tuple(train), tuple(valid), tuple(test)
