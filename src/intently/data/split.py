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

    Fills of one project-file template (``meta["template"]``) are near-copies of each other,
    so they move together: a template's fills land in one part only, never some in train and
    some in test. Such a group goes to test or valid only while it fits that part's share,
    otherwise to train; a label whose examples all come from one template is not evaluated.
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
        units = _units(by_label[label])
        n = len(by_label[label])
        n_test = max(1, round(n * test_share)) if test_share > 0 and n >= 3 else 0
        n_valid = max(1, round(n * valid_share)) if valid_share > 0 and n >= 4 else 0
        while n_test + n_valid >= n and (n_test or n_valid):
            if n_valid >= n_test and n_valid:
                n_valid -= 1
            else:
                n_test -= 1
        in_test = in_valid = 0
        for i in rng.permutation(len(units)):
            unit = units[i]
            if in_test + len(unit) <= n_test:
                test.extend(unit)
                in_test += len(unit)
            elif in_valid + len(unit) <= n_valid:
                valid.extend(unit)
                in_valid += len(unit)
            else:
                train.extend(unit)
    return tuple(train), tuple(valid), tuple(test)


def _units(examples: Sequence[Example]) -> list[list[Example]]:
    """``examples`` as units that are split together (a template's fills; anything else
    alone), each sorted by text and the units by their first text, so input order is moot."""
    units = [[examples[i] for i in unit] for unit in split_units(examples)]
    for unit in units:
        unit.sort(key=lambda example: example.text)
    return sorted(units, key=lambda unit: unit[0].text)


def split_units(examples: Sequence[Example]) -> list[list[int]]:
    """Indices of ``examples`` grouped into units that must stay together: every example
    alone, in input order, then one unit per project-file template (``meta["template"]``)
    holding its fills, near-copies of each other."""
    grouped: dict[str, list[int]] = defaultdict(list)
    units: list[list[int]] = []
    for i, example in enumerate(examples):
        template = example.meta.get("template") if example.meta else None
        if isinstance(template, str):
            grouped[template].append(i)
        else:
            units.append([i])
    return units + list(grouped.values())
