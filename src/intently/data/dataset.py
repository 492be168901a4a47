"""A split, cleaned set of examples for one task, with a content fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from intently.data.clean import Finding
from intently.data.example import Example


def fingerprint(examples: Sequence[Example]) -> str:
    """Order-independent content hash of (text, label, weight) triples."""
    digest = hashlib.sha256()
    for line in sorted(json.dumps([e.text, e.label, e.weight]) for e in examples):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()[:32]


@dataclass(frozen=True)
class Dataset:
    task: str
    train: tuple[Example, ...]
    valid: tuple[Example, ...]
    test: tuple[Example, ...]
    labels: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.all))

    @property
    def all(self) -> tuple[Example, ...]:
        return self.train + self.valid + self.test

    def counts(self) -> Counter[str]:
        return Counter(example.label for example in self.all)


def columns(examples: Sequence[Example]) -> tuple[list[str], list[str], np.ndarray]:
    """Texts, labels and weights as parallel columns (what backends consume)."""
    return (
        [e.text for e in examples],
        [e.label for e in examples],
        np.asarray([e.weight for e in examples], dtype=np.float64),
    )
